// Which ggml type each tensor of a Llama model gets when it is converted (`veloxquant convert
// --type NAME`).
//
// A type name of the table (q8_0, q4_K, iq4_xs, f16, ...) converts every matrix (2-D tensor
// named *.weight, not a norm) to that type, as `llama-quantize --pure` does. The mixes follow
// llama.cpp's llama-quant.cpp for architecture llama without experts or an importance matrix:
//   q4_k_m  matrices q4_K; attn_v and ffn_down of the layers i with use_more_bits(i, n) q6_K;
//           the output matrix (token_embd when the output is tied) q6_K
//   q5_k_m  the same with q5_K for the other matrices
// where use_more_bits(i, n) = i < n/8 || i ≥ 7n/8 || (i − n/8) % 3 == 2 (16 layers: 0, 1, 4, 7, 10,
// 13, 14, 15). A matrix whose rows are not a whole number of its type's blocks falls back as
// llama.cpp does: q4_K → q5_0, q5_K → q5_1, q6_K → q8_0, q2_K / q3_K → q4_0, iq4_xs → iq4_nl, and
// f16 when the 32-element types do not fit either. Other tensors keep their type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "weights/ggml_type.h"

namespace veloxquant {

struct TypeScheme {
  std::string name;  // as given: "q4_k_m", "q8_0"
  GgmlType base = GgmlType::kF32;
  bool k_mix = false;  // q4_k_m / q5_k_m
};

// Throws std::invalid_argument naming the choices for an unknown name.
TypeScheme parse_type_scheme(const std::string& name);

// The type tensor `name` (shape dims, ne[0] first, stored as `source`) is converted to, in a model
// of n_layers layers whose output matrix is tied to token_embd when `tied`.
GgmlType scheme_tensor_type(const TypeScheme& scheme, const std::string& name, const std::vector<std::uint64_t>& dims,
                            GgmlType source, std::size_t n_layers, bool tied);

// Whether a scheme chooses the type of this tensor (2-D, named *weight, not a norm).
bool scheme_converts(const std::string& name, const std::vector<std::uint64_t>& dims);

// llama.cpp's general.file_type for the scheme (enum llama_ftype; display only).
std::uint32_t scheme_file_type(const TypeScheme& scheme);

}  // namespace veloxquant
