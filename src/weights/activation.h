// Activations (the vectors a weight matrix multiplies) in the form a weight type is dotted with.
// A token's activation is quantized once per matrix product and reused by every row.
//
//   kFloat     the floats themselves (f32, f16, bf16 weights)
//   kQ8Blocks  blocks of 32: int8 q = round_half_even(x · 127/amax), scale d = fp16(amax/127) held as
//              float, and the block's Σq (int16). ggml's q8_0/q8_1 as its AVX2 code rounds them.
//   kQ8K       blocks of 256: int8 q = nearest_int(x · (−127/max)) (≤ 127, max the value of largest
//              magnitude), float d = 1/(−127/max), and Σq per 16 values (int16): ggml's q8_K; also
//              Σq per 32 values (int16), for the kernels whose mins are per 32.
// A block with a NaN or infinite value gets d = NaN and q = 0, so every product with it is NaN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace veloxquant {

enum class ActivationForm { kFloat, kQ8Blocks, kQ8K };

// Elements per scale and per sum of a form (1 and 1 for kFloat).
inline std::size_t activation_block(ActivationForm form) {
  return form == ActivationForm::kQ8Blocks ? 32 : form == ActivationForm::kQ8K ? 256 : 1;
}
inline std::size_t activation_sum_group(ActivationForm form) {
  return form == ActivationForm::kQ8Blocks ? 32 : form == ActivationForm::kQ8K ? 16 : 1;
}

// `tokens` activations of `cols` values each (cols a multiple of the form's block), read-only
// views: token t's values at q + t·cols, scales at d + t·cols/block, sums at sums + t·cols/group.
struct ActivationBatch {
  ActivationForm form = ActivationForm::kFloat;
  std::size_t cols = 0, tokens = 0;
  const float* x = nullptr;  // kFloat
  const std::int8_t* q = nullptr;
  const float* d = nullptr;
  const std::int16_t* sums = nullptr;
  const std::int16_t* sums32 = nullptr;  // kQ8K only: 8 per block

  const std::int8_t* q_of(std::size_t t) const { return q + t * cols; }
  const float* d_of(std::size_t t) const { return d + t * (cols / activation_block(form)); }
  const std::int16_t* sums_of(std::size_t t) const { return sums + t * (cols / activation_sum_group(form)); }
  const std::int16_t* sums32_of(std::size_t t) const { return sums32 + t * (cols / 32); }
  const float* x_of(std::size_t t) const { return x + t * cols; }
};

// Storage for quantized activations, reused from call to call (it only grows).
struct ActivationBuffer {
  std::vector<std::int8_t> q;
  std::vector<float> d;
  std::vector<std::int16_t> sums, sums32;
};

// Quantizes x[tokens][cols] into `form` (kFloat: a view of x). Throws std::invalid_argument when
// cols is not a multiple of the form's block.
ActivationBatch quantize_activations(ActivationForm form, const float* x, std::size_t tokens, std::size_t cols,
                                     ActivationBuffer& buffer);

// One block of each form, for tests and the scalar references.
void quantize_q8_block(const float* x, std::int8_t* q, float& d, std::int16_t& sum);
void quantize_q8k_block(const float* x, std::int8_t* q, float& d, std::int16_t* sums16);

}  // namespace veloxquant
