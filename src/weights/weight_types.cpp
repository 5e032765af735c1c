#include "weights/weight_types.h"

#include <cctype>
#include <stdexcept>

#include "weights/dequantize.h"
#include "weights/quantize.h"

namespace veloxquant {

namespace {

using F = ActivationForm;

std::vector<WeightTypeInfo> build_table() {
  // clang-format off
  return {
      {GgmlType::kF32, "f32", 1, 4, dequant::f32, quantize::f32, F::kFloat, dot_simd::f32, dot_ref::f32,
       "32-bit float"},
      {GgmlType::kF16, "f16", 1, 2, dequant::f16, quantize::f16, F::kFloat, dot_simd::f16, dot_ref::f16,
       "IEEE half"},
      {GgmlType::kBF16, "bf16", 1, 2, dequant::bf16, quantize::bf16, F::kFloat, dot_simd::bf16, dot_ref::bf16,
       "bfloat16"},
      {GgmlType::kQ8_0, "q8_0", 32, 34, dequant::q8_0, quantize::q8_0, F::kQ8Blocks, dot_simd::q8_0, dot_ref::q8_0,
       "int8 per 32, fp16 scale"},
      {GgmlType::kQ4_0, "q4_0", 32, 18, dequant::q4_0, quantize::q4_0, F::kQ8Blocks, dot_simd::q4_0, dot_ref::q4_0,
       "4-bit per 32, fp16 scale, offset 8"},
      {GgmlType::kQ4_1, "q4_1", 32, 20, dequant::q4_1, quantize::q4_1, F::kQ8Blocks, dot_simd::q4_1, dot_ref::q4_1,
       "4-bit per 32, fp16 scale and min"},
      {GgmlType::kQ5_0, "q5_0", 32, 22, dequant::q5_0, quantize::q5_0, F::kQ8Blocks, dot_simd::q5_0, dot_ref::q5_0,
       "5-bit per 32, fp16 scale, offset 16"},
      {GgmlType::kQ5_1, "q5_1", 32, 24, dequant::q5_1, quantize::q5_1, F::kQ8Blocks, dot_simd::q5_1, dot_ref::q5_1,
       "5-bit per 32, fp16 scale and min"},
      {GgmlType::kQ2_K, "q2_K", 256, 84, dequant::q2_K, quantize::q2_K, F::kQ8K, dot_simd::q2_K, dot_ref::q2_K,
       "2-bit, 4-bit scale and min per 16, fp16 super-scales"},
      {GgmlType::kQ3_K, "q3_K", 256, 110, dequant::q3_K, quantize::q3_K, F::kQ8K, dot_simd::q3_K, dot_ref::q3_K,
       "3-bit, 6-bit scale per 16, fp16 super-scale"},
      {GgmlType::kQ4_K, "q4_K", 256, 144, dequant::q4_K, quantize::q4_K, F::kQ8K, dot_simd::q4_K, dot_ref::q4_K,
       "4-bit, 6-bit scale and min per 32, fp16 super-scales"},
      {GgmlType::kQ5_K, "q5_K", 256, 176, dequant::q5_K, quantize::q5_K, F::kQ8K, dot_simd::q5_K, dot_ref::q5_K,
       "5-bit, 6-bit scale and min per 32, fp16 super-scales"},
      {GgmlType::kQ6_K, "q6_K", 256, 210, dequant::q6_K, quantize::q6_K, F::kQ8K, dot_simd::q6_K, dot_ref::q6_K,
       "6-bit, int8 scale per 16, fp16 super-scale"},
      {GgmlType::kIQ4_NL, "iq4_nl", 32, 18, dequant::iq4_nl, quantize::iq4_nl, F::kQ8Blocks, dot_simd::iq4_nl,
       dot_ref::iq4_nl, "16 non-linear levels per 32, fp16 scale"},
      {GgmlType::kIQ4_XS, "iq4_xs", 256, 136, dequant::iq4_xs, quantize::iq4_xs, F::kQ8K, dot_simd::iq4_xs,
       dot_ref::iq4_xs, "16 non-linear levels, 6-bit scale per 32, fp16 super-scale"},
  };
  // clang-format on
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const std::vector<WeightTypeInfo>& weight_type_table() {
  static const std::vector<WeightTypeInfo> table = build_table();
  return table;
}

const WeightTypeInfo* find_weight_type(std::uint32_t type) {
  for (const WeightTypeInfo& t : weight_type_table())
    if (static_cast<std::uint32_t>(t.type) == type) return &t;
  return nullptr;
}

const WeightTypeInfo& weight_type(GgmlType type) {
  const WeightTypeInfo* t = find_weight_type(static_cast<std::uint32_t>(type));
  if (!t)
    throw std::invalid_argument("ggml type " + ggml_type_number_name(static_cast<std::uint32_t>(type)) +
                                " is not supported");
  return *t;
}

const WeightTypeInfo* find_weight_type_by_name(const std::string& name) {
  for (const WeightTypeInfo& t : weight_type_table())
    if (lower(t.name) == lower(name)) return &t;
  return nullptr;
}

std::string supported_weight_type_names() {
  std::string s;
  for (const WeightTypeInfo& t : weight_type_table()) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

std::size_t weight_row_bytes(GgmlType type, std::uint64_t n) {
  const WeightTypeInfo& t = weight_type(type);
  if (n % t.block_elements != 0)
    throw std::invalid_argument(std::string(t.name) + " row length " + std::to_string(n) + " is not a multiple of " +
                                std::to_string(t.block_elements));
  return static_cast<std::size_t>(n / t.block_elements * t.block_bytes);
}

std::string ggml_type_number_name(std::uint32_t type) {
  // ggml.h's enum ggml_type; the numbers it retired have no name.
  static const char* const kNames[] = {
      "f32",      "f16",      "q4_0",    "q4_1",  "",           "",           "q5_0",       "q5_1",
      "q8_0",     "q8_1",     "q2_K",    "q3_K",  "q4_K",       "q5_K",       "q6_K",       "q8_K",
      "iq2_xxs",  "iq2_xs",   "iq3_xxs", "iq1_s", "iq4_nl",     "iq3_s",      "iq2_s",      "iq4_xs",
      "i8",       "i16",      "i32",     "i64",   "f64",        "iq1_m",      "bf16",       "q4_0_4_4",
      "q4_0_4_8", "q4_0_8_8", "tq1_0",   "tq2_0", "iq4_nl_4_4", "iq4_nl_4_8", "iq4_nl_8_8", "mxfp4"};
  if (type < sizeof(kNames) / sizeof(kNames[0]) && kNames[type][0] != '\0')
    return std::string(kNames[type]) + " (" + std::to_string(type) + ")";
  return "type " + std::to_string(type);
}

}  // namespace veloxquant
