#include "quant/turboquant_core.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "pack/bitplane.h"
#include "pack/plane_blocks.h"
#include "quant/quantizers.h"
#include "util/half.h"

namespace veloxquant {

TurboMseCore::TurboMseCore(std::size_t dim, int bits, std::uint64_t rotation_seed, bool norm_correction,
                           std::size_t extra)
    : dim_(dim), bits_(bits), norm_correction_(norm_correction), rotation_(dim, rotation_seed) {
  if (dim < 2) throw std::invalid_argument("TurboQuant needs dim >= 2, got " + std::to_string(dim));
  if (extra >= dim || (extra > 0 && bits >= 8))
    throw std::invalid_argument("TurboQuant: " + std::to_string(extra) + " coordinates at " + std::to_string(bits + 1) +
                                " bits do not fit dim " + std::to_string(dim) + " (need extra < dim, bits < 8)");
  std::size_t offset = 2;  // after the fp16 scale
  const std::size_t counts[2] = {extra, dim - extra};
  for (int p = 0; p < 2; ++p) {
    Part& part = parts_[p];
    part.first = p == 0 ? 0 : extra;
    part.count = counts[p];
    part.bits = p == 0 ? bits + 1 : bits;
    part.offset = offset;
    if (part.count == 0) continue;
    part.codebook = &sphere_codebook(dim, part.bits);  // every rotated coordinate follows f_dim
    if (part.bits <= kernels::kMaxInt8Bits)
      part.int8 = kernels::make_int8_codebook(part.codebook->centroids.data(), part.bits);
    offset += static_cast<std::size_t>(part.bits) * ((part.count + 7) / 8);
  }
  code_size_ = offset;
}

kernels::PlaneCodes TurboMseCore::planes(const Part& part, const std::uint8_t* recs, std::size_t stride) const {
  return kernels::PlaneCodes{recs, stride, part.offset, part.count, part.bits, part.codebook->centroids.data(), 0};
}

double TurboMseCore::normalize_rotate(const float* x, float* y) const {
  const float sum_sq = kernels::dot(dim_, x, x);  // an overflow to Inf is caught by the scale check
  const double norm = std::sqrt(static_cast<double>(sum_sq));
  if (norm == 0.0) {
    std::fill(y, y + dim_, 0.0f);
    return 0.0;
  }
  // Vector stores: the rotation reads y back in whole vectors, which narrower stores would not forward.
  kernels::multiply(dim_, x, static_cast<float>(1.0 / norm), y);
  rotation_.apply(1, y, y);
  return norm;
}

float TurboMseCore::encode(const float* x, std::uint8_t* rec, float* work, float* residual) const {
  const double norm = normalize_rotate(x, work);
  if (norm == 0.0) {  // a zero vector decodes to zero
    std::fill(rec, rec + code_size(), std::uint8_t{0});
    if (residual) std::fill(residual, residual + dim_, 0.0f);
    return 0.0f;
  }
  // ⟨y, c⟩ and ‖c‖² of the chosen centroids come out of the quantizing pass itself.
  float yc = 0.0f, cc = 0.0f;
  for (const Part& part : parts_) {
    if (part.count == 0) continue;
    float dots[2] = {0.0f, 0.0f};
    kernels::quantize_to_planes(part.count, work + part.first, part.codebook->boundaries.data(), part.bits,
                                rec + part.offset, part.codebook->centroids.data(), dots);
    yc += dots[0];
    cc += dots[1];
  }
  double alpha = 1.0;  // scale of the unit vector's reconstruction
  if (norm_correction_ && cc > 0.0f) alpha = yc / cc;
  if (residual) {
    std::fill(residual, residual + dim_, 0.0f);
    const float minus_alpha = static_cast<float>(-alpha);
    for (const Part& part : parts_) {
      if (part.count == 0) continue;
      kernels::PlaneCodes unscaled = planes(part, rec, code_size());
      unscaled.scale_offset = -1;
      kernels::accumulate_planes(unscaled, 1, 1, &minus_alpha, residual + part.first, dim_);
    }
    for (std::size_t j = 0; j < dim_; ++j) residual[j] += work[j];
  }
  store_scale(norm * alpha, rec);
  return static_cast<float>(norm);
}

bool TurboMseCore::scale_to_half(double value, std::uint16_t& h) {
  const float scale = static_cast<float>(value);
  const std::uint16_t bits = float_to_half(scale);
  if (!std::isfinite(scale) || std::isinf(half_to_float(bits))) return false;
  h = bits;
  return true;
}

void TurboMseCore::store_scale(double value, std::uint8_t* rec) {
  std::uint16_t h = 0;
  if (!scale_to_half(value, h))
    throw std::invalid_argument("TurboQuant encode: norm " + std::to_string(value) +
                                " exceeds the fp16 scale range (max 65504)");
  store_u16(rec, h);
}

void TurboMseCore::write(const float* y, float scale, std::uint8_t* rec) const {
  for (const Part& part : parts_)
    if (part.count > 0)
      kernels::quantize_to_planes(part.count, y + part.first, part.codebook->boundaries.data(), part.bits,
                                  rec + part.offset);
  store_scale(scale, rec);
}

void TurboMseCore::decode_rotated(std::size_t n, const std::uint8_t* recs, std::size_t stride, float* out) const {
  const float one = 1.0f;
  for (std::size_t t = 0; t < n; ++t) {
    float* o = out + t * dim_;
    std::fill(o, o + dim_, 0.0f);
    for (const Part& part : parts_)
      if (part.count > 0)
        kernels::accumulate_planes(planes(part, recs + t * stride, stride), 1, 1, &one, o + part.first, dim_);
  }
}

template <class PartScore>
void TurboMseCore::sum_parts(std::size_t count, float* out, PartScore&& part_score) const {
  float* part_scores = parts_[0].count > 0 ? scratch_floats(2, count) : nullptr;
  for (int p = 1; p >= 0; --p) {  // the main part first, straight into out
    const Part& part = parts_[p];
    if (part.count > 0) part_score(part, p == 1 ? out : part_scores);
  }
  if (part_scores)
    for (std::size_t i = 0; i < count; ++i) out[i] += part_scores[i];
}

void TurboMseCore::score(std::size_t n_q, const float* q, std::size_t q_stride, std::size_t n, const std::uint8_t* recs,
                         std::size_t stride, float* out) const {
  sum_parts(n_q * n, out, [&](const Part& part, float* dst) {
    if (part.bits <= kernels::kMaxInt8Bits) {
      kernels::score_planes_int8(planes(part, recs, stride), part.int8, n, n_q, q + part.first, q_stride, dst);
    } else {
      kernels::score_planes(planes(part, recs, stride), n, n_q, q + part.first, q_stride, dst);
    }
  });
}

bool TurboMseCore::scores_blocks() const {
  for (const Part& part : parts_)
    if (part.count > 0 && part.bits > kernels::kMaxInt8Bits) return false;
  return true;
}

void TurboMseCore::put_block(BlockOrder order, const std::uint8_t* rec, std::uint8_t* block, std::size_t region,
                             std::size_t r) const {
  put_block_scale(rec, block + kBlockRecords * region, r);
  for (const Part& part : parts_)
    if (part.count > 0)
      put_block_planes(order, rec + part.offset, part.bits, plane_bytes(part.count),
                       block + kBlockRecords * (region + part.offset), r);
}

void TurboMseCore::get_block(BlockOrder order, const std::uint8_t* block, std::size_t region, std::size_t r,
                             std::uint8_t* rec) const {
  get_block_scale(block + kBlockRecords * region, r, rec);
  for (const Part& part : parts_)
    if (part.count > 0)
      get_block_planes(order, block + kBlockRecords * (region + part.offset), part.bits, plane_bytes(part.count), r,
                       rec + part.offset);
}

bool TurboMseCore::score_blocks(std::size_t n_q, const float* q, std::size_t q_stride, std::size_t n_blocks,
                                const std::uint8_t* blocks, std::size_t block_bytes, std::size_t region,
                                float* out) const {
  bool ok = true;
  sum_parts(n_q * kBlockRecords * n_blocks, out, [&](const Part& part, float* dst) {
    const kernels::PlaneBlocks codes{blocks, block_bytes, kBlockRecords * (region + part.offset), part.count,
                                     part.bits};
    ok = ok && kernels::score_blocks_int8(codes, kBlockRecords * region, part.int8, n_blocks, n_q, q + part.first,
                                          q_stride, dst);
  });
  return ok;
}

void TurboMseCore::accumulate_blocks(std::size_t n_q, const float* w, std::size_t n_blocks, const std::uint8_t* blocks,
                                     std::size_t block_bytes, std::size_t region, float* acc,
                                     std::size_t acc_stride) const {
  for (const Part& part : parts_) {
    if (part.count == 0) continue;
    const kernels::PlaneBlocks codes{blocks, block_bytes, kBlockRecords * (region + part.offset), part.count,
                                     part.bits};
    kernels::accumulate_blocks_int16(codes, kBlockRecords * region, part.codebook->centroids.data(), part.int8,
                                     n_blocks, n_q, w, acc + part.first, acc_stride);
  }
}

void TurboMseCore::accumulate(std::size_t n_q, const float* w, std::size_t n, const std::uint8_t* recs,
                              std::size_t stride, float* acc, std::size_t acc_stride) const {
  for (const Part& part : parts_) {
    if (part.count == 0) continue;
    if (part.bits <= kernels::kMaxInt8Bits) {
      kernels::accumulate_planes_int16(planes(part, recs, stride), part.int8, n, n_q, w, acc + part.first, acc_stride);
    } else {
      kernels::accumulate_planes(planes(part, recs, stride), n, n_q, w, acc + part.first, acc_stride);
    }
  }
}

const kernels::Int8Codebook& SignSketch::int8() {
  static const kernels::Int8Codebook codebook = kernels::make_int8_codebook(kPlusMinus, 1);
  return codebook;
}

void SignSketch::encode(std::size_t m, const float* v, std::uint8_t* planes) {
  const float zero = 0.0f;
  kernels::quantize_to_planes(m, v, &zero, 1, planes);
}

}  // namespace veloxquant
