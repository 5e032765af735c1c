// Scalar references of the kernels: the definition of what every SIMD target must compute.
#include <cmath>
#include <vector>

#include "kernels/kernels.h"
#include "pack/bitplane.h"
#include "util/half.h"

namespace veloxquant::kernels::ref {

namespace {
float centroid(const PlaneCodes& c, std::size_t t, std::size_t j) {
  return c.centroids[plane_code(c.records + t * c.stride + c.offset, c.dim, c.bits, j)] * record_scale(c, t);
}
}  // namespace

void score_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* q, std::size_t q_stride,
                  float* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      float s = 0.0f;
      for (std::size_t j = 0; j < codes.dim; ++j) s += q[i * q_stride + j] * centroid(codes, t, j);
      out[i * n + t] = s;
    }
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

void round_to_i16(std::size_t n, const float* x, float factor, std::int16_t* out) {
  for (std::size_t t = 0; t < n; ++t) {
    const float v = x[t] * factor;
    out[t] = static_cast<std::int16_t>(v + (v >= 0.0f ? 0.5f : -0.5f));
  }
}

void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < codes.dim; ++j) acc[i * acc_stride + j] += w[i * n + t] * centroid(codes, t, j);
}

void score_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
               std::size_t q_stride, float* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      float s = 0.0f;
      for (std::size_t j = 0; j < dim; ++j) s += q[i * q_stride + j] * x[t * stride + j];
      out[i * n + t] = s;
    }
}

void accumulate_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                    const float* w, float* acc, std::size_t acc_stride) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < dim; ++j) acc[i * acc_stride + j] += w[i * n + t] * x[t * stride + j];
}

void score_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
               const float* q, std::size_t q_stride, float* out) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t) {
      float s = 0.0f;
      for (std::size_t j = 0; j < dim; ++j) s += q[i * q_stride + j] * half_to_float(x[t * stride + j]);
      out[i * n + t] = s;
    }
}

void accumulate_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                    const float* w, float* acc, std::size_t acc_stride) {
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t t = 0; t < n; ++t)
      for (std::size_t j = 0; j < dim; ++j)
        acc[i * acc_stride + j] += w[i * n + t] * half_to_float(x[t * stride + j]);
}

void quantize_to_planes(std::size_t dim, const float* y, const float* boundaries, int bits, std::uint8_t* planes,
                        const float* centroids, float* dots) {
  std::vector<std::uint8_t> codes(dim);
  const int n_boundaries = (1 << bits) - 1;
  float yc = 0.0f, cc = 0.0f;
  for (std::size_t j = 0; j < dim; ++j) {
    int idx = 0;
    for (int k = 0; k < n_boundaries; ++k) idx += y[j] > boundaries[k];
    codes[j] = static_cast<std::uint8_t>(idx);
    if (centroids) {
      yc += y[j] * centroids[idx];
      cc += centroids[idx] * centroids[idx];
    }
  }
  pack_planes(dim, codes.data(), bits, planes);
  if (centroids) {
    dots[0] = yc;
    dots[1] = cc;
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
    for (std::size_t r = 0; r < rows; ++r) {
      float s = 0.0f;
      for (std::size_t c = 0; c < cols; ++c) s += m[r * cols + c] * x[t * cols + c];
      tmp[r] = s;
    }
    for (std::size_t r = 0; r < rows; ++r) y[t * rows + r] = tmp[r];
  }
}

void matmul_rows_transposed(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x,
                            float* y) {
  std::vector<float> tmp(cols);
  for (std::size_t t = 0; t < n; ++t) {
    for (std::size_t c = 0; c < cols; ++c) tmp[c] = 0.0f;
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c) tmp[c] += m[r * cols + c] * x[t * rows + r];
    for (std::size_t c = 0; c < cols; ++c) y[t * cols + c] = tmp[c];
  }
}

}  // namespace veloxquant::kernels::ref
