// TurboQuant-Prod (tqpB): TurboQuant-MSE at B−1 bits, then 1-bit QJL of the residual.
// Record: [MSE record][fp16 γ = ‖x‖·‖r‖][sign planes of S·r]; r = y − ŷ is the residual of the
// rotated unit vector and S (d×d, i.i.d. N(0,1)) acts in the rotated domain, which is
// equivalent to a Gaussian sketch of the unrotated residual since Π is orthogonal.
// ⟨q, x⟩ ≈ s·⟨Πq, c⟩ + γ·√(π/2)/d·⟨S·Πq, z⟩ — unbiased over S.
#include <cmath>
#include <stdexcept>
#include <string>

#include "quant/quantizers.h"
#include "quant/turboquant_core.h"
#include "util/half.h"

namespace veloxquant {

namespace {

class TurboProdQuantizer final : public Quantizer {
 public:
  TurboProdQuantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed)
      : Quantizer(spec, dim, seed),
        core_(dim, spec.bits - 1, purpose_seed(seed, SeedPurpose::kRotation), spec.norm_correction),
        sketch_(gaussian_matrix(dim, dim, purpose_seed(seed, SeedPurpose::kSketch))),
        qjl_scale_(static_cast<float>(std::sqrt(3.14159265358979323846 / 2.0) / static_cast<double>(dim))) {}

  std::size_t code_size() const override { return core_.code_size() + 2 + (dim() + 7) / 8; }
  std::size_t query_size() const override { return 2 * dim(); }
  std::size_t accumulator_size() const override { return 2 * dim(); }

  void decode(std::size_t n, const std::uint8_t* codes, float* x) const override {
    float* acc = scratch_floats(0, 2 * dim());
    for (std::size_t t = 0; t < n; ++t) {
      std::fill(acc, acc + 2 * dim(), 0.0f);
      const float one = 1.0f;
      accumulate(1, &one, 1, codes + t * code_size(), acc);
      finish_accumulate(acc, x + t * dim());
    }
  }
  // √(π/2)/d is folded into the sketched half of the prepared query and into
  // finish_accumulate; the kernels apply each record's γ (its scale_offset).
  void prepare_query(const float* q, float* prepared) const override {
    core_.rotation().apply(1, q, prepared);
    kernels::matmul_rows(1, dim(), dim(), sketch_.data(), prepared, prepared + dim());
    for (std::size_t j = 0; j < dim(); ++j) prepared[dim() + j] *= qjl_scale_;
  }
  void score(std::size_t nq, const float* prepared, std::size_t n, const std::uint8_t* codes,
             float* out) const override {
    core_.score(nq, prepared, 2 * dim(), n, codes, code_size(), out);
    float* qjl = scratch_floats(1, nq * n);
    score_planes_int8(sign_planes(codes), SignSketch::int8(), n, nq, prepared + dim(), 2 * dim(), qjl);
    for (std::size_t i = 0; i < nq * n; ++i) out[i] += qjl[i];
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    core_.accumulate(nq, w, n, codes, code_size(), acc, 2 * dim());
    accumulate_planes_int16(sign_planes(codes), SignSketch::int8(), n, nq, w, acc + dim(), 2 * dim());
  }
  void finish_accumulate(const float* acc, float* out) const override {
    float* rotated = scratch_floats(3, dim());
    kernels::matmul_rows_transposed(1, dim(), dim(), sketch_.data(), acc + dim(), rotated);
    for (std::size_t j = 0; j < dim(); ++j) rotated[j] = acc[j] + qjl_scale_ * rotated[j];
    core_.rotation().apply_transpose(1, rotated, out);
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    float* work = scratch_floats(0, dim());
    float* residual = scratch_floats(1, 2 * dim());
    float* projected = residual + dim();
    for (std::size_t t = 0; t < n; ++t) {
      std::uint8_t* rec = codes + t * code_size();
      const float norm = core_.encode(x + t * dim(), rec, work, residual);
      double rr = 0.0;
      for (std::size_t j = 0; j < dim(); ++j) rr += static_cast<double>(residual[j]) * residual[j];
      store_u16(rec + core_.code_size(), float_to_half(static_cast<float>(norm * std::sqrt(rr))));
      kernels::matmul_rows(1, dim(), dim(), sketch_.data(), residual, projected);
      SignSketch::encode(dim(), projected, rec + core_.code_size() + 2);
    }
  }

 private:
  kernels::PlaneCodes sign_planes(const std::uint8_t* codes) const {
    const auto gamma_offset = static_cast<std::ptrdiff_t>(core_.code_size());
    return kernels::PlaneCodes{codes,       code_size(), core_.code_size() + 2, dim(), 1, SignSketch::kPlusMinus,
                               gamma_offset};
  }

  TurboMseCore core_;
  std::vector<float> sketch_;  // S, d×d row-major
  float qjl_scale_;            // √(π/2)/d
};

}  // namespace

std::unique_ptr<Quantizer> make_turbo_prod_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed) {
  if (spec.bits < 2 || spec.bits > 8)
    throw std::invalid_argument("tqp bits must be in 2..8, got " + std::to_string(spec.bits));
  return std::make_unique<TurboProdQuantizer>(spec, dim, seed);
}

}  // namespace veloxquant
