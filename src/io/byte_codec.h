// Little-endian byte layouts of the project's own file formats (cache files, .vqm model files):
// a growing writer, a bounds-checked reader that throws FileFormatError naming its context, and
// four-character section tags. Strings are u32 length + bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io/file_error.h"

namespace veloxquant {

// Longest string a reader accepts (format names, tensor names, fields).
inline constexpr std::size_t kMaxStringBytes = 256;

constexpr std::uint32_t make_tag(const char (&s)[5]) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[3])) << 24;
}

// The tag's four characters, '?' for bytes that are not printable.
inline std::string tag_name(std::uint32_t tag) {
  std::string s(4, '?');
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((tag >> (8 * i)) & 0xFFu);
    if (c >= 0x20 && c < 0x7F) s[static_cast<std::size_t>(i)] = c;
  }
  return s;
}

class ByteWriter {
 public:
  void u32(std::uint32_t v) { put(&v, 4); }
  void u64(std::uint64_t v) { put(&v, 8); }
  void f32(float v) { put(&v, 4); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    put(s.data(), s.size());
  }
  void put(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  std::vector<std::uint8_t> bytes;
};

// Reads a payload; every read is bounds-checked and throws FileFormatError in `context`.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* p, std::size_t n, std::string context) : p_(p), n_(n), context_(std::move(context)) {}
  std::uint32_t u32(const char* what) {
    std::uint32_t v;
    get(&v, 4, what);
    return v;
  }
  std::uint64_t u64(const char* what) {
    std::uint64_t v;
    get(&v, 8, what);
    return v;
  }
  float f32(const char* what) {
    float v;
    get(&v, 4, what);
    return v;
  }
  std::string str(const char* what) {
    const std::uint32_t len = u32(what);
    if (len > kMaxStringBytes) fail(std::string(what) + " is " + std::to_string(len) + " bytes long");
    std::string s(len, '\0');
    get(s.data(), len, what);
    return s;
  }
  const std::uint8_t* take(std::size_t n, const char* what) {
    if (n > n_ - pos_) fail(std::string("truncated in ") + what);
    const std::uint8_t* p = p_ + pos_;
    pos_ += n;
    return p;
  }
  void get(void* out, std::size_t n, const char* what) {
    const std::uint8_t* p = take(n, what);
    if (n > 0) std::memcpy(out, p, n);  // empty vectors may have a null data()
  }
  std::size_t remaining() const { return n_ - pos_; }
  void expect_end() const {
    if (pos_ != n_) fail(std::to_string(n_ - pos_) + " unexpected bytes at the end");
  }
  [[noreturn]] void fail(const std::string& what) const { throw FileFormatError(context_ + ": " + what); }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::string context_;
};

}  // namespace veloxquant
