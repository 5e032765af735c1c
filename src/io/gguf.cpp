#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>

#include "io/mapped_file.h"
#include "weights/weight_types.h"

namespace veloxquant {

namespace {

constexpr std::uint32_t kMaxDims = 4;  // GGML_MAX_DIMS
constexpr std::size_t kMaxKeyLength = 1 << 16;

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw std::runtime_error("GGUF " + source + ": " + what);
}

// Bounds-checked reader over the file bytes.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size, const std::string& source)
      : data_(data), size_(size), source_(source) {}

  std::size_t pos() const { return pos_; }
  std::size_t remaining() const { return size_ - pos_; }

  void need(std::size_t n, const char* what) const {
    if (n > remaining())
      fail(source_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes at offset " +
                        std::to_string(pos_) + ", file has " + std::to_string(size_));
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    const std::uint64_t n = read<std::uint64_t>(what);
    if (n > remaining())
      fail(source_, std::string(what) + " length " + std::to_string(n) + " at offset " + std::to_string(pos_ - 8) +
                        " exceeds the file (" + std::to_string(remaining()) + " bytes left)");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  [[noreturn]] void error(const std::string& what) const { fail(source_, what); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  const std::string& source_;
};

std::size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    // NOLINTNEXTLINE(bugprone-branch-clone): a string is at least its u64 length, not a u64
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
      return 8;  // at least its length field
    case GgufType::kArray:
      return 12;  // at least element type + count
  }
  return 0;
}

bool valid_value_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(GgufType::kFloat64); }

// Reads one scalar as a number (integers exactly as u64/i64, floats as double).
std::variant<std::uint64_t, std::int64_t, double, bool, std::string> read_scalar(Cursor& c, GgufType t) {
  switch (t) {
    case GgufType::kUint8:
      return std::uint64_t{c.read<std::uint8_t>("u8 value")};
    case GgufType::kInt8:
      return std::int64_t{c.read<std::int8_t>("i8 value")};
    case GgufType::kUint16:
      return std::uint64_t{c.read<std::uint16_t>("u16 value")};
    case GgufType::kInt16:
      return std::int64_t{c.read<std::int16_t>("i16 value")};
    case GgufType::kUint32:
      return std::uint64_t{c.read<std::uint32_t>("u32 value")};
    case GgufType::kInt32:
      return std::int64_t{c.read<std::int32_t>("i32 value")};
    case GgufType::kFloat32:
      return double{c.read<float>("f32 value")};
    case GgufType::kBool: {
      const std::uint8_t b = c.read<std::uint8_t>("bool value");
      if (b > 1) c.error("bool value " + std::to_string(b) + " is neither 0 nor 1");
      return b == 1;
    }
    case GgufType::kString:
      return c.read_string("string value");
    case GgufType::kUint64:
      return c.read<std::uint64_t>("u64 value");
    case GgufType::kInt64:
      return c.read<std::int64_t>("i64 value");
    case GgufType::kFloat64:
      return c.read<double>("f64 value");
    case GgufType::kArray:
      break;
  }
  c.error("unexpected value type");
}

double as_number(const std::variant<std::uint64_t, std::int64_t, double, bool, std::string>& v) {
  if (auto* u = std::get_if<std::uint64_t>(&v)) return static_cast<double>(*u);
  if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&v)) return *d;
  return std::get<bool>(v) ? 1.0 : 0.0;
}

GgufValue read_value(Cursor& c, std::uint32_t raw_type, const std::string& key) {
  if (!valid_value_type(raw_type)) c.error("key '" + key + "' has unknown value type " + std::to_string(raw_type));
  GgufValue v;
  v.type = static_cast<GgufType>(raw_type);
  if (v.type != GgufType::kArray) {
    v.scalar = read_scalar(c, v.type);
    return v;
  }
  const std::uint32_t elem = c.read<std::uint32_t>("array element type");
  if (!valid_value_type(elem)) c.error("key '" + key + "' has unknown array element type " + std::to_string(elem));
  v.elem_type = static_cast<GgufType>(elem);
  if (v.elem_type == GgufType::kArray) c.error("key '" + key + "': nested arrays are not supported");
  const std::uint64_t count = c.read<std::uint64_t>("array length");
  // Each element takes at least scalar_size bytes, so this bounds the allocation by the file size.
  if (count > c.remaining() / scalar_size(v.elem_type))
    c.error("key '" + key + "': array length " + std::to_string(count) + " exceeds the file");
  if (v.elem_type == GgufType::kString) {
    v.strings.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) v.strings.push_back(c.read_string("array string"));
  } else {
    v.numbers.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) v.numbers.push_back(as_number(read_scalar(c, v.elem_type)));
  }
  return v;
}

const char* value_type_name(GgufType t) {
  static const char* const kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                       "bool", "string", "array", "u64", "i64", "f64"};
  return kNames[static_cast<std::uint32_t>(t)];
}

}  // namespace

const char* ggml_type_name(GgmlType type) {
  const WeightTypeInfo* t = find_weight_type(static_cast<std::uint32_t>(type));
  return t ? t->name : "unknown";
}

std::size_t ggml_row_bytes(GgmlType type, std::uint64_t n) { return weight_row_bytes(type, n); }

std::uint64_t GgufTensor::elements() const {
  std::uint64_t n = 1;
  for (std::uint64_t d : dims) n *= d;
  return n;
}

struct GgufFile::Storage {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::vector<std::uint8_t> bytes;    // the file, when given as bytes
  std::shared_ptr<const void> owner;  // keeps `data` alive: a mapping, or someone else's memory
};

GgufFile GgufFile::open(const std::string& path) {
  auto storage = std::make_shared<Storage>();
  const std::shared_ptr<const MappedFile> file = MappedFile::open(path, "GGUF file");
  storage->data = file->data();
  storage->size = file->size();
  storage->owner = file;
  GgufFile f;
  f.storage_ = std::move(storage);
  f.parse("'" + path + "'");
  return f;
}

GgufFile GgufFile::from_bytes(std::vector<std::uint8_t> bytes) {
  auto storage = std::make_shared<Storage>();
  storage->bytes = std::move(bytes);
  storage->data = storage->bytes.data();
  storage->size = storage->bytes.size();
  GgufFile f;
  f.storage_ = std::move(storage);
  f.parse("buffer");
  return f;
}

GgufFile GgufFile::from_memory(std::shared_ptr<const void> owner, const std::uint8_t* data, std::size_t size,
                               const std::string& source) {
  auto storage = std::make_shared<Storage>();
  storage->owner = std::move(owner);
  storage->data = data;
  storage->size = size;
  GgufFile f;
  f.storage_ = std::move(storage);
  f.parse(source);
  return f;
}

void GgufFile::parse(const std::string& source) {
  Cursor c(storage_->data, storage_->size, source);
  const std::uint32_t magic = c.read<std::uint32_t>("magic");
  if (magic != 0x46554747u) c.error("bad magic (not a GGUF file)");
  version_ = c.read<std::uint32_t>("version");
  if (version_ != 2 && version_ != 3) c.error("unsupported version " + std::to_string(version_) + " (need 2 or 3)");
  const std::uint64_t n_tensors = c.read<std::uint64_t>("tensor count");
  const std::uint64_t n_kv = c.read<std::uint64_t>("metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info 8+4+4+8.
  if (n_kv > c.remaining() / 13) c.error("metadata count " + std::to_string(n_kv) + " exceeds the file");
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("metadata key");
    if (key.empty() || key.size() > kMaxKeyLength) c.error("metadata key " + std::to_string(i) + " has bad length");
    const std::uint32_t type = c.read<std::uint32_t>("metadata type");
    GgufValue value = read_value(c, type, key);
    if (!metadata_.emplace(key, std::move(value)).second) c.error("duplicate metadata key '" + key + "'");
  }
  if (auto it = metadata_.find("general.alignment"); it != metadata_.end()) {
    const auto* a = std::get_if<std::uint64_t>(&it->second.scalar);
    if (it->second.type == GgufType::kArray || !a || *a == 0 || (*a & (*a - 1)) != 0 || *a > (1u << 20))
      c.error("general.alignment must be a power of two up to 2^20");
    alignment_ = static_cast<std::size_t>(*a);
  }

  if (n_tensors > c.remaining() / 24) c.error("tensor count " + std::to_string(n_tensors) + " exceeds the file");
  tensors_.reserve(static_cast<std::size_t>(n_tensors));
  std::set<std::string> names;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.read_string("tensor name");
    const std::uint32_t n_dims = c.read<std::uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      c.error("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    std::uint64_t elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const std::uint64_t ne = c.read<std::uint64_t>("tensor dimension");
      if (ne == 0 || ne > std::numeric_limits<std::uint64_t>::max() / elements)
        c.error("tensor '" + t.name + "' dimension " + std::to_string(d) + " = " + std::to_string(ne) +
                " is zero or overflows");
      elements *= ne;
      t.dims.push_back(ne);
    }
    const std::uint32_t type = c.read<std::uint32_t>("tensor type");
    const WeightTypeInfo* info = find_weight_type(type);
    if (!info)
      c.error("tensor '" + t.name + "' has type " + ggml_type_number_name(type) +
              ", which veloxquant does not support; supported: " + supported_weight_type_names());
    t.type = info->type;
    t.offset = c.read<std::uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0)
      c.error("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not aligned to " +
              std::to_string(alignment_));
    // Whole blocks per row; then the byte size, bounded by the file before multiplying.
    if (t.dims[0] % info->block_elements != 0)
      c.error("tensor '" + t.name + "' has rows of " + std::to_string(t.dims[0]) + " elements, not a multiple of " +
              info->name + "'s block of " + std::to_string(info->block_elements));
    const std::uint64_t blocks = elements / info->block_elements;
    if (blocks > storage_->size / info->block_bytes)
      c.error("tensor '" + t.name + "' (" + std::to_string(elements) + " elements of " + info->name +
              ") exceeds the file of " + std::to_string(storage_->size) + " bytes");
    t.bytes = static_cast<std::size_t>(blocks * info->block_bytes);
    if (!names.insert(t.name).second) c.error("duplicate tensor name '" + t.name + "'");
    tensors_.push_back(std::move(t));
  }

  const std::size_t header_end = c.pos();
  const std::size_t data_start = (header_end + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > storage_->size && !tensors_.empty()) c.error("truncated: no tensor data section");
  const std::size_t data_size = data_start <= storage_->size ? storage_->size - data_start : 0;
  for (GgufTensor& t : tensors_) {
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      c.error("truncated: tensor '" + t.name + "' (" + std::to_string(t.bytes) + " bytes at data offset " +
              std::to_string(t.offset) + ") exceeds the data section of " + std::to_string(data_size) + " bytes");
    t.data = storage_->data + data_start + t.offset;
  }
  // A tensor's bytes end before the next tensor's begin: otherwise its byte size disagrees with
  // its type and shape (or the file lays tensors over each other).
  std::vector<const GgufTensor*> by_offset;
  for (const GgufTensor& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor& prev = *by_offset[i - 1];
    const GgufTensor& next = *by_offset[i];
    if (prev.offset + prev.bytes > next.offset)
      c.error("tensor '" + prev.name + "' (" + std::to_string(prev.bytes) + " bytes of " + ggml_type_name(prev.type) +
              " at data offset " + std::to_string(prev.offset) + ") overlaps tensor '" + next.name + "' at offset " +
              std::to_string(next.offset) + ": its byte size disagrees with its type and shape");
  }
}

namespace {
const GgufValue& lookup(const std::map<std::string, GgufValue>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw std::runtime_error("GGUF metadata key '" + key + "' is missing");
  return it->second;
}
[[noreturn]] void wrong_type(const std::string& key, const GgufValue& v, const char* want) {
  throw std::runtime_error("GGUF metadata key '" + key + "' is " + value_type_name(v.type) + ", expected " + want);
}
}  // namespace

std::uint64_t GgufFile::get_uint(const std::string& key) const {
  const GgufValue& v = lookup(metadata_, key);
  if (v.type != GgufType::kArray) {
    if (auto* u = std::get_if<std::uint64_t>(&v.scalar)) return *u;
    if (auto* i = std::get_if<std::int64_t>(&v.scalar); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  }
  wrong_type(key, v, "a non-negative integer");
}

std::uint64_t GgufFile::get_uint(const std::string& key, std::uint64_t fallback) const {
  return has(key) ? get_uint(key) : fallback;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = lookup(metadata_, key);
  if (v.type == GgufType::kArray || v.type == GgufType::kString || v.type == GgufType::kBool)
    wrong_type(key, v, "a number");
  return as_number(v.scalar);
}

double GgufFile::get_float(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}

bool GgufFile::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const GgufValue& v = lookup(metadata_, key);
  if (v.type != GgufType::kBool) wrong_type(key, v, "a bool");
  return std::get<bool>(v.scalar);
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = lookup(metadata_, key);
  if (v.type != GgufType::kString) wrong_type(key, v, "a string");
  return std::get<std::string>(v.scalar);
}

const std::vector<std::string>& GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = lookup(metadata_, key);
  if (v.type != GgufType::kArray || v.elem_type != GgufType::kString) wrong_type(key, v, "an array of strings");
  return v.strings;
}

const std::vector<double>& GgufFile::get_number_array(const std::string& key) const {
  const GgufValue& v = lookup(metadata_, key);
  if (v.type != GgufType::kArray || v.elem_type == GgufType::kString) wrong_type(key, v, "an array of numbers");
  return v.numbers;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  for (const GgufTensor& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
  const GgufTensor* t = find_tensor(name);
  if (!t) throw std::runtime_error("GGUF tensor '" + name + "' is missing");
  return *t;
}

}  // namespace veloxquant
