#include "quant/turboquant_core.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "quant/quantizers.h"
#include "util/half.h"

namespace veloxquant {

TurboMseCore::TurboMseCore(std::size_t dim, int bits, std::uint64_t rotation_seed, bool norm_correction)
    : dim_(dim), bits_(bits), norm_correction_(norm_correction), rotation_(dim, rotation_seed) {
  if (dim < 2) throw std::invalid_argument("TurboQuant needs dim >= 2, got " + std::to_string(dim));
  codebook_ = &sphere_codebook(dim, bits);
}

kernels::PlaneCodes TurboMseCore::planes(const std::uint8_t* recs, std::size_t stride) const {
  return kernels::PlaneCodes{recs, stride, 2, dim_, bits_, codebook_->centroids.data()};
}

float TurboMseCore::encode(const float* x, std::uint8_t* rec, float* work, float* residual) const {
  double sum = 0.0;
  for (std::size_t j = 0; j < dim_; ++j) sum += static_cast<double>(x[j]) * x[j];
  const double norm = std::sqrt(sum);
  if (norm == 0.0) {  // a zero vector decodes to zero
    std::fill(rec, rec + code_size(), std::uint8_t{0});
    if (residual) std::fill(residual, residual + dim_, 0.0f);
    return 0.0f;
  }
  const float inv = static_cast<float>(1.0 / norm);
  for (std::size_t j = 0; j < dim_; ++j) work[j] = x[j] * inv;
  rotation_.apply(1, work, work);
  kernels::quantize_to_planes(dim_, work, codebook_->boundaries.data(), bits_, rec + 2);
  double alpha = 1.0;  // scale of the unit vector's reconstruction
  if (norm_correction_ || residual) {
    // ⟨y, c⟩ and ‖c‖² straight from the codes with the score kernel.
    float yc = 0.0f, cc = 0.0f;
    const kernels::PlaneCodes p = planes(rec, code_size());
    kernels::score_planes(p, 1, 1, work, dim_, &yc);
    float* c = scratch_floats(3, dim_);
    for (std::size_t j = 0; j < dim_; ++j) c[j] = 0.0f;
    const float one = 1.0f;
    kernels::accumulate_planes(p, 1, 1, &one, c, dim_);
    for (std::size_t j = 0; j < dim_; ++j) cc += c[j] * c[j];
    if (norm_correction_ && cc > 0.0f) alpha = yc / cc;
    if (residual)
      for (std::size_t j = 0; j < dim_; ++j) residual[j] = work[j] - static_cast<float>(alpha) * c[j];
  }
  const float scale = static_cast<float>(norm * alpha);
  const std::uint16_t h = float_to_half(scale);
  if (std::isinf(half_to_float(h)))
    throw std::invalid_argument("TurboQuant encode: norm " + std::to_string(norm) +
                                " exceeds the fp16 scale range (max 65504)");
  store_u16(rec, h);
  return static_cast<float>(norm);
}

void TurboMseCore::decode_rotated(std::size_t n, const std::uint8_t* recs, std::size_t stride, float* out) const {
  const kernels::PlaneCodes p = planes(recs, stride);
  for (std::size_t t = 0; t < n; ++t) {
    float* o = out + t * dim_;
    for (std::size_t j = 0; j < dim_; ++j) o[j] = 0.0f;
    const float s = half_to_float(load_u16(recs + t * stride));
    kernels::PlaneCodes one = p;
    one.records = recs + t * stride;
    kernels::accumulate_planes(one, 1, 1, &s, o, dim_);
  }
}

void TurboMseCore::score(std::size_t n_q, const float* q, std::size_t q_stride, std::size_t n,
                         const std::uint8_t* recs, std::size_t stride, float* out) const {
  kernels::score_planes(planes(recs, stride), n, n_q, q, q_stride, out);
  for (std::size_t t = 0; t < n; ++t) {
    const float s = half_to_float(load_u16(recs + t * stride));
    for (std::size_t i = 0; i < n_q; ++i) out[i * n + t] *= s;
  }
}

void TurboMseCore::accumulate(std::size_t n_q, const float* w, std::size_t n, const std::uint8_t* recs,
                              std::size_t stride, float* acc, std::size_t acc_stride) const {
  float* scaled = scratch_floats(2, n_q * n);
  for (std::size_t t = 0; t < n; ++t) {
    const float s = half_to_float(load_u16(recs + t * stride));
    for (std::size_t i = 0; i < n_q; ++i) scaled[i * n + t] = w[i * n + t] * s;
  }
  kernels::accumulate_planes(planes(recs, stride), n, n_q, scaled, acc, acc_stride);
}

void SignSketch::encode(std::size_t m, const float* v, std::uint8_t* planes) {
  const float zero = 0.0f;
  kernels::quantize_to_planes(m, v, &zero, 1, planes);
}

}  // namespace veloxquant
