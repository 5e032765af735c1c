// QJL: record [fp16 ‖k‖][m sign bits of S·k], S (m×d) i.i.d. N(0,1).
// ⟨q, k⟩ ≈ √(π/2)/m · ‖k‖ · ⟨S·q, sign(S·k)⟩ — the query is projected, not quantized; unbiased.
// Decode (and value accumulation) uses the unbiased reconstruction √(π/2)/m · ‖k‖ · Sᵀ·z.
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"
#include "quant/quantizers.h"
#include "quant/turboquant_core.h"
#include "util/half.h"

namespace veloxquant {

namespace {

class QjlQuantizer final : public Quantizer {
 public:
  QjlQuantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed)
      : Quantizer(spec, dim, seed),
        m_(spec.qjl_dim ? spec.qjl_dim : dim),
        sketch_(gaussian_matrix(m_, dim, purpose_seed(seed, SeedPurpose::kSketch))),
        scale_(static_cast<float>(std::sqrt(3.14159265358979323846 / 2.0) / static_cast<double>(m_))) {}

  std::size_t code_size() const override { return 2 + (m_ + 7) / 8; }
  std::size_t query_size() const override { return m_; }
  std::size_t accumulator_size() const override { return m_; }

  void decode(std::size_t n, const std::uint8_t* codes, float* x) const override {
    float* acc = scratch_floats(0, m_);
    for (std::size_t t = 0; t < n; ++t) {
      std::fill(acc, acc + m_, 0.0f);
      const float one = 1.0f;
      accumulate(1, &one, 1, codes + t * code_size(), acc);
      finish_accumulate(acc, x + t * dim());
    }
  }
  // The constant √(π/2)/m is folded into the prepared query and into finish_accumulate; the
  // kernels apply each record's norm (scale_offset 0).
  void prepare_query(const float* q, float* prepared) const override {
    kernels::matmul_rows(1, m_, dim(), sketch_.data(), q, prepared);
    for (std::size_t i = 0; i < m_; ++i) prepared[i] *= scale_;
  }
  void score(std::size_t nq, const float* prepared, std::size_t n, const std::uint8_t* codes,
             float* out) const override {
    kernels::score_planes_int8(planes(codes), SignSketch::int8(), n, nq, prepared, m_, out);
  }
  void accumulate(std::size_t nq, const float* w, std::size_t n, const std::uint8_t* codes, float* acc) const override {
    kernels::accumulate_planes_int16(planes(codes), SignSketch::int8(), n, nq, w, acc, m_);
  }
  void finish_accumulate(const float* acc, float* out) const override {
    kernels::matmul_rows_transposed(1, m_, dim(), sketch_.data(), acc, out);
    for (std::size_t j = 0; j < dim(); ++j) out[j] *= scale_;
  }

 protected:
  void encode_checked(std::size_t n, const float* x, std::uint8_t* codes) const override {
    float* projected = scratch_floats(0, m_);
    for (std::size_t t = 0; t < n; ++t) {
      std::uint8_t* rec = codes + t * code_size();
      double sum = 0.0;
      for (std::size_t j = 0; j < dim(); ++j) sum += static_cast<double>(x[t * dim() + j]) * x[t * dim() + j];
      const std::uint16_t h = float_to_half(static_cast<float>(std::sqrt(sum)));
      if (std::isinf(half_to_float(h)))
        throw std::invalid_argument("qjl encode: norm of vector " + std::to_string(t) +
                                    " exceeds the fp16 range (max 65504)");
      store_u16(rec, h);
      kernels::matmul_rows(1, m_, dim(), sketch_.data(), x + t * dim(), projected);
      SignSketch::encode(m_, projected, rec + 2);
    }
  }

 private:
  kernels::PlaneCodes planes(const std::uint8_t* codes) const {
    return kernels::PlaneCodes{codes, code_size(), 2, m_, 1, SignSketch::kPlusMinus, 0};
  }

  std::size_t m_;
  std::vector<float> sketch_;  // S, m×d row-major
  float scale_;                // √(π/2)/m
};

}  // namespace

std::unique_ptr<Quantizer> make_qjl_quantizer(const FormatSpec& spec, std::size_t dim, std::uint64_t seed) {
  return std::make_unique<QjlQuantizer>(spec, dim, seed);
}

}  // namespace veloxquant
