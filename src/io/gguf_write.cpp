#include "io/gguf_write.h"

#include <cstring>
#include <stdexcept>
#include <variant>

namespace veloxquant {

namespace {

class Out {
 public:
  template <typename T>
  void put(T v) {
    put_bytes(&v, sizeof v);
  }
  void put_bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  void str(const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    put_bytes(s.data(), s.size());
  }
  void pad_to(std::size_t alignment) { bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, 0); }
  std::vector<std::uint8_t> bytes;
};

std::uint64_t as_u64(const GgufValue& v) {
  if (auto* u = std::get_if<std::uint64_t>(&v.scalar)) return *u;
  if (auto* i = std::get_if<std::int64_t>(&v.scalar)) return static_cast<std::uint64_t>(*i);
  if (auto* b = std::get_if<bool>(&v.scalar)) return *b ? 1 : 0;
  throw std::logic_error("GGUF writer: integer value expected");
}

// One number of type t (the reader's double holds every 8-to-32-bit integer and float exactly).
void put_number(Out& o, GgufType t, double x) {
  switch (t) {
    case GgufType::kUint8:
      return o.put(static_cast<std::uint8_t>(x));
    case GgufType::kInt8:
      return o.put(static_cast<std::int8_t>(x));
    case GgufType::kUint16:
      return o.put(static_cast<std::uint16_t>(x));
    case GgufType::kInt16:
      return o.put(static_cast<std::int16_t>(x));
    case GgufType::kUint32:
      return o.put(static_cast<std::uint32_t>(x));
    case GgufType::kInt32:
      return o.put(static_cast<std::int32_t>(x));
    case GgufType::kFloat32:
      return o.put(static_cast<float>(x));
    case GgufType::kBool:
      return o.put(static_cast<std::uint8_t>(x != 0.0));
    case GgufType::kUint64:
      return o.put(static_cast<std::uint64_t>(x));
    case GgufType::kInt64:
      return o.put(static_cast<std::int64_t>(x));
    case GgufType::kFloat64:
      return o.put(x);
    case GgufType::kString:
    case GgufType::kArray:
      break;
  }
  throw std::logic_error("GGUF writer: not a number type");
}

void put_value(Out& o, const GgufValue& v) {
  o.put(static_cast<std::uint32_t>(v.type));
  switch (v.type) {
    case GgufType::kString:
      return o.str(std::get<std::string>(v.scalar));
    case GgufType::kFloat32:
      return o.put(static_cast<float>(std::get<double>(v.scalar)));
    case GgufType::kFloat64:
      return o.put(std::get<double>(v.scalar));
    case GgufType::kUint64:
    case GgufType::kInt64:
      return o.put(as_u64(v));  // same bits
    case GgufType::kArray: {
      o.put(static_cast<std::uint32_t>(v.elem_type));
      if (v.elem_type == GgufType::kString) {
        o.put(static_cast<std::uint64_t>(v.strings.size()));
        for (const std::string& s : v.strings) o.str(s);
      } else {
        o.put(static_cast<std::uint64_t>(v.numbers.size()));
        for (double x : v.numbers) put_number(o, v.elem_type, x);
      }
      return;
    }
    default: {  // 8-to-32-bit integers and bool: the low bytes of the value
      const std::uint64_t u = as_u64(v);
      std::uint8_t b[8];
      std::memcpy(b, &u, 8);
      const std::size_t n = v.type == GgufType::kUint8 || v.type == GgufType::kInt8 || v.type == GgufType::kBool ? 1
                            : v.type == GgufType::kUint16 || v.type == GgufType::kInt16                          ? 2
                                                                                                                 : 4;
      o.put_bytes(b, n);  // little-endian
    }
  }
}

}  // namespace

std::vector<std::uint8_t> write_gguf(const std::map<std::string, GgufValue>& metadata,
                                     const std::vector<GgufTensorOut>& tensors, std::size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw std::invalid_argument("GGUF alignment must be a power of two");
  Out o;
  o.put(std::uint32_t{0x46554747u});  // "GGUF"
  o.put(std::uint32_t{3});
  o.put(static_cast<std::uint64_t>(tensors.size()));
  o.put(static_cast<std::uint64_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    o.str(key);
    put_value(o, value);
  }
  std::uint64_t offset = 0;
  for (const GgufTensorOut& t : tensors) {
    o.str(t.name);
    o.put(static_cast<std::uint32_t>(t.dims.size()));
    for (std::uint64_t d : t.dims) o.put(d);
    o.put(static_cast<std::uint32_t>(t.type));
    o.put(offset);
    offset += (t.bytes + alignment - 1) / alignment * alignment;
  }
  o.pad_to(alignment);
  for (const GgufTensorOut& t : tensors) {
    o.put_bytes(t.data, t.bytes);
    o.pad_to(alignment);
  }
  return std::move(o.bytes);
}

}  // namespace veloxquant
