// Scalar references of the dot-product kernels: one row with one token at a time, integer sums per
// block exactly as the block layout defines them (weights/block_layout.h), block products summed
// in block order. Compiled without auto-vectorisation (CMakeLists.txt).
#include <cstring>

#include "util/half.h"
#include "weights/block_layout.h"
#include "weights/dot.h"

namespace veloxquant {

namespace {

using blocks::half_at;
using blocks::u32_at;

// Σ_c w[c]·x[c] of one row and one token (cols = a.cols).
using RowDot = float (*)(const std::uint8_t* row, const ActivationBatch& a, std::size_t t);

template <RowDot kRow>
void rows(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
          std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  for (std::size_t r = r0; r < r1; ++r)
    for (std::size_t i = 0; i < nt; ++i) y[i * y_stride + r] = kRow(w + r * row_bytes, a, t0 + i);
}

template <float (*kValue)(const std::uint8_t*, std::size_t)>
float float_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {
  const float* x = a.x_of(t);
  double s = 0.0;
  for (std::size_t c = 0; c < a.cols; ++c) s += static_cast<double>(kValue(row, c)) * x[c];
  return static_cast<float>(s);
}
float f32_value(const std::uint8_t* row, std::size_t c) {
  float v;
  std::memcpy(&v, row + 4 * c, 4);
  return v;
}
float f16_value(const std::uint8_t* row, std::size_t c) { return half_at(row + 2 * c); }
float bf16_value(const std::uint8_t* row, std::size_t c) { return bf16_to_float(load_u16(row + 2 * c)); }

// --- blocks of 32, dotted with kQ8Blocks activations -------------------------------------------

// Levels of the 32 elements of a nibble block (low nibbles first).
void nibbles(const std::uint8_t* qs, int* level) {
  for (std::size_t j = 0; j < 16; ++j) {
    level[j] = qs[j] & 0xF;
    level[j + 16] = qs[j] >> 4;
  }
}
void add_high_bits(const std::uint8_t* qh, int* level) {
  const std::uint32_t bits = u32_at(qh);
  for (std::size_t j = 0; j < 32; ++j) level[j] |= static_cast<int>((bits >> j) & 1) << 4;
}
int dot32(const int* level, int offset, const std::int8_t* x) {
  int s = 0;
  for (std::size_t j = 0; j < 32; ++j) s += (level[j] - offset) * x[j];
  return s;
}

float q8_0_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {
  using L = blocks::Q8_0;
  const std::int8_t* x = a.q_of(t);
  const float* dx = a.d_of(t);
  float acc = 0.0f;
  for (std::size_t b = 0; b < a.cols / 32; ++b, row += L::kBytes) {
    int s = 0;
    for (std::size_t j = 0; j < 32; ++j) s += static_cast<std::int8_t>(row[L::kQs + j]) * x[32 * b + j];
    acc += half_at(row + L::kD) * dx[b] * static_cast<float>(s);
  }
  return acc;
}

// A block of 32 as integer levels: nibbles (low: elements 0..15), a fifth bit from qh when kQh
// is not 0, minus kOffset, or mapped through the iq4_nl values (kNonLinear); plus a min at kM.
template <std::size_t kBytes, std::size_t kD, std::size_t kM, std::size_t kQh, std::size_t kQs, int kOffset,
          bool kNonLinear = false>
float blocks32_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {
  const std::int8_t* x = a.q_of(t);
  const float* dx = a.d_of(t);
  const std::int16_t* sx = a.sums_of(t);
  float acc = 0.0f;
  for (std::size_t b = 0; b < a.cols / 32; ++b, row += kBytes) {
    int level[32];
    nibbles(row + kQs, level);
    if (kQh != 0) add_high_bits(row + kQh, level);
    if (kNonLinear)
      for (int& l : level) l = blocks::kIq4nlValues[l];
    const float sum = half_at(row + kD) * dx[b] * static_cast<float>(dot32(level, kOffset, x + 32 * b));
    acc += kM != 0 ? sum + half_at(row + kM) * dx[b] * static_cast<float>(sx[b]) : sum;
  }
  return acc;
}

// --- super-blocks of 256, dotted with kQ8K activations --------------------------------------------

// The unsigned levels of a super-block's 256 elements (block_layout.h).
void q2k_levels(const std::uint8_t* b, int* level) {
  for (std::size_t e = 0; e < 256; ++e)
    level[e] = (b[blocks::Q2_K::kQs + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

float q2_K_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {
  using L = blocks::Q2_K;
  float acc = 0.0f;
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += L::kBytes) {
    const std::int8_t* x = a.q_of(t) + 256 * b;
    const std::int16_t* bsum = a.sums_of(t) + 16 * b;
    int level[256];
    q2k_levels(row, level);
    int isum = 0, msum = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      int s = 0;
      for (std::size_t l = 0; l < 16; ++l) s += level[16 * j + l] * x[16 * j + l];
      isum += (row[L::kScales + j] & 0xF) * s;
      msum += (row[L::kScales + j] >> 4) * bsum[j];
    }
    const float dx = a.d_of(t)[b];
    acc +=
        half_at(row + L::kD) * dx * static_cast<float>(isum) - half_at(row + L::kDmin) * dx * static_cast<float>(msum);
  }
  return acc;
}

float q3_K_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {
  using L = blocks::Q3_K;
  float acc = 0.0f;
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += L::kBytes) {
    const std::int8_t* x = a.q_of(t) + 256 * b;
    int level[256];
    for (std::size_t e = 0; e < 256; ++e) {
      const int low = (row[L::kQs + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
      const int high = (row[L::kHmask + e % 32] >> (e / 32)) & 1;
      level[e] = low + 4 * high - 4;
    }
    int isum = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      int s = 0;
      for (std::size_t l = 0; l < 16; ++l) s += level[16 * j + l] * x[16 * j + l];
      isum += (blocks::q3k_scale(j, row + L::kScales) - 32) * s;
    }
    acc += half_at(row + L::kD) * a.d_of(t)[b] * static_cast<float>(isum);
  }
  return acc;
}

template <bool kFive>
float k4_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {  // q4_K, q5_K
  const std::size_t bytes = kFive ? blocks::Q5_K::kBytes : blocks::Q4_K::kBytes;
  const std::size_t qs = kFive ? blocks::Q5_K::kQs : blocks::Q4_K::kQs;
  float acc = 0.0f;
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += bytes) {
    const std::int8_t* x = a.q_of(t) + 256 * b;
    const std::int16_t* bsum = a.sums_of(t) + 16 * b;
    int isum = 0, msum = 0;
    for (std::size_t j = 0; j < 8; ++j) {
      std::uint8_t sc, m;
      blocks::k4_scale_min(j, row + blocks::Q4_K::kScales, sc, m);
      int s = 0;
      for (std::size_t l = 0; l < 32; ++l) {
        const std::uint8_t byte = row[qs + 32 * (j / 2) + l];
        int level = j % 2 == 0 ? byte & 0xF : byte >> 4;
        if (kFive) level |= ((row[blocks::Q5_K::kQh + l] >> j) & 1) << 4;
        s += level * x[32 * j + l];
      }
      isum += sc * s;
      msum += m * (bsum[2 * j] + bsum[2 * j + 1]);
    }
    const float dx = a.d_of(t)[b];
    acc += half_at(row + blocks::Q4_K::kD) * dx * static_cast<float>(isum) -
           half_at(row + blocks::Q4_K::kDmin) * dx * static_cast<float>(msum);
  }
  return acc;
}

float q6_K_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {
  using L = blocks::Q6_K;
  float acc = 0.0f;
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += L::kBytes) {
    const std::int8_t* x = a.q_of(t) + 256 * b;
    int isum = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      int s = 0;
      for (std::size_t l = 0; l < 16; ++l) {
        const std::size_t e = 16 * j + l, h = e / 128, k = (e % 128) / 32, i = e % 32;
        const std::uint8_t byte = row[L::kQl + 64 * h + i + 32 * (k & 1)];
        const int low = k < 2 ? byte & 0xF : byte >> 4;
        const int high = (row[L::kQh + 32 * h + i] >> (2 * k)) & 3;
        s += ((low | (high << 4)) - 32) * x[e];
      }
      isum += static_cast<std::int8_t>(row[L::kScales + j]) * s;
    }
    acc += half_at(row + L::kD) * a.d_of(t)[b] * static_cast<float>(isum);
  }
  return acc;
}

float iq4_xs_row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t) {
  using L = blocks::IQ4_XS;
  float acc = 0.0f;
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += L::kBytes) {
    const std::int8_t* x = a.q_of(t) + 256 * b;
    const std::uint16_t scales_h = load_u16(row + L::kScalesH);
    int isum = 0;
    for (std::size_t j = 0; j < 8; ++j) {
      int s = 0;
      for (std::size_t l = 0; l < 16; ++l) {
        const std::uint8_t byte = row[L::kQs + 16 * j + l];
        s += blocks::kIq4nlValues[byte & 0xF] * x[32 * j + l] + blocks::kIq4nlValues[byte >> 4] * x[32 * j + 16 + l];
      }
      isum += (blocks::iq4xs_scale(j, scales_h, row + L::kScalesL) - 32) * s;
    }
    acc += half_at(row + L::kD) * a.d_of(t)[b] * static_cast<float>(isum);
  }
  return acc;
}

}  // namespace

namespace dot_ref {
const DotRowsFn f32 = &rows<float_row<f32_value>>;
const DotRowsFn f16 = &rows<float_row<f16_value>>;
const DotRowsFn bf16 = &rows<float_row<bf16_value>>;
const DotRowsFn q8_0 = &rows<q8_0_row>;
using blocks::IQ4_NL;
using blocks::Q4_0;
using blocks::Q4_1;
using blocks::Q5_0;
using blocks::Q5_1;
const DotRowsFn q4_0 = &rows<blocks32_row<Q4_0::kBytes, Q4_0::kD, 0, 0, Q4_0::kQs, 8>>;
const DotRowsFn q4_1 = &rows<blocks32_row<Q4_1::kBytes, Q4_1::kD, Q4_1::kM, 0, Q4_1::kQs, 0>>;
const DotRowsFn q5_0 = &rows<blocks32_row<Q5_0::kBytes, Q5_0::kD, 0, Q5_0::kQh, Q5_0::kQs, 16>>;
const DotRowsFn q5_1 = &rows<blocks32_row<Q5_1::kBytes, Q5_1::kD, Q5_1::kM, Q5_1::kQh, Q5_1::kQs, 0>>;
const DotRowsFn iq4_nl = &rows<blocks32_row<IQ4_NL::kBytes, IQ4_NL::kD, 0, 0, IQ4_NL::kQs, 0, true>>;
const DotRowsFn q2_K = &rows<q2_K_row>;
const DotRowsFn q3_K = &rows<q3_K_row>;
const DotRowsFn q4_K = &rows<k4_row<false>>;
const DotRowsFn q5_K = &rows<k4_row<true>>;
const DotRowsFn q6_K = &rows<q6_K_row>;
const DotRowsFn iq4_xs = &rows<iq4_xs_row>;
}  // namespace dot_ref

}  // namespace veloxquant
