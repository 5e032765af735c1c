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
  if (bits <= 4) int8_ = make_int8_codebook(codebook_->centroids.data(), bits);
}

kernels::PlaneCodes TurboMseCore::planes(const std::uint8_t* recs, std::size_t stride) const {
  return kernels::PlaneCodes{recs, stride, 2, dim_, bits_, codebook_->centroids.data(), 0};
}

float TurboMseCore::encode(const float* x, std::uint8_t* rec, float* work, float* residual) const {
  float sum_sq = 0.0f;  // SIMD sum of squares; an overflow to Inf is caught by the scale check below
  kernels::score_f32(x, dim_, dim_, 1, 1, x, dim_, &sum_sq);
  const double norm = std::sqrt(static_cast<double>(sum_sq));
  if (norm == 0.0) {  // a zero vector decodes to zero
    std::fill(rec, rec + code_size(), std::uint8_t{0});
    if (residual) std::fill(residual, residual + dim_, 0.0f);
    return 0.0f;
  }
  const float inv = static_cast<float>(1.0 / norm);
  for (std::size_t j = 0; j < dim_; ++j) work[j] = x[j] * inv;
  rotation_.apply(1, work, work);
  // ⟨y, c⟩ and ‖c‖² of the chosen centroids come out of the quantizing pass itself.
  float dots[2] = {0.0f, 0.0f};
  kernels::quantize_to_planes(dim_, work, codebook_->boundaries.data(), bits_, rec + 2, codebook_->centroids.data(),
                              dots);
  double alpha = 1.0;  // scale of the unit vector's reconstruction
  if (norm_correction_ && dots[1] > 0.0f) alpha = dots[0] / dots[1];
  if (residual) {
    std::fill(residual, residual + dim_, 0.0f);
    const float minus_alpha = static_cast<float>(-alpha);
    kernels::PlaneCodes unscaled = planes(rec, code_size());
    unscaled.scale_offset = -1;
    kernels::accumulate_planes(unscaled, 1, 1, &minus_alpha, residual, dim_);
    for (std::size_t j = 0; j < dim_; ++j) residual[j] += work[j];
  }
  const float scale = static_cast<float>(norm * alpha);
  const std::uint16_t h = float_to_half(scale);
  if (std::isinf(half_to_float(h)) || !std::isfinite(scale))
    throw std::invalid_argument("TurboQuant encode: norm " + std::to_string(norm) +
                                " exceeds the fp16 scale range (max 65504)");
  store_u16(rec, h);
  return static_cast<float>(norm);
}

void TurboMseCore::decode_rotated(std::size_t n, const std::uint8_t* recs, std::size_t stride, float* out) const {
  const float one = 1.0f;
  for (std::size_t t = 0; t < n; ++t) {
    float* o = out + t * dim_;
    std::fill(o, o + dim_, 0.0f);
    kernels::accumulate_planes(planes(recs + t * stride, stride), 1, 1, &one, o, dim_);
  }
}

void TurboMseCore::score(std::size_t n_q, const float* q, std::size_t q_stride, std::size_t n,
                         const std::uint8_t* recs, std::size_t stride, float* out) const {
  if (bits_ <= 4) {
    score_planes_int8(planes(recs, stride), int8_, n, n_q, q, q_stride, out);
  } else {
    kernels::score_planes(planes(recs, stride), n, n_q, q, q_stride, out);
  }
}

void TurboMseCore::accumulate(std::size_t n_q, const float* w, std::size_t n, const std::uint8_t* recs,
                              std::size_t stride, float* acc, std::size_t acc_stride) const {
  if (bits_ <= 4) {
    accumulate_planes_int16(planes(recs, stride), int8_, n, n_q, w, acc, acc_stride);
  } else {
    kernels::accumulate_planes(planes(recs, stride), n, n_q, w, acc, acc_stride);
  }
}

const Int8Codebook& SignSketch::int8() {
  static const Int8Codebook codebook = make_int8_codebook(kPlusMinus, 1);
  return codebook;
}

void SignSketch::encode(std::size_t m, const float* v, std::uint8_t* planes) {
  const float zero = 0.0f;
  kernels::quantize_to_planes(m, v, &zero, 1, planes);
}

}  // namespace veloxquant
