// Scalar references of the kernels: the definition of what every SIMD target must compute.
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "kernels/canonical.h"
#include "kernels/kernels.h"
#include "pack/bitplane.h"
#include "pack/plane_blocks.h"
#include "util/half.h"

namespace veloxquant::kernels {

float tree_sum(float (&lanes)[kSumLanes]) {
  for (std::size_t h = kSumLanes / 2; h >= 1; h /= 2)
    for (std::size_t l = 0; l < h; ++l) lanes[l] += lanes[l + h];
  return lanes[0];
}

float exp_nonpositive(float x) {
  if (!(x >= kExpFloor)) return 0.0f;  // also −∞ and NaN
  const float k = std::nearbyint(x * kLog2e);
  float r = std::fma(k, -kLn2Hi, x);
  r = std::fma(k, -kLn2Lo, r);
  float p = kExpPoly[0];
  for (std::size_t i = 1; i < std::size(kExpPoly); ++i) p = std::fma(p, r, kExpPoly[i]);
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(k) + 127) << 23;
  float two_k;
  std::memcpy(&two_k, &bits, sizeof two_k);
  return p * two_k;
}

namespace ref {

namespace {

float raw_centroid(const PlaneCodes& c, std::size_t t, std::size_t j) {
  return c.centroids[plane_code(c.records + t * c.stride + c.offset, c.dim, c.bits, j)];
}

}  // namespace

void score_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* q, std::size_t q_stride,
                  float* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      out[i * n + t] = lane_dot(
                           codes.dim, [&](std::size_t j) { return q[i * q_stride + j]; },
                           [&](std::size_t j) { return raw_centroid(codes, t, j); }) *
                       record_scale(codes, t);
}

void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      std::int32_t s = 0;
      const std::uint8_t* planes = codes.records + t * codes.stride + codes.offset;
      for (std::size_t j = 0; j < codes.dim; ++j)
        s += table[plane_code(planes, codes.dim, codes.bits, j)] * static_cast<std::int32_t>(q8[i * codes.dim + j]);
      out[i * n + t] = s;
    }
}

void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  const std::size_t n = kBlockRecords * n_blocks, q_row = 8 * plane_bytes(codes.dim);
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      const std::uint8_t* planes = codes.blocks + t / kBlockRecords * codes.block_bytes + codes.offset;
      std::int32_t s = 0;
      for (std::size_t j = 0; j < codes.dim; ++j)
        s += table[block_plane_code(BlockOrder::kKeys, planes, codes.bits, t % kBlockRecords, j)] *
             static_cast<std::int32_t>(q8[i * q_row + j]);
      out[i * n + t] = s;
    }
}

void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  const std::size_t n = kBlockRecords * n_blocks;
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      const std::uint8_t* planes = codes.blocks + t / kBlockRecords * codes.block_bytes + codes.offset;
      const std::int32_t w = w16[i * n + t];
      for (std::size_t j = 0; j < codes.dim; ++j)
        acc[i * acc_stride + j] +=
            w * table[block_plane_code(BlockOrder::kValues, planes, codes.bits, t % kBlockRecords, j)];
    }
}

void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  const std::size_t n2 = (n + 1) / 2 * 2;
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      const std::uint8_t* planes = codes.records + t * codes.stride + codes.offset;
      const std::int32_t w = w16[i * n2 + t];
      for (std::size_t j = 0; j < codes.dim; ++j)
        acc[i * acc_stride + j] += w * table[plane_code(planes, codes.dim, codes.bits, j)];
    }
}

float max_abs(std::size_t n, const float* x) {
  float m = 0.0f;
  for (std::size_t t = 0; t < n; ++t) m = std::fmax(m, std::fabs(x[t]));
  return m;
}

float dot(std::size_t n, const float* a, const float* b) {
  return lane_dot(
      n, [a](std::size_t j) { return a[j]; }, [b](std::size_t j) { return b[j]; });
}

void multiply(std::size_t n, const float* x, float f, float* out) {
  for (std::size_t t = 0; t < n; ++t) out[t] = x[t] * f;
}

bool any_abs_above(std::size_t n, const float* x, float bound) {
  for (std::size_t t = 0; t < n; ++t)
    if (!(std::fabs(x[t]) <= bound)) return true;  // NaN compares false
  return false;
}

float scale_max_abs(std::size_t n, const float* w, const float* s, float* out) {
  float m = 0.0f;
  for (std::size_t t = 0; t < n; ++t) {
    out[t] = w[t] * s[t];
    if (!std::isfinite(out[t])) m = std::numeric_limits<float>::infinity();
    m = std::fmax(m, std::fabs(out[t]));
  }
  return m;
}

void add_scaled_ints(std::size_t n, const std::int32_t* x, float f, float* acc) {
  for (std::size_t j = 0; j < n; ++j) acc[j] += f * static_cast<float>(x[j]);
}

void scale_ints(std::size_t n, const std::int32_t* x, std::int32_t offset, const float* s, float f, float* out) {
  for (std::size_t t = 0; t < n; ++t) out[t] = s[t] * f * static_cast<float>(x[t] - offset);
}

void round_to_i16(std::size_t n, const float* x, float factor, std::int16_t* out) {
  for (std::size_t t = 0; t < n; ++t) {
    const float v = x[t] * factor;
    out[t] = static_cast<std::int16_t>(v + (v >= 0.0f ? 0.5f : -0.5f));
  }
}

void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      const float wt = w[i * n + t] * record_scale(codes, t);
      for (std::size_t j = 0; j < codes.dim; ++j)
        acc[i * acc_stride + j] = std::fma(raw_centroid(codes, t, j), wt, acc[i * acc_stride + j]);
    }
}

void score_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
               std::size_t q_stride, float* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      out[i * n + t] = lane_dot(
          dim, [&](std::size_t j) { return q[i * q_stride + j]; }, [&](std::size_t j) { return x[t * stride + j]; });
}

void accumulate_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* w,
                    float* acc, std::size_t acc_stride) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < dim; ++j)
        acc[i * acc_stride + j] = std::fma(x[t * stride + j], w[i * n + t], acc[i * acc_stride + j]);
}

void score_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
               const float* q, std::size_t q_stride, float* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      out[i * n + t] = lane_dot(
          dim, [&](std::size_t j) { return q[i * q_stride + j]; },
          [&](std::size_t j) { return half_to_float(x[t * stride + j]); });
}

void accumulate_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                    const float* w, float* acc, std::size_t acc_stride) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < dim; ++j)
        acc[i * acc_stride + j] = std::fma(half_to_float(x[t * stride + j]), w[i * n + t], acc[i * acc_stride + j]);
}

void quantize_to_planes(std::size_t dim, const float* y, const float* boundaries, int bits, std::uint8_t* planes,
                        const float* centroids, float* dots) {
  std::vector<std::uint8_t> codes(dim);
  const int n_boundaries = (1 << bits) - 1;
  for (std::size_t j = 0; j < dim; ++j) {
    int idx = 0;
    for (int k = 0; k < n_boundaries; ++k) idx += y[j] > boundaries[k];
    codes[j] = static_cast<std::uint8_t>(idx);
  }
  pack_planes(dim, codes.data(), bits, planes);
  if (centroids) {
    auto c = [&](std::size_t j) { return centroids[codes[j]]; };
    dots[0] = lane_dot(
        dim, [&](std::size_t j) { return y[j]; }, c);
    dots[1] = lane_dot(dim, c, c);
  }
}

namespace {
void fwht(std::size_t dim, float* v) {
  for (std::size_t h = 1; h < dim; h *= 2)
    for (std::size_t i = 0; i < dim; i += 2 * h)
      for (std::size_t j = i; j < i + h; ++j) {
        const float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
}
}  // namespace

void hadamard_rotate(std::size_t n, std::size_t dim, const float* signs, const float* x, float* y) {
  const float norm = 1.0f / std::sqrt(static_cast<float>(dim));
  for (std::size_t t = 0; t < n; ++t) {
    float* v = y + t * dim;
    for (std::size_t j = 0; j < dim; ++j) v[j] = x[t * dim + j] * signs[j];
    fwht(dim, v);
    for (std::size_t j = 0; j < dim; ++j) v[j] *= norm;
  }
}

void hadamard_rotate_transpose(std::size_t n, std::size_t dim, const float* signs, const float* y, float* x) {
  const float norm = 1.0f / std::sqrt(static_cast<float>(dim));
  for (std::size_t t = 0; t < n; ++t) {
    float* v = x + t * dim;
    for (std::size_t j = 0; j < dim; ++j) v[j] = y[t * dim + j];
    fwht(dim, v);
    for (std::size_t j = 0; j < dim; ++j) v[j] *= norm * signs[j];
  }
}

void matmul_rows(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x, float* y) {
  std::vector<float> tmp(rows);  // x and y may alias
  for (std::size_t t = 0; t < n; ++t) {
    for (std::size_t r = 0; r < rows; ++r)
      tmp[r] = lane_dot(
          cols, [&](std::size_t c) { return x[t * cols + c]; }, [&](std::size_t c) { return m[r * cols + c]; });
    for (std::size_t r = 0; r < rows; ++r) y[t * rows + r] = tmp[r];
  }
}

void matmul_rows_transposed(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x,
                            float* y) {
  std::vector<float> tmp(cols);
  for (std::size_t t = 0; t < n; ++t) {
    for (std::size_t c = 0; c < cols; ++c) tmp[c] = 0.0f;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) tmp[c] = std::fma(m[r * cols + c], x[t * rows + r], tmp[c]);
    for (std::size_t c = 0; c < cols; ++c) y[t * cols + c] = tmp[c];
  }
}

float row_max(const float* s, std::size_t n) {
  float best = s[0];
  for (std::size_t t = 1; t < n; ++t) best = s[t] > best ? s[t] : best;
  return best;
}

float exp_row(float* s, std::size_t n, float scale, float shift) {
  float lanes[kSumLanes] = {};
  for (std::size_t t = 0; t < n; ++t) {
    s[t] = exp_nonpositive(s[t] * scale - shift);
    lanes[t % kSumLanes] += s[t];
  }
  return tree_sum(lanes);
}

}  // namespace ref
}  // namespace veloxquant::kernels
