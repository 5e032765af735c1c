#include "io/npy.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace veloxquant {

static_assert(std::endian::native == std::endian::little, "npy I/O assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
constexpr std::size_t kMaxHeaderBytes = 1 << 20;  // numpy headers are tiny; anything larger is corrupt
constexpr std::size_t kMaxDims = 32;
constexpr std::size_t kAlign = 64;

struct DtypeName {
  NpyDtype dtype;
  const char* descr;
  std::size_t size;
};
// One-byte types have no byte order; numpy writes '|' but '<' and '=' also mean the same data.
constexpr DtypeName kDtypes[] = {
    {NpyDtype::kF16, "<f2", 2}, {NpyDtype::kF32, "<f4", 4}, {NpyDtype::kF64, "<f8", 8}, {NpyDtype::kU8, "|u1", 1},
    {NpyDtype::kI8, "|i1", 1},  {NpyDtype::kU16, "<u2", 2}, {NpyDtype::kU32, "<u4", 4},
};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("npy: " + what); }

NpyDtype dtype_from_descr(std::string_view d) {
  for (const DtypeName& t : kDtypes) {
    const std::string_view canonical = t.descr;
    if (d == canonical) return t.dtype;
    if (t.size == 1 && d.size() == 3 && (d[0] == '<' || d[0] == '=') && d.substr(1) == canonical.substr(1))
      return t.dtype;
  }
  if (!d.empty() && d[0] == '>') fail("big-endian dtype '" + std::string(d) + "' is not supported");
  fail("unsupported dtype '" + std::string(d) + "' (supported: <f2 <f4 <f8 |u1 |i1 <u2 <u4)");
}

// A parser for the small subset of Python literals numpy writes in the header dict.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : s_(text) {}

  void parse(NpyHeader& h) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      const std::string key = parse_string();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (have_descr) fail("header repeats key 'descr'");
        h.dtype = dtype_from_descr(parse_string());
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_order) fail("header repeats key 'fortran_order'");
        if (parse_bool()) fail("Fortran-order arrays are not supported (fortran_order: True)");
        have_order = true;
      } else if (key == "shape") {
        if (have_shape) fail("header repeats key 'shape'");
        h.shape = parse_shape();
        have_shape = true;
      } else {
        fail("unexpected header key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail(std::string("expected ',' or '}' in header at offset ") + std::to_string(pos_));
    }
    ++pos_;  // '}'
    if (!have_descr || !have_order || !have_shape)
      fail(std::string("header lacks key '") + (!have_descr ? "descr" : !have_order ? "fortran_order" : "shape") + "'");
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the header dict at offset " + std::to_string(pos_));
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "' in header at offset " + std::to_string(pos_));
    ++pos_;
  }
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string in header at offset " + std::to_string(pos_));
    const std::size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') fail("escape sequences are not supported in the header");
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string in header");
    return std::string(s_.substr(start, pos_++ - start));
  }
  bool parse_bool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False in header at offset " + std::to_string(pos_));
  }
  std::size_t parse_dim() {
    if (peek() < '0' || peek() > '9')
      fail("expected a non-negative integer in shape at offset " + std::to_string(pos_));
    std::size_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const std::size_t digit = static_cast<std::size_t>(peek() - '0');
      if (v > (std::numeric_limits<std::size_t>::max() - digit) / 10) fail("shape dimension overflows 64 bits");
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2 long suffix, written by old numpy
    return v;
  }
  std::vector<std::size_t> parse_shape() {
    std::vector<std::size_t> shape;
    expect('(');
    skip_ws();
    while (peek() != ')') {
      if (shape.size() == kMaxDims) fail("shape has more than " + std::to_string(kMaxDims) + " dimensions");
      shape.push_back(parse_dim());
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != ')') {
        fail("expected ',' or ')' in shape at offset " + std::to_string(pos_));
      }
    }
    ++pos_;
    return shape;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

std::string shape_text(std::span<const std::size_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s.append(i ? ", " : "").append(std::to_string(shape[i]));
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::size_t checked_data_bytes(NpyDtype dtype, std::span<const std::size_t> shape) {
  std::size_t n = npy_dtype_size(dtype);
  for (std::size_t d : shape) {
    if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d)
      fail("shape " + shape_text(shape) + " overflows the addressable size");
    n *= d;
  }
  return n;
}

std::uint32_t load_le(const std::uint8_t* p, std::size_t bytes) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}

// Bytes before the header text: magic, version, then the header length field.
std::size_t prefix_size(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kMagicSize + 2)
    fail("file too short for the magic and version (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), kMagic, kMagicSize) != 0) fail("bad magic (not a .npy file)");
  const int major = bytes[kMagicSize], minor = bytes[kMagicSize + 1];
  if ((major != 1 && major != 2) || minor != 0)
    fail("unsupported format version " + std::to_string(major) + "." + std::to_string(minor) +
         " (supported: 1.0, 2.0)");
  return major == 1 ? 10 : 12;
}

}  // namespace

std::size_t npy_dtype_size(NpyDtype dtype) {
  for (const DtypeName& t : kDtypes)
    if (t.dtype == dtype) return t.size;
  fail("invalid dtype enum " + std::to_string(static_cast<int>(dtype)));
}

const char* npy_dtype_descr(NpyDtype dtype) {
  for (const DtypeName& t : kDtypes)
    if (t.dtype == dtype) return t.descr;
  fail("invalid dtype enum " + std::to_string(static_cast<int>(dtype)));
}

std::size_t NpyArray::size() const {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::to_f32() const {
  if (dtype != NpyDtype::kF32) fail(std::string("expected dtype <f4, got ") + npy_dtype_descr(dtype));
  std::vector<float> out(data.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), data.data(), out.size() * sizeof(float));
  return out;
}

NpyHeader parse_npy_header(std::span<const std::uint8_t> bytes) {
  const std::size_t prefix = prefix_size(bytes);
  if (bytes.size() < prefix) fail("file truncated inside the header length field");
  const std::size_t header_len = load_le(bytes.data() + kMagicSize + 2, prefix - kMagicSize - 2);
  if (header_len > kMaxHeaderBytes) fail("header length " + std::to_string(header_len) + " is implausibly large");
  if (bytes.size() < prefix + header_len)
    fail("file truncated inside the header (" + std::to_string(bytes.size()) + " of " +
         std::to_string(prefix + header_len) + " bytes)");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + prefix), header_len);
  if (text.empty() || text.back() != '\n') fail("header does not end with a newline");
  NpyHeader h;
  HeaderParser(text).parse(h);
  h.data_offset = prefix + header_len;
  h.data_bytes = checked_data_bytes(h.dtype, h.shape);
  return h;
}

NpyArray parse_npy(std::span<const std::uint8_t> bytes) {
  const NpyHeader h = parse_npy_header(bytes);
  const std::size_t available = bytes.size() - h.data_offset;
  if (available != h.data_bytes)
    fail("data size mismatch: shape " + shape_text(h.shape) + " needs " + std::to_string(h.data_bytes) +
         " bytes, file holds " + std::to_string(available));
  NpyArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(h.data_offset), bytes.end());
  return a;
}

std::vector<std::uint8_t> serialize_npy(NpyDtype dtype, std::span<const std::size_t> shape,
                                        std::span<const std::uint8_t> data) {
  if (shape.size() > kMaxDims) fail("shape has more than " + std::to_string(kMaxDims) + " dimensions");
  const std::size_t data_bytes = checked_data_bytes(dtype, shape);
  if (data.size() != data_bytes)
    fail("shape " + shape_text(shape) + " needs " + std::to_string(data_bytes) + " bytes, got " +
         std::to_string(data.size()));
  std::string dict = std::string("{'descr': '") + npy_dtype_descr(dtype) +
                     "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // Version 1.0 always suffices: at most kMaxDims dimensions keep the dict far below 64 KiB.
  // Pad with spaces so the data starts 64-byte aligned, as numpy does.
  const std::size_t prefix = 10;
  const std::size_t total = (prefix + dict.size() + 1 + kAlign - 1) / kAlign * kAlign;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::vector<std::uint8_t> out(total + data.size());
  std::memcpy(out.data(), kMagic, kMagicSize);
  out[kMagicSize] = 1;
  out[kMagicSize + 1] = 0;
  const std::size_t header_len = dict.size();
  for (std::size_t i = 0; i < prefix - kMagicSize - 2; ++i)
    out[kMagicSize + 2 + i] = static_cast<std::uint8_t>(header_len >> (8 * i));
  std::memcpy(out.data() + prefix, dict.data(), dict.size());
  if (!data.empty()) std::memcpy(out.data() + total, data.data(), data.size());
  return out;
}

NpyArray read_npy(const std::string& path) {
  try {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) fail("cannot open file");
    const auto end = f.tellg();
    if (end < 0) fail("cannot determine the file size");
    const std::size_t file_size = static_cast<std::size_t>(end);
    // Read the header alone first, so nothing is allocated for the data until its size is checked.
    std::vector<std::uint8_t> head(std::min<std::size_t>(file_size, 12));
    f.seekg(0);
    f.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    const std::size_t prefix = prefix_size(head);
    if (head.size() < prefix) fail("file truncated inside the header length field");
    const std::size_t header_len = load_le(head.data() + kMagicSize + 2, prefix - kMagicSize - 2);
    if (header_len > kMaxHeaderBytes) fail("header length " + std::to_string(header_len) + " is implausibly large");
    head.resize(std::min(file_size, prefix + header_len));
    f.seekg(0);
    f.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    if (!f) fail("read error in the header");
    const NpyHeader h = parse_npy_header(head);
    if (file_size - h.data_offset != h.data_bytes)
      fail("data size mismatch: shape " + shape_text(h.shape) + " needs " + std::to_string(h.data_bytes) +
           " bytes, file holds " + std::to_string(file_size - h.data_offset));
    NpyArray a;
    a.dtype = h.dtype;
    a.shape = h.shape;
    a.data.resize(h.data_bytes);
    f.seekg(static_cast<std::streamoff>(h.data_offset));
    f.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(a.data.size()));
    if (!f) fail("read error in the data");
    return a;
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " in '" + path + "'");
  }
}

void write_npy(const std::string& path, NpyDtype dtype, std::span<const std::size_t> shape,
               std::span<const std::uint8_t> data) {
  const std::vector<std::uint8_t> image = serialize_npy(dtype, shape, data);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("npy: cannot create '" + path + "'");
  f.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
  f.close();
  if (!f) throw std::runtime_error("npy: write error on '" + path + "'");
}

void write_npy_f32(const std::string& path, std::span<const std::size_t> shape, std::span<const float> values) {
  write_npy(path, NpyDtype::kF32, shape,
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(values.data()), values.size_bytes()));
}

}  // namespace veloxquant
