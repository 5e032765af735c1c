// The scale searches behind ggml's reference quantizers (ggml-quants.c, "2-6 bit quantization in
// super-blocks"), which the writers of test models use so that our files round like llama.cpp's
// `llama-quantize` without an importance matrix. Reimplemented from the algorithms; results need
// not equal ggml's bit for bit (the layout is what llama.cpp must read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace veloxquant::quant_search {

// Rounds to the nearest integer, ties to even (|x| < 2^22): adding 1.5·2^23 leaves the rounded
// integer in the low mantissa bits.
inline int nearest_int(float x) {
  const float shifted = x + 12582912.0f;
  std::int32_t bits;
  std::memcpy(&bits, &shifted, 4);
  return (bits & 0x007FFFFF) - 0x00400000;
}

// Symmetric levels −nmax … nmax−1 for n values: L[i] = level + nmax; returns the scale.
// rmse_type 0: plain rounding with scale max/−nmax; 1: weights x², least-squares refinement over
// 18 trial scales (ggml's make_qx_quants). weights may be null (then x² as ggml).
float symmetric_levels(std::size_t n, int nmax, const float* x, std::int8_t* L, int rmse_type, const float* weights);

// q3_K's search: levels −nmax … nmax−1 refined by coordinate moves under x² weights
// (make_q3_quants with do_rmse); L[i] = level + nmax.
float q3_levels(std::size_t n, int nmax, const float* x, std::int8_t* L);

// Asymmetric levels 0 … nmax with a non-positive offset: x ≈ scale·L − the_min (make_qkx2_quants):
// nstep+1 trial scales (rmin + rdelta·i + nmax)/(max − min), each with a least-squares scale and
// offset, the best under weighted squared (or absolute, use_mad) error.
float offset_levels(std::size_t n, int nmax, const float* x, const float* weights, std::uint8_t* L, float& the_min,
                    float rmin, float rdelta, int nstep, bool use_mad);

// Index of the iq4_nl value nearest to x (values ascending).
int nearest_iq4nl_index(float x);

// iq4_nl / iq4_xs search of one group of `n` values: the scale with the best weighted fit over
// 2·ntry + 1 trial scales (quantize_row_iq4_nl_impl's inner loop); weights x²; L gets indices.
float iq4nl_group_scale(std::size_t n, const float* x, std::uint8_t* L, int ntry);

}  // namespace veloxquant::quant_search
