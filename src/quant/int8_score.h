// Scoring ≤ 4-bit plane codes in integers: the rotated query is rounded to int8 (per-query scale)
// and the codebook to int8 (per-codebook scale), then dot products are exact int32 sums
// (AVX-512 VNNI where available). The rounding adds a relative error of about 1/254 per factor,
// far below the quantization error of any ≤ 4-bit code (docs/formats.md gives the bound).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace veloxquant {

struct Int8Codebook {
  std::uint8_t table[16] = {};  // value_k ≈ scale · (table[k] − 128)
  float scale = 0.0f;
};

Int8Codebook make_int8_codebook(const float* centroids, int bits);

// out[i·n + t] ≈ ⟨q_i, centroid(t, ·)⟩ for queries q_i (q_stride floats apart), without the
// records' own scales.
void score_planes_int8(const kernels::PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n,
                       std::size_t n_q, const float* q, std::size_t q_stride, float* out);

}  // namespace veloxquant
