// TurboQuant-Prod (tqpB): TurboQuant-MSE at B−1 bits, then 1-bit QJL of the residual.
// Record: [MSE record][fp16 γ = ‖x‖·‖r‖][sign planes of S·r]; r = y − ŷ is the residual of the
// rotated unit vector and S (d×d, i.i.d. N(0,1)) acts in the rotated domain, which is
// equivalent to a Gaussian sketch of the unrotated residual since Π is orthogonal.
// ⟨q, x⟩ ≈ s·⟨Πq, c⟩ + γ·√(π/2)/d·⟨S·Πq, z⟩ — unbiased over S.
//
// With outlier channels (tqpB:outliers=N/B', the two-stream cache of the seed project): the N
// chosen channels get their own TurboQuant-Prod instance at B' bits, the other d − N channels one
// at B bits. Record: [outlier instance's record][inlier instance's record]; each estimate is
// unbiased, so their sum is. Work domain (prepared query, accumulator): [outliers: Πq, S·Πq]
// [inliers: Πq, S·Πq].
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "quant/quantizers.h"
#include "quant/turboquant_core.h"
#include "util/half.h"

namespace veloxquant {

namespace {

// One TurboQuant-Prod instance over `dim` coordinates, its record at some byte offset of a
// larger record (`stride` bytes apart) and its 2·dim floats of prepared query and accumulator at
// some offset of larger rows (`q_stride`, `acc_stride` apart).
class ProdPart {
 public:
  ProdPart(std::size_t dim, int bits, std::uint64_t rotation_seed, std::uint64_t sketch_seed, bool norm_correction)
      : dim_(dim),
        core_(dim, bits - 1, rotation_seed, norm_correction),
        sketch_(gaussian_matrix(dim, dim, sketch_seed)),
        qjl_scale_(static_cast<float>(std::sqrt(3.14159265358979323846 / 2.0) / static_cast<double>(dim))) {}

  std::size_t dim() const { return dim_; }
  std::size_t code_size() const { return core_.code_size() + 2 + (dim_ + 7) / 8; }
  const TurboMseCore& core() const { return core_; }

  // √(π/2)/d is folded into the sketched half of the prepared query and into finish; the
  // kernels apply each record's γ (its scale_offset). q and prepared may alias.
  void prepare(const float* q, float* prepared) const {
    core_.rotation().apply(1, q, prepared);
    kernels::matmul_rows(1, dim_, dim_, sketch_.data(), prepared, prepared + dim_);
    for (std::size_t j = 0; j < dim_; ++j) prepared[dim_ + j] *= qjl_scale_;
  }
  void score(std::size_t nq, const float* prepared, std::size_t q_stride, std::size_t n, const std::uint8_t* codes,
             std::size_t stride, float* out) const {
    core_.score(nq, prepared, q_stride, n, codes, stride, out);
    float* qjl = scratch_floats(1, nq * n);
    kernels::score_planes_int8(sign_planes(codes, stride), SignSketch::int8(), n, nq, prepared + dim_, q_stride, qjl);
    for (std::size_t i = 0; i < nq * n; ++i) out[i] += qjl[i];
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, std::size_t stride,
                  float* acc, std::size_t acc_stride) const {
    core_.accumulate(nq, w, n, codes, stride, acc, acc_stride);
    kernels::accumulate_planes_int16(sign_planes(codes, stride), SignSketch::int8(), n, nq, w, acc + dim_, acc_stride);
  }
  // out[dim] from this part's 2·dim accumulator floats.
  void finish(const float* acc, float* out) const {
    float* rotated = scratch_floats(3, dim_);
    kernels::matmul_rows_transposed(1, dim_, dim_, sketch_.data(), acc + dim_, rotated);
    for (std::size_t j = 0; j < dim_; ++j) rotated[j] = acc[j] + qjl_scale_ * rotated[j];
    core_.rotation().apply_transpose(1, rotated, out);
  }
  // Encodes x[dim] into rec[code_size()]; work needs dim floats, residual 2·dim.
  void encode(const float* x, std::uint8_t* rec, float* work, float* residual) const {
    float* projected = residual + dim_;
    const float norm = core_.encode(x, rec, work, residual);
    double rr = 0.0;
    for (std::size_t j = 0; j < dim_; ++j) rr += static_cast<double>(residual[j]) * residual[j];
    store_u16(rec + core_.code_size(), float_to_half(static_cast<float>(norm * std::sqrt(rr))));
    kernels::matmul_rows(1, dim_, dim_, sketch_.data(), residual, projected);
    SignSketch::encode(dim_, projected, rec + core_.code_size() + 2);
  }

 private:
  kernels::PlaneCodes sign_planes(const std::uint8_t* codes, std::size_t stride) const {
    const auto gamma_offset = static_cast<std::ptrdiff_t>(core_.code_size());
    return kernels::PlaneCodes{codes, stride, core_.code_size() + 2, dim_, 1, SignSketch::kPlusMinus, gamma_offset};
  }

  std::size_t dim_;
  TurboMseCore core_;
  std::vector<float> sketch_;  // S, dim×dim row-major
  float qjl_scale_;            // √(π/2)/dim
};

// Decoding is accumulating each record with weight 1 and mapping the accumulator back (the
// accumulator holds slot 0 of the scratch; finish_accumulate must not use it).
void decode_by_accumulating(const Quantizer& q, std::size_t n, const std::uint8_t* codes, float* x) {
  const std::size_t acc_size = q.accumulator_size();
  float* acc = scratch_floats(0, acc_size);
  const float one = 1.0f;
  for (std::size_t t = 0; t < n; ++t) {
    std::fill(acc, acc + acc_size, 0.0f);
    q.accumulate(1, &one, 1, codes + t * q.code_size(), acc);
    q.finish_accumulate(acc, x + t * q.dim());
  }
}

class TurboProdQuantizer final : public Quantizer {
 public:
  TurboProdQuantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed)
      : Quantizer(spec, dim, seed),
        part_(dim, spec.bits, purpose_seed(seed, SeedPurpose::kRotation), purpose_seed(seed, SeedPurpose::kSketch),
              spec.norm_correction) {}

  std::size_t code_size() const override { return part_.code_size(); }
  std::size_t query_size() const override { return 2 * dim(); }
  std::size_t accumulator_size() const override { return 2 * dim(); }

  void decode(std::size_t n, const std::uint8_t* codes, float* x) const override {
    decode_by_accumulating(*this, n, codes, x);
  }
  void prepare_query(const float* q, float* prepared) const override { part_.prepare(q, prepared); }
  void score(std::size_t nq, const float* prepared, std::size_t n, const std::uint8_t* codes,
             float* out) const override {
    part_.score(nq, prepared, 2 * dim(), n, codes, code_size(), out);
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    part_.accumulate(nq, w, n, codes, code_size(), acc, 2 * dim());
  }
  void finish_accumulate(const float* acc, float* out) const override { part_.finish(acc, out); }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    float* work = scratch_floats(0, dim());
    float* residual = scratch_floats(1, 2 * dim());
    for (std::size_t t = 0; t < n; ++t) part_.encode(x + t * dim(), codes + t * code_size(), work, residual);
  }

 private:
  ProdPart part_;
};

// tqpB:outliers=N/B': two instances on complementary channel sets (see the file comment).
class OutlierProdQuantizer final : public Quantizer {
 public:
  OutlierProdQuantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed, std::vector<std::uint32_t> outliers)
      : Quantizer(spec, dim, seed),
        outliers_(std::move(outliers)),
        inliers_(complement_channels(outliers_, dim)),
        out_(outliers_.size(), spec.outlier_bits, purpose_seed(seed, SeedPurpose::kOutlierRotation),
             purpose_seed(seed, SeedPurpose::kOutlierSketch), spec.norm_correction),
        in_(inliers_.size(), spec.bits, purpose_seed(seed, SeedPurpose::kRotation),
            purpose_seed(seed, SeedPurpose::kSketch), spec.norm_correction) {}

  std::size_t code_size() const override { return out_.code_size() + in_.code_size(); }
  std::size_t query_size() const override { return 2 * dim(); }
  std::size_t accumulator_size() const override { return 2 * dim(); }

  void decode(std::size_t n, const std::uint8_t* codes, float* x) const override {
    decode_by_accumulating(*this, n, codes, x);
  }
  void prepare_query(const float* q, float* prepared) const override {
    float* in_part = prepared + in_offset();
    for (std::size_t j = 0; j < n_out(); ++j) prepared[j] = q[outliers_[j]];
    for (std::size_t j = 0; j < inliers_.size(); ++j) in_part[j] = q[inliers_[j]];
    out_.prepare(prepared, prepared);
    in_.prepare(in_part, in_part);
  }
  void score(std::size_t nq, const float* prepared, std::size_t n, const std::uint8_t* codes,
             float* out) const override {
    float* inlier_scores = scratch_floats(3, nq * n);  // the parts use slot 1 themselves
    out_.score(nq, prepared, 2 * dim(), n, codes, code_size(), out);
    in_.score(nq, prepared + in_offset(), 2 * dim(), n, codes + out_.code_size(), code_size(), inlier_scores);
    for (std::size_t i = 0; i < nq * n; ++i) out[i] += inlier_scores[i];
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    out_.accumulate(nq, w, n, codes, code_size(), acc, 2 * dim());
    in_.accumulate(nq, w, n, codes + out_.code_size(), code_size(), acc + in_offset(), 2 * dim());
  }
  void finish_accumulate(const float* acc, float* out) const override {
    float* work = scratch_floats(1, dim());  // decode holds slot 0, the parts' finish slot 3
    out_.finish(acc, work);
    in_.finish(acc + in_offset(), work + n_out());
    for (std::size_t j = 0; j < n_out(); ++j) out[outliers_[j]] = work[j];
    for (std::size_t j = 0; j < inliers_.size(); ++j) out[inliers_[j]] = work[n_out() + j];
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    float* work = scratch_floats(0, dim());
    float* residual = scratch_floats(1, 2 * dim());
    float* parts = scratch_floats(2, dim());
    for (std::size_t t = 0; t < n; ++t) {
      const float* v = x + t * dim();
      std::uint8_t* rec = codes + t * code_size();
      for (std::size_t j = 0; j < n_out(); ++j) parts[j] = v[outliers_[j]];
      for (std::size_t j = 0; j < inliers_.size(); ++j) parts[n_out() + j] = v[inliers_[j]];
      out_.encode(parts, rec, work, residual);
      in_.encode(parts + n_out(), rec + out_.code_size(), work, residual);
    }
  }

 private:
  std::size_t n_out() const { return outliers_.size(); }
  std::size_t in_offset() const { return 2 * n_out(); }
  std::vector<std::uint32_t> outliers_, inliers_;
  ProdPart out_, in_;
};

}  // namespace

std::unique_ptr<Quantizer> make_turbo_prod_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed,
                                                     std::span<const std::uint32_t> outlier_channels) {
  if (spec.bits < 2 || spec.bits > 8)
    throw std::invalid_argument("tqp bits must be in 2..8, got " + std::to_string(spec.bits));
  const std::size_t n_out = spec.outliers_for_dim(dim);
  if (n_out == 0) return std::make_unique<TurboProdQuantizer>(spec, dim, seed);
  if (spec.outlier_bits < 2 || spec.outlier_bits > 8)
    throw std::invalid_argument("format " + spec.name() + ": tqp outlier bits must be in 2..8, got " +
                                std::to_string(spec.outlier_bits));
  return std::make_unique<OutlierProdQuantizer>(spec, dim, seed, checked_outlier_channels(spec, dim, outlier_channels));
}

}  // namespace veloxquant
