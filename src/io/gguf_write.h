// Writes GGUF v3: the inverse of GgufFile's parsing. write_gguf builds an image in memory (a
// model's metadata, tokenizer and unquantized tensors embedded in a .vqm); write_gguf_file streams
// a file tensor by tensor (converted and synthetic models of any weight type, tests).
// Values keep their GGUF types; number arrays are held as double by the reader, so 64-bit
// integer array elements above 2^53 would not round-trip (llama metadata has none).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace veloxquant {

struct GgufTensorOut {
  std::string name;
  std::vector<std::uint64_t> dims;  // ne[0] first
  GgmlType type = GgmlType::kF32;
  const std::uint8_t* data = nullptr;
  std::size_t bytes = 0;
};

// Tensor data is placed at multiples of `alignment` (a power of two; general.alignment in
// `metadata`, when present, must agree).
std::vector<std::uint8_t> write_gguf(const std::map<std::string, GgufValue>& metadata,
                                     const std::vector<GgufTensorOut>& tensors, std::size_t alignment);

// A tensor of a file written by write_gguf_file: its bytes follow from the type and shape.
struct GgufTensorPlan {
  std::string name;
  std::vector<std::uint64_t> dims;  // ne[0] first
  GgmlType type = GgmlType::kF32;
  std::size_t bytes() const;  // throws std::invalid_argument for rows of part blocks
};

// Writes `path` atomically (io/atomic_file.h): the metadata, then the tensors in order, each
// filled by produce(i, out) with exactly tensors[i].bytes() bytes (a buffer of the largest
// tensor is reused). Throws FileIoError on I/O failure; what produce throws is passed on and
// leaves no file.
void write_gguf_file(const std::string& path, const std::map<std::string, GgufValue>& metadata,
                     const std::vector<GgufTensorPlan>& tensors, std::size_t alignment,
                     const std::function<void(std::size_t, std::uint8_t*)>& produce);

// Metadata values of each GGUF type, for building metadata from scratch.
GgufValue gguf_u32(std::uint32_t v);
GgufValue gguf_i32(std::int32_t v);
GgufValue gguf_f32(float v);
GgufValue gguf_bool(bool v);
GgufValue gguf_string(const std::string& v);
GgufValue gguf_strings(const std::vector<std::string>& v);
GgufValue gguf_f32s(const std::vector<float>& v);
GgufValue gguf_i32s(const std::vector<std::int32_t>& v);

}  // namespace veloxquant
