// Writes a GGUF v3 image: the inverse of GgufFile's parsing, for metadata and tensors taken from
// a GgufFile (used to embed a model's metadata, tokenizer and unquantized tensors in a .vqm).
// Values keep their GGUF types; number arrays are held as double by the reader, so 64-bit
// integer array elements above 2^53 would not round-trip (llama metadata has none).
#pragma once

#include <cstddef>
#include <cstdint>
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

}  // namespace veloxquant
