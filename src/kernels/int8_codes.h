// Scores and sums of ≤ 5-bit plane codes in integers, from float queries and weights to floats:
// the rotated query is rounded to int8 (per-query scale) and the codebook to int8 (per-codebook
// scale), then dot products are exact int32 sums (AVX-512 VNNI where available). The rounding
// adds a relative error of about 1/254 per factor, below the quantization error of any ≤ 5-bit
// code (docs/formats.md gives the bound). The quantizers (src/quant) call these with their codes'
// layout and codebook; the integer kernels they run are chosen in code_dispatch.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace veloxquant::kernels {

constexpr int kMaxInt8Bits = 5;  // codes with more bits are scored in floats

struct Int8Codebook {
  std::uint8_t table[1 << kMaxInt8Bits] = {};  // value_k ≈ scale · (table[k] − 128)
  std::int8_t values[1 << kMaxInt8Bits] = {};  // table[k] − 128
  float scale = 0.0f;
};

// bits ≤ kMaxInt8Bits.
Int8Codebook make_int8_codebook(const float* centroids, int bits);

// out[i·n + t] ≈ ⟨q_i, centroid(t, ·)⟩·record_scale(t) for queries q_i (q_stride floats apart).
void score_planes_int8(const PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n, std::size_t n_q,
                       const float* q, std::size_t q_stride, float* out);

// score_planes_int8 on key blocks (pack/plane_blocks.h, BlockOrder::kKeys), records' fp16 scales at scale_offset of
// each block: out[i·16·n_blocks + t]. False, with out unspecified, where a query cannot be rounded
// to int8 (not finite, or so small that 127/max overflows): the caller takes the float path.
bool score_blocks_int8(const PlaneBlocks& codes, std::size_t scale_offset, const Int8Codebook& codebook,
                       std::size_t n_blocks, std::size_t n_q, const float* q, std::size_t q_stride, float* out);

// acc[i·acc_stride + j] += ≈ Σ_t w[i·n + t]·record_scale(t)·centroid(t, j). Each query's scaled
// weights are rounded to 16-bit integers relative to the largest of the block (each moves by at
// most 1/65534 of that largest), then the sums are exact in int32 (AVX-512 VNNI vpdpwssd where
// available), so the result is identical on every target. Non-finite weights, and weights so small
// that 32767/max overflows, take the float path (as do such queries in score_planes_int8).
void accumulate_planes_int16(const PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n, std::size_t n_q,
                             const float* w, float* acc, std::size_t acc_stride);

// accumulate_planes_int16 on value blocks (BlockOrder::kValues), records' fp16 scales at
// scale_offset of each block, `centroids` the float codebook (for rows that take the float path):
// the same values as on the records, for weights w[i·16·n_blocks + t] of any sign.
void accumulate_blocks_int16(const PlaneBlocks& codes, std::size_t scale_offset, const float* centroids,
                             const Int8Codebook& codebook, std::size_t n_blocks, std::size_t n_q, const float* w,
                             float* acc, std::size_t acc_stride);

}  // namespace veloxquant::kernels
