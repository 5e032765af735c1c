#include "quant/int8_score.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace veloxquant {

Int8Codebook make_int8_codebook(const float* centroids, int bits) {
  Int8Codebook cb;
  float cmax = 0.0f;
  for (int k = 0; k < (1 << bits); ++k) cmax = std::max(cmax, std::fabs(centroids[k]));
  cb.scale = cmax / 127.0f;
  for (int k = 0; k < (1 << bits); ++k)
    cb.table[k] = static_cast<std::uint8_t>(128 + (cmax > 0 ? std::lround(centroids[k] / cb.scale) : 0));
  return cb;
}

void score_planes_int8(const kernels::PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n,
                       std::size_t n_q, const float* q, std::size_t q_stride, float* out) {
  const std::size_t dim = codes.dim;
  thread_local std::vector<std::int8_t> q8;
  thread_local std::vector<std::int32_t> raw;
  thread_local std::vector<float> query_scale;
  thread_local std::vector<std::int32_t> query_sum;
  q8.resize(n_q * dim);
  raw.resize(n_q * n);
  query_scale.resize(n_q);
  query_sum.resize(n_q);
  for (std::size_t i = 0; i < n_q; ++i) {
    const float* qi = q + i * q_stride;
    float qmax = 0.0f;
    for (std::size_t j = 0; j < dim; ++j) qmax = std::max(qmax, std::fabs(qi[j]));
    const float inv = qmax > 0 ? 127.0f / qmax : 0.0f;
    std::int32_t sum = 0;
    for (std::size_t j = 0; j < dim; ++j) {
      const float v = qi[j] * inv;  // in [−127, 127]; rounded half away from zero, inline (no libm call)
      q8[i * dim + j] = static_cast<std::int8_t>(v + (v >= 0.0f ? 0.5f : -0.5f));
      sum += q8[i * dim + j];
    }
    query_scale[i] = qmax / 127.0f * codebook.scale;
    query_sum[i] = sum;
  }
  kernels::score_planes_u8(codes, codebook.table, n, n_q, q8.data(), raw.data());
  thread_local std::vector<float> record_scales;
  record_scales.resize(n);
  for (std::size_t t = 0; t < n; ++t) record_scales[t] = kernels::record_scale(codes, t);
  for (std::size_t i = 0; i < n_q; ++i) {  // contiguous rows: vectorises
    const float qs = query_scale[i];
    const std::int32_t offset = 128 * query_sum[i];
    const std::int32_t* r = raw.data() + i * n;
    float* o = out + i * n;
    for (std::size_t t = 0; t < n; ++t) o[t] = record_scales[t] * qs * static_cast<float>(r[t] - offset);
  }
}

}  // namespace veloxquant
