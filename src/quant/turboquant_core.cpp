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
  for (float c : codebook_->centroids) centroid_squares_.push_back(c * c);
  ones_.assign(dim, 1.0f);
  if (bits <= 4) int8_ = make_int8_codebook(codebook_->centroids.data(), bits);
}

kernels::PlaneCodes TurboMseCore::planes(const std::uint8_t* recs, std::size_t stride) const {
  return kernels::PlaneCodes{recs, stride, 2, dim_, bits_, codebook_->centroids.data()};
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
  kernels::quantize_to_planes(dim_, work, codebook_->boundaries.data(), bits_, rec + 2);
  double alpha = 1.0;  // scale of the unit vector's reconstruction
  if (norm_correction_) {
    // ⟨y, c⟩ and ‖c‖² = ⟨1, c²⟩ straight from the codes with the score kernel.
    float yc = 0.0f, cc = 0.0f;
    kernels::score_planes(planes(rec, code_size()), 1, 1, work, dim_, &yc);
    kernels::PlaneCodes squares = planes(rec, code_size());
    squares.centroids = centroid_squares_.data();
    kernels::score_planes(squares, 1, 1, ones_.data(), dim_, &cc);
    if (cc > 0.0f) alpha = yc / cc;
  }
  if (residual) {
    std::fill(residual, residual + dim_, 0.0f);
    const float minus_alpha = static_cast<float>(-alpha);
    kernels::accumulate_planes(planes(rec, code_size()), 1, 1, &minus_alpha, residual, dim_);
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
  if (bits_ <= 4) {
    score_planes_int8(planes(recs, stride), int8_, n, n_q, q, q_stride, out);
  } else {
    kernels::score_planes(planes(recs, stride), n, n_q, q, q_stride, out);
  }
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

const Int8Codebook& SignSketch::int8() {
  static const Int8Codebook codebook = make_int8_codebook(kPlusMinus, 1);
  return codebook;
}

void SignSketch::encode(std::size_t m, const float* v, std::uint8_t* planes) {
  const float zero = 0.0f;
  kernels::quantize_to_planes(m, v, &zero, 1, planes);
}

}  // namespace veloxquant
