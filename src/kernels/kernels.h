// Hot loops, dispatched once per call to the best SIMD target (Google Highway), with a plain
// scalar reference for each in kernels::ref (compiled without SIMD; tests compare the two).
//
// Bit-plane code layout (shared with src/pack/bitplane.h): the b-bit codes of `dim` coordinates
// occupy b planes of ceil(dim/8) bytes each; bit k of byte i of plane p is bit p of the code of
// coordinate 8i + k. The layout is independent of the vector width.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "util/half.h"

namespace veloxquant::kernels {

// Codes of n records that each hold one bit-plane block at `offset` bytes from the record start.
struct PlaneCodes {
  const std::uint8_t* records = nullptr;
  std::size_t stride = 0;            // bytes per record
  std::size_t offset = 0;            // bytes from record start to plane 0
  std::size_t dim = 0;               // coordinates
  int bits = 0;                      // planes
  const float* centroids = nullptr;  // 2^bits values
  // ≥ 0: every value of a record is multiplied by the fp16 scale at this byte offset of the record.
  std::ptrdiff_t scale_offset = -1;
};

inline float record_scale(const PlaneCodes& c, std::size_t t) {
  return c.scale_offset < 0 ? 1.0f : half_to_float(load_u16(c.records + t * c.stride + c.scale_offset));
}

// centroid(t, j) below is the codebook value of coordinate j of record t, times record_scale(t).
// out[i·n + t] = Σ_j q[i·q_stride + j] · centroid(t, j)            (i < n_q, t < n)
void score_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* q, std::size_t q_stride,
                  float* out);
// acc[i·acc_stride + j] += Σ_t w[i·n + t] · centroid(t, j)
void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride);

// Integer scoring of plane codes with at most 5 bits, exact and identical on every target:
// out[i·n + t] = Σ_j table[code(t, j)] · q8[i·dim + j] (table: 2^bits unsigned bytes; no scale).
void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);

// Integer accumulation of plane codes with at most 5 bits, exact and identical on every target:
// acc[i·acc_stride + j] += Σ_t w16[i·n2 + t] · table[code(t, j)] (int32; table: 2^bits values; no
// scale), where w16 rows hold n2 = n rounded up to even weights (a pad weight must be 0).
// The sums fit int32 for n ≤ 512 (|w| ≤ 32767, |table| ≤ 127).
void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);

// Plane codes of whole blocks of 16 records (pack/plane_blocks.h), keys or values order.
struct PlaneBlocks {
  const std::uint8_t* blocks = nullptr;
  std::size_t block_bytes = 0;  // bytes per block (16 records)
  std::size_t offset = 0;       // bytes from a block's start to the planes segment
  std::size_t dim = 0;          // coordinates
  int bits = 0;                 // planes, at most 5
};

// Integer scoring of key blocks (BlockOrder::kKeys), exact and identical on every target: for record t of the
// 16·n_blocks records, out[i·16·n_blocks + t] = Σ_j table[code(t, j)] · q8[i·q_row + j], where the
// query rows are q_row = 8·ceil(dim/8) bytes long and zero past dim.
void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);
// Integer accumulation of value blocks (BlockOrder::kValues), exact and identical on every target:
// for the 16·n_blocks records t, acc[i·acc_stride + j] += Σ_t w16[i·16·n_blocks + t] · table[code(t, j)]
// (int32; table: 2^bits values in [−127, 127]; no scale; w16 in [−32767, 32767]). The sums fit
// int32 for n ≤ 512 records.
void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);
// Whether score_blocks_u8 and accumulate_blocks_i16 have vector kernels now (AVX-512 with VNNI,
// VBMI and GFNI: planes_avx512.cpp; else AVX2: blocks_avx2.cpp; both only where Highway may use
// such a target, code_dispatch.cpp); elsewhere they run the scalar reference, and records are
// better kept plain. A quantizer asks once, when it is made: its page layout stays fixed.
bool score_blocks_fast();

// Online softmax of attend(): max_t s[t] over n ≥ 1 scores, and s[t] = exp(s[t]·scale − shift) in
// place returning Σ_t s[t] (canonical exp and lane sums, canonical.h; below −87 gives 0).
float row_max(const float* s, std::size_t n);
float exp_row(float* s, std::size_t n, float scale, float shift);

// max_t |x[t]| (0 for n = 0); NaN inputs are the caller's to exclude.
float max_abs(std::size_t n, const float* x);
// Σ_t a[t]·b[t], the canonical dot product (canonical.h): bit-identical to score_f32 of one row.
float dot(std::size_t n, const float* a, const float* b);
// out[t] = x[t]·f (out may be x).
void multiply(std::size_t n, const float* x, float f, float* out);
// Whether some |x[t]| > bound or x[t] is NaN (bound ≥ 0; FLT_MAX: whether any x[t] is not finite).
bool any_abs_above(std::size_t n, const float* x, float bound);
// out[t] = w[t]·s[t]; returns max_t |out[t]|, or +∞ when any out[t] is not finite.
float scale_max_abs(std::size_t n, const float* w, const float* s, float* out);
// acc[j] += f·x[j] (product rounded, then the sum).
void add_scaled_ints(std::size_t n, const std::int32_t* x, float f, float* acc);
// out[t] = (s[t]·f)·(x[t] − offset), each product rounded; x[t] − offset must fit in int32.
void scale_ints(std::size_t n, const std::int32_t* x, std::int32_t offset, const float* s, float f, float* out);
// out[t] = x[t]·factor rounded half away from zero, for |x[t]·factor| ≤ 32767.
void round_to_i16(std::size_t n, const float* x, float factor, std::int16_t* out);

// Plain float / half rows (x_t at x + t·stride elements), same contracts as above.
void score_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
               std::size_t q_stride, float* out);
void accumulate_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* w,
                    float* acc, std::size_t acc_stride);
void score_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
               const float* q, std::size_t q_stride, float* out);
void accumulate_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                    const float* w, float* acc, std::size_t acc_stride);

// Nearest-centroid codes of y[dim] (index = number of boundaries below y_j) written as planes.
// With `centroids`, also dots[0] = Σ_j y_j·c(j) and dots[1] = Σ_j c(j)² of the chosen centroids.
void quantize_to_planes(std::size_t dim, const float* y, const float* boundaries, int bits, std::uint8_t* planes,
                        const float* centroids = nullptr, float* dots = nullptr);

// IEEE half conversions of n values (round to nearest even, as util/half.h).
void floats_to_halves(std::size_t n, const float* in, std::uint16_t* out);
void halves_to_floats(std::size_t n, const std::uint16_t* in, float* out);

// Randomized Hadamard: y = H·D·x/√dim and its transpose x = D·H·y/√dim, for n rows (dim = 2^k).
void hadamard_rotate(std::size_t n, std::size_t dim, const float* signs, const float* x, float* y);
void hadamard_rotate_transpose(std::size_t n, std::size_t dim, const float* signs, const float* y, float* x);

// Dense M[rows][cols]: y_t = M·x_t (x_t: cols, y_t: rows) and y_t = Mᵀ·x_t (x_t: rows, y_t: cols).
void matmul_rows(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x, float* y);
void matmul_rows_transposed(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x,
                            float* y);

namespace ref {
void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);
void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);
void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out);
void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride);
float row_max(const float* s, std::size_t n);
float exp_row(float* s, std::size_t n, float scale, float shift);
float max_abs(std::size_t n, const float* x);
float dot(std::size_t n, const float* a, const float* b);
void multiply(std::size_t n, const float* x, float f, float* out);
bool any_abs_above(std::size_t n, const float* x, float bound);
float scale_max_abs(std::size_t n, const float* w, const float* s, float* out);
void add_scaled_ints(std::size_t n, const std::int32_t* x, float f, float* acc);
void scale_ints(std::size_t n, const std::int32_t* x, std::int32_t offset, const float* s, float f, float* out);
void round_to_i16(std::size_t n, const float* x, float factor, std::int16_t* out);
void score_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* q, std::size_t q_stride,
                  float* out);
void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride);
void score_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
               std::size_t q_stride, float* out);
void accumulate_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* w,
                    float* acc, std::size_t acc_stride);
void score_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
               const float* q, std::size_t q_stride, float* out);
void accumulate_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                    const float* w, float* acc, std::size_t acc_stride);
void quantize_to_planes(std::size_t dim, const float* y, const float* boundaries, int bits, std::uint8_t* planes,
                        const float* centroids = nullptr, float* dots = nullptr);
void hadamard_rotate(std::size_t n, std::size_t dim, const float* signs, const float* x, float* y);
void hadamard_rotate_transpose(std::size_t n, std::size_t dim, const float* signs, const float* y, float* x);
void matmul_rows(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x, float* y);
void matmul_rows_transposed(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x,
                            float* y);
}  // namespace ref

// ---- q8, q4 and PolarQuant records (kernels_baseline_simd.cpp, polar_decode_simd.cpp; scalar
// references in reference_baseline.cpp) ----
// q8 and q4 are scored and accumulated on the records themselves; each value below is exact in
// float (an int of ≤ 8 bits times an fp16 scale), so the results equal score_f32 /
// accumulate_f32 of the decoded rows.

// q8 record: fp16 scale, then dim int8 values; value j = scale · int8_j.
inline float q8_value(const std::uint8_t* record, std::size_t j) {
  return half_to_float(load_u16(record)) * static_cast<float>(static_cast<std::int8_t>(record[2 + j]));
}
// q4 record (llama.cpp q4_0): per group of 32 coordinates an fp16 scale d and 16 bytes whose low
// nibbles hold the group's first 16 values and high nibbles the last 16; value = (nibble − 8) · d.
constexpr std::size_t kQ4Group = 32, kQ4GroupBytes = 2 + kQ4Group / 2;
inline float q4_value(const std::uint8_t* record, std::size_t j) {
  const std::uint8_t* group = record + j / kQ4Group * kQ4GroupBytes;
  const std::size_t o = j % kQ4Group;
  const int nibble = o < kQ4Group / 2 ? (group[2 + o] & 15) : (group[2 + o - kQ4Group / 2] >> 4);
  return static_cast<float>(nibble - 8) * half_to_float(load_u16(group));
}

// q4_0's encoding rule: a group's scale is d = m / −8, m its value of largest magnitude (sign
// kept), and a value x gets nibble clamp(trunc(x·(1/d) + 8.5), 0, 15). Shared by plain encoding
// and GPTQ (src/runner/gptq.cpp), so that GPTQ with H = I writes plain q4's bytes.
inline float q4_signed_max(const float* x, std::size_t n) {
  float m = 0.0f;
  for (std::size_t j = 0; j < n; ++j)
    if (std::fabs(x[j]) > std::fabs(m)) m = x[j];
  return m;
}
inline int q4_nibble(float x_over_d) { return std::clamp(static_cast<int>(x_over_d + 8.5f), 0, 15); }

// Records of `stride` bytes; the same contracts as score_f32 / accumulate_f32 on their values.
void score_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out);
void accumulate_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride);
void score_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out);
void accumulate_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride);

// PolarQuant records (src/quant/polar.cpp): an fp16 radius per block of 16 coordinates, then the
// angle codes of levels 1..4 (8, 4, 2, 1 per block) as bit planes of all blocks per level.
struct PolarCodes {
  const std::uint8_t* records = nullptr;
  std::size_t stride = 0;  // bytes per record
  std::size_t blocks = 0;  // blocks of 16 coordinates
  int bits[4] = {};
  std::size_t level_offset[4] = {};  // bytes from record start to each level's planes
  const float* cos[4] = {};          // cos and sin of each level's 2^bits centroids
  const float* sin[4] = {};
};
// out[t·16·blocks + 16b + k] = coordinate k of block b of record t, multiplied top-down as
// ((((r·f₄)·f₃)·f₂)·f₁), f_ℓ the cos (bit ℓ−1 of k clear) or sin of angle k >> ℓ of level ℓ.
void decode_polar(const PolarCodes& codes, std::size_t n, float* out);

namespace ref {
void score_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out);
void accumulate_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride);
void score_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out);
void accumulate_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride);
void decode_polar(const PolarCodes& codes, std::size_t n, float* out);
}  // namespace ref

}  // namespace veloxquant::kernels
