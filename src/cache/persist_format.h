// Internal: byte layout helpers and constants of the cache file (docs/file_formats.md).
//
//   file    = header section*
//   header  = magic[8] "VQKVCACH" | u32 version | u32 section_count | u64 file_bytes | u32 flags (0)
//             | u32 crc32 of the preceding 28 bytes                                   (32 bytes)
//   section = u32 tag | u32 reserved (0) | u64 payload_bytes | payload | u32 crc32 of tag..payload
// All integers little-endian; strings are u32 length + bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io/file_error.h"
#include "veloxquant/format.h"

namespace veloxquant::persist {

inline constexpr char kMagic[8] = {'V', 'Q', 'K', 'V', 'C', 'A', 'C', 'H'};
inline constexpr std::size_t kHeaderBytes = 32;
inline constexpr std::size_t kSectionHeaderBytes = 16;
inline constexpr std::size_t kSectionTrailerBytes = 4;

constexpr std::uint32_t make_tag(const char (&s)[5]) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[3])) << 24;
}
inline constexpr std::uint32_t kTagConfig = make_tag("CONF");
inline constexpr std::uint32_t kTagFingerprint = make_tag("FPRT");
inline constexpr std::uint32_t kTagLayer = make_tag("LAYR");

std::string tag_name(std::uint32_t tag);

// Sanity limits of a loaded configuration: beyond them a file is rejected before anything is
// built (a valid CRC does not make a hostile size harmless).
inline constexpr std::size_t kMaxHeadDim = 4096;
inline constexpr std::size_t kMaxTokensPerPart = std::size_t{1} << 24;  // window, sinks, page_tokens
inline constexpr std::size_t kMaxStringBytes = 256;
inline constexpr std::size_t kMaxThreads = 4096;

// Per-head flags in a layer section.
inline constexpr std::uint32_t kHeadQuantizersBuilt = 1;  // outlier channels chosen, quantizers built
inline constexpr std::uint32_t kHeadWindowAllocated = 2;  // the exact ring is allocated
inline constexpr std::uint32_t kHeadSinksReserved = 4;    // sink storage reserved
inline constexpr std::uint32_t kHeadFlagsKnown = 7;

class Writer {
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
class Reader {
 public:
  Reader(const std::uint8_t* p, std::size_t n, std::string context) : p_(p), n_(n), context_(std::move(context)) {}
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

// Fingerprint of a storage format as this build encodes it: CRC-32 of the records of a fixed
// probe (outlier formats with their default channels). It differs when codebooks, rotations or
// the record layout differ, so a cache written by another build or with other artifacts is refused.
std::uint32_t format_fingerprint(const FormatSpec& format, std::size_t dim);

}  // namespace veloxquant::persist
