#include "quant/int8_score.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/half.h"

namespace veloxquant {

namespace {

// The fp16 scales of n records as floats (all 1 without scales), converted with SIMD.
void record_scales_of(const kernels::PlaneCodes& codes, std::size_t n, std::vector<float>& out) {
  out.assign(n, 1.0f);
  if (codes.scale_offset < 0) return;
  thread_local std::vector<std::uint16_t> halves;
  halves.resize(n);
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint8_t* rec = codes.records + t * codes.stride;
    __builtin_prefetch(rec + 4096);  // this is the first touch of a block of records streaming from DRAM
    halves[t] = load_u16(rec + codes.scale_offset);
  }
  kernels::halves_to_floats(n, halves.data(), out.data());
}

}  // namespace

Int8Codebook make_int8_codebook(const float* centroids, int bits) {
  Int8Codebook cb;
  float cmax = 0.0f;
  for (int k = 0; k < (1 << bits); ++k) cmax = std::max(cmax, std::fabs(centroids[k]));
  cb.scale = cmax / 127.0f;
  for (int k = 0; k < (1 << bits); ++k) {
    const long v = cmax > 0 ? std::lround(centroids[k] / cb.scale) : 0;
    cb.table[k] = static_cast<std::uint8_t>(128 + v);
    cb.values[k] = static_cast<std::int8_t>(v);
  }
  return cb;
}

void score_planes_int8(const kernels::PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n,
                       std::size_t n_q, const float* q, std::size_t q_stride, float* out) {
  const std::size_t dim = codes.dim;
  thread_local std::vector<std::int8_t> q8;
  thread_local std::vector<std::int32_t> raw;
  thread_local std::vector<float> query_scale;
  thread_local std::vector<std::int32_t> query_sum;
  thread_local std::vector<std::int16_t> rounded;
  rounded.resize(dim);
  q8.resize(n_q * dim);
  raw.resize(n_q * n);
  query_scale.resize(n_q);
  query_sum.resize(n_q);
  thread_local std::vector<std::size_t> float_rows;
  float_rows.clear();
  for (std::size_t i = 0; i < n_q; ++i) {
    const float* qi = q + i * q_stride;
    std::int8_t* qo = q8.data() + i * dim;  // a local pointer: no thread-local lookup per element
    const float qmax = kernels::max_abs(dim, qi);
    const float inv = qmax > 0 ? 127.0f / qmax : 0.0f;
    if (!std::isfinite(qmax) || !std::isfinite(inv)) {  // NaN/Inf, or so small that 127/max overflows:
      float_rows.push_back(i);                          // the float path (rounding would be undefined)
      std::fill_n(qo, dim, std::int8_t{0});
      query_scale[i] = 0.0f;
      query_sum[i] = 0;
      continue;
    }
    kernels::round_to_i16(dim, qi, inv, rounded.data());  // in [−127, 127], half away from zero
    const std::int16_t* r16 = rounded.data();
    std::int32_t sum = 0;
    for (std::size_t j = 0; j < dim; ++j) {
      qo[j] = static_cast<std::int8_t>(r16[j]);
      sum += r16[j];
    }
    query_scale[i] = qmax / 127.0f * codebook.scale;
    query_sum[i] = sum;
  }
  kernels::score_planes_u8(codes, codebook.table, n, n_q, q8.data(), raw.data());
  thread_local std::vector<float> record_scales;
  record_scales_of(codes, n, record_scales);  // after the kernel, which streamed the records in
  for (std::size_t i = 0; i < n_q; ++i) {  // contiguous rows: vectorises
    const float qs = query_scale[i];
    const std::int32_t offset = 128 * query_sum[i];
    const std::int32_t* r = raw.data() + i * n;
    const float* rs = record_scales.data();
    float* o = out + i * n;
    for (std::size_t t = 0; t < n; ++t) o[t] = rs[t] * qs * static_cast<float>(r[t] - offset);
  }
  for (std::size_t i : float_rows) kernels::score_planes(codes, n, 1, q + i * q_stride, q_stride, out + i * n);
}

void accumulate_planes_int16(const kernels::PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n,
                             std::size_t n_q, const float* w, float* acc, std::size_t acc_stride) {
  constexpr std::size_t kChunk = 512;  // int32 sums of 16-bit weights times int8 values stay exact
  const std::size_t dim = codes.dim;
  thread_local std::vector<std::int16_t> w16;
  thread_local std::vector<std::int32_t> sums;
  thread_local std::vector<float> scaled, record_scales, factor;
  for (std::size_t c0 = 0; c0 < n; c0 += kChunk) {
    const std::size_t m = std::min(kChunk, n - c0), m2 = (m + 1) / 2 * 2;
    kernels::PlaneCodes part = codes;
    part.records += c0 * codes.stride;
    record_scales_of(part, m, record_scales);
    scaled.resize(m);
    w16.assign(n_q * m2, 0);
    sums.assign(n_q * dim, 0);
    factor.assign(n_q, 0.0f);
    for (std::size_t i = 0; i < n_q; ++i) {
      const float* wi = w + i * n + c0;
      const float wmax = kernels::scale_max_abs(m, wi, record_scales.data(), scaled.data());
      // Non-finite weights keep the float semantics (NaN/Inf propagate); so do weights so small
      // (below ~1e-34) that 32767/max overflows, where rounding would be undefined.
      if (!std::isfinite(wmax) || !std::isfinite(32767.0f / wmax)) {
        kernels::accumulate_planes(part, m, 1, wi, acc + i * acc_stride, acc_stride);
        continue;
      }
      if (wmax == 0.0f) continue;
      kernels::round_to_i16(m, scaled.data(), 32767.0f / wmax, w16.data() + i * m2);
      factor[i] = wmax / 32767.0f * codebook.scale;
    }
    kernels::accumulate_planes_i16(part, codebook.values, m, n_q, w16.data(), sums.data(), dim);
    for (std::size_t i = 0; i < n_q; ++i) {
      const float f = factor[i];
      if (f == 0.0f) continue;
      kernels::add_scaled_ints(dim, sums.data() + i * dim, f, acc + i * acc_stride);
    }
  }
}

}  // namespace veloxquant
