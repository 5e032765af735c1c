#include "io/gguf_write.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <variant>

#include "io/atomic_file.h"
#include "weights/weight_types.h"

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

namespace {

// Header, metadata and tensor infos (offsets from the tensors' sizes), padded to `alignment`.
void put_header(Out& o, const std::map<std::string, GgufValue>& metadata,
                const std::vector<std::pair<const GgufTensorPlan*, std::size_t>>& tensors, std::size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw std::invalid_argument("GGUF alignment must be a power of two");
  o.put(std::uint32_t{0x46554747u});  // "GGUF"
  o.put(std::uint32_t{3});
  o.put(static_cast<std::uint64_t>(tensors.size()));
  o.put(static_cast<std::uint64_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    o.str(key);
    put_value(o, value);
  }
  std::uint64_t offset = 0;
  for (const auto& [t, bytes] : tensors) {
    o.str(t->name);
    o.put(static_cast<std::uint32_t>(t->dims.size()));
    for (std::uint64_t d : t->dims) o.put(d);
    o.put(static_cast<std::uint32_t>(t->type));
    o.put(offset);
    offset += (bytes + alignment - 1) / alignment * alignment;
  }
  o.pad_to(alignment);
}

}  // namespace

std::vector<std::uint8_t> write_gguf(const std::map<std::string, GgufValue>& metadata,
                                     const std::vector<GgufTensorOut>& tensors, std::size_t alignment) {
  std::vector<GgufTensorPlan> plans;
  plans.reserve(tensors.size());
  for (const GgufTensorOut& t : tensors) plans.push_back({t.name, t.dims, t.type});
  std::vector<std::pair<const GgufTensorPlan*, std::size_t>> infos;
  infos.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) infos.emplace_back(&plans[i], tensors[i].bytes);
  Out o;
  put_header(o, metadata, infos, alignment);
  for (const GgufTensorOut& t : tensors) {
    o.put_bytes(t.data, t.bytes);
    o.pad_to(alignment);
  }
  return std::move(o.bytes);
}

std::size_t GgufTensorPlan::bytes() const {
  std::uint64_t rows = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) rows *= dims[i];
  return weight_row_bytes(type, dims.empty() ? 0 : dims[0]) * static_cast<std::size_t>(rows);
}

void write_gguf_file(const std::string& path, const std::map<std::string, GgufValue>& metadata,
                     const std::vector<GgufTensorPlan>& tensors, std::size_t alignment,
                     const std::function<void(std::size_t, std::uint8_t*)>& produce) {
  std::vector<std::pair<const GgufTensorPlan*, std::size_t>> infos;
  std::size_t largest = 0;
  for (const GgufTensorPlan& t : tensors) {
    infos.emplace_back(&t, t.bytes());
    largest = std::max(largest, infos.back().second);
  }
  Out header;
  put_header(header, metadata, infos, alignment);
  write_file_atomically(path, "GGUF file", [&](const ByteSink& sink) {
    sink(header.bytes.data(), header.bytes.size());
    std::vector<std::uint8_t> buffer(largest + alignment, 0);
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const std::size_t n = infos[i].second, padded = (n + alignment - 1) / alignment * alignment;
      produce(i, buffer.data());
      std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(n), buffer.begin() + static_cast<std::ptrdiff_t>(padded),
                std::uint8_t{0});
      sink(buffer.data(), padded);
    }
  });
}

namespace {
GgufValue scalar(GgufType type, std::variant<std::uint64_t, std::int64_t, double, bool, std::string> v) {
  GgufValue out;
  out.type = type;
  out.scalar = std::move(v);
  return out;
}
}  // namespace

GgufValue gguf_u32(std::uint32_t v) { return scalar(GgufType::kUint32, std::uint64_t{v}); }
GgufValue gguf_i32(std::int32_t v) { return scalar(GgufType::kInt32, std::int64_t{v}); }
GgufValue gguf_f32(float v) { return scalar(GgufType::kFloat32, double{v}); }
GgufValue gguf_bool(bool v) { return scalar(GgufType::kBool, v); }
GgufValue gguf_string(const std::string& v) { return scalar(GgufType::kString, v); }

GgufValue gguf_strings(const std::vector<std::string>& v) {
  GgufValue out;
  out.type = GgufType::kArray;
  out.elem_type = GgufType::kString;
  out.strings = v;
  return out;
}

GgufValue gguf_f32s(const std::vector<float>& v) {
  GgufValue out;
  out.type = GgufType::kArray;
  out.elem_type = GgufType::kFloat32;
  out.numbers.assign(v.begin(), v.end());
  return out;
}

GgufValue gguf_i32s(const std::vector<std::int32_t>& v) {
  GgufValue out;
  out.type = GgufType::kArray;
  out.elem_type = GgufType::kInt32;
  out.numbers.assign(v.begin(), v.end());
  return out;
}

}  // namespace veloxquant
