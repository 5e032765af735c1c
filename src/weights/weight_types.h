// The table of weight types: every ggml tensor type veloxquant runs, with its block layout, its
// scalar dequantization (bit-exact with ggml), its quantizer (for writing models), the activation
// form it is dotted with and its dot-product kernel (SIMD, dispatched per CPU) with a scalar
// reference. The runner, the GGUF reader, the converter, tests and benchmarks loop over it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "weights/activation.h"
#include "weights/dot.h"
#include "weights/ggml_type.h"

namespace veloxquant {

struct WeightTypeInfo {
  GgmlType type;
  const char* name;            // ggml's name: "q4_K"
  std::size_t block_elements;  // 1 for the float types
  std::size_t block_bytes;
  void (*dequantize)(const std::uint8_t* blocks, std::size_t n, float* out);  // n elements
  void (*quantize)(const float* x, std::size_t n, std::uint8_t* blocks);
  ActivationForm activation;
  DotRowsFn dot;            // the SIMD kernel of the best target this CPU runs
  DotRowsFn dot_reference;  // plain scalar code
  const char* description;
};

// Every supported type, in a fixed order (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K … q6_K,
// iq4_nl, iq4_xs).
const std::vector<WeightTypeInfo>& weight_type_table();

// The entry of a type number, or nullptr when veloxquant does not support it.
const WeightTypeInfo* find_weight_type(std::uint32_t type);
// The entry of a supported type (throws std::invalid_argument for others).
const WeightTypeInfo& weight_type(GgmlType type);
// The entry whose name is `name` (case-insensitive: "Q4_K", "q4_k"), or nullptr.
const WeightTypeInfo* find_weight_type_by_name(const std::string& name);
// "f32, f16, bf16, q8_0, ..." for messages.
std::string supported_weight_type_names();

// Bytes of a row of n elements; throws std::invalid_argument when n is not a whole number of blocks.
std::size_t weight_row_bytes(GgmlType type, std::uint64_t n);

}  // namespace veloxquant
