// GGUF v2/v3 reader (the llama.cpp model file format), memory-mapped and validated.
//
// File layout (little-endian):
//   "GGUF" u32 version  u64 n_tensors  u64 n_kv
//   n_kv × { string key, u32 type, value }          string = u64 length + bytes
//   n_tensors × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32), then the tensor data; offsets are relative
//   to that point. ne[0] is the fastest-varying dimension (the row length of a matrix).
// Every count, length, offset and size is checked against the file size (and for overflow)
// before it is used, so a truncated or corrupt file throws std::runtime_error instead of
// reading out of bounds or allocating a huge buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "weights/ggml_type.h"

namespace veloxquant {

enum class GgufType : std::uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// The tensor types are those of the weight-type table (weights/weight_types.h); a tensor of any
// other type is refused by name ("tensor 'x' has type iq2_xxs (16), which veloxquant does not
// support; supported: ..."), as is one whose row length is not a whole number of its type's
// blocks or whose bytes overlap the next tensor's (a byte size that disagrees with its type).
const char* ggml_type_name(GgmlType type);  // ggml's name: "q4_K"
// Bytes of one row of `n` elements; throws std::invalid_argument when n is not a whole number
// of blocks (e.g. q8_0 stores blocks of 32: an fp16 scale and 32 int8).
std::size_t ggml_row_bytes(GgmlType type, std::uint64_t n);

struct GgufValue {
  GgufType type = GgufType::kUint8;
  GgufType elem_type = GgufType::kUint8;  // arrays only
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string> scalar;
  std::vector<std::string> strings;  // array of strings
  std::vector<double> numbers;       // array of numbers or bools
};

struct GgufTensor {
  std::string name;
  std::vector<std::uint64_t> dims;  // ne[0] first
  GgmlType type = GgmlType::kF32;
  std::uint64_t offset = 0;  // relative to the data section
  const std::uint8_t* data = nullptr;
  std::size_t bytes = 0;
  std::uint64_t elements() const;
};

class GgufFile {
 public:
  // Memory-maps a file. Throws std::runtime_error naming the path and the problem.
  static GgufFile open(const std::string& path);
  // Parses bytes held in memory (same validation; used by tests and fuzzing).
  static GgufFile from_bytes(std::vector<std::uint8_t> bytes);
  // Parses `size` bytes at `data` without copying them; `owner` keeps them alive (e.g. the mapping
  // of a larger file that embeds a GGUF image). `source` names them in error messages.
  static GgufFile from_memory(std::shared_ptr<const void> owner, const std::uint8_t* data, std::size_t size,
                              const std::string& source);

  std::uint32_t version() const { return version_; }
  std::size_t alignment() const { return alignment_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  // Typed metadata access; throws std::runtime_error naming the key when it is missing or
  // of the wrong type.
  std::uint64_t get_uint(const std::string& key) const;
  std::uint64_t get_uint(const std::string& key, std::uint64_t fallback) const;
  double get_float(const std::string& key) const;
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  const std::string& get_string(const std::string& key) const;
  const std::vector<std::string>& get_string_array(const std::string& key) const;
  const std::vector<double>& get_number_array(const std::string& key) const;

  const GgufTensor* find_tensor(const std::string& name) const;  // nullptr when absent
  const GgufTensor& tensor(const std::string& name) const;       // throws when absent

 private:
  struct Storage;
  void parse(const std::string& source);

  std::shared_ptr<Storage> storage_;
  std::uint32_t version_ = 0;
  std::size_t alignment_ = 32;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
};

}  // namespace veloxquant
