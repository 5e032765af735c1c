// The dot-product kernels of every weight type on every SIMD target this CPU runs, against the
// scalar references and against the dequantized weights times the dequantized activations in
// double precision; random blocks (every bit pattern of levels and scales, finite), odd row
// counts, 1 to 9 tokens.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "math/prng.h"
#include "test_util.h"
#include "util/half.h"
#include "weights/weight_types.h"

namespace veloxquant {
namespace {

class WeightKernelsOnEveryTarget : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

std::string target_name(const ::testing::TestParamInfo<std::int64_t>& info) { return hwy::TargetName(info.param); }

// Random blocks of a type: random bytes with every fp16 scale field replaced by a finite value
// of moderate size (a whole row of random bytes would hold Inf/NaN scales).
std::vector<std::uint8_t> random_rows(const WeightTypeInfo& t, std::size_t rows, std::size_t cols, SplitMix64& rng) {
  if (t.activation == ActivationForm::kFloat) {
    const std::vector<float> v = test::gaussian(rows * cols, rng.next());
    std::vector<std::uint8_t> out(rows * cols * t.block_bytes);
    t.quantize(v.data(), v.size(), out.data());
    return out;
  }
  std::vector<std::uint8_t> out(rows * cols / t.block_elements * t.block_bytes);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng.next());
  // Quantize a row of Gaussians into a scratch block and copy the scale bytes over: the
  // quantizer knows where the type's fp16 fields are.
  const std::vector<float> g = test::gaussian(t.block_elements, rng.next());
  std::vector<std::uint8_t> ref(t.block_bytes);
  t.quantize(g.data(), g.size(), ref.data());
  std::vector<float> probe(t.block_elements);
  for (std::size_t b = 0; b < out.size() / t.block_bytes; ++b) {
    std::uint8_t* blk = out.data() + b * t.block_bytes;
    t.dequantize(blk, t.block_elements, probe.data());
    bool finite = true;
    for (float v : probe) finite &= std::isfinite(v) && std::fabs(v) < 1e4f;
    if (!finite)  // some random fp16 field is Inf/NaN/huge: take the quantizer's bytes for this block
      std::copy(ref.begin(), ref.end(), blk);
  }
  return out;
}

// Σ w·x and Σ |w·x| over a row, in double, with x the activation values the kernel multiplies
// (the int8 form's d·q for block types).
std::pair<double, double> exact_dot(const WeightTypeInfo& t, const std::uint8_t* row, const ActivationBatch& a,
                                    std::size_t tok) {
  std::vector<float> w(a.cols);
  t.dequantize(row, a.cols, w.data());
  double s = 0, magnitude = 0;
  for (std::size_t c = 0; c < a.cols; ++c) {
    const double x = a.form == ActivationForm::kFloat
                         ? a.x_of(tok)[c]
                         : static_cast<double>(a.d_of(tok)[c / activation_block(a.form)]) * a.q_of(tok)[c];
    s += static_cast<double>(w[c]) * x;
    magnitude += std::fabs(static_cast<double>(w[c]) * x);
  }
  return {s, magnitude};
}

TEST_P(WeightKernelsOnEveryTarget, EveryTypeMatchesReferenceAndExactSums) {
  SplitMix64 rng(11);
  for (const WeightTypeInfo& t : weight_type_table())
    for (std::size_t cols : {256u, 512u, 768u, 2304u}) {
      const std::size_t rows = 7, tokens = 9;
      const std::vector<std::uint8_t> w = random_rows(t, rows, cols, rng);
      const std::size_t row_bytes = weight_row_bytes(t.type, cols);
      std::vector<float> x = test::gaussian(tokens * cols, cols + 3);
      for (std::size_t i = 0; i < x.size(); i += 37) x[i] *= 8.0f;  // a few large values per block
      ActivationBuffer buffer;
      const ActivationBatch a = quantize_activations(t.activation, x.data(), tokens, cols, buffer);
      std::vector<float> got(tokens * rows), want(tokens * rows);
      t.dot_reference(w.data(), row_bytes, 0, rows, a, 0, tokens, want.data(), rows);
      // Rows 2..6 and tokens 1..8 through the SIMD kernel (offsets inside the buffers).
      t.dot(w.data(), row_bytes, 2, rows, a, 1, tokens - 1, got.data() + rows, rows);
      t.dot(w.data(), row_bytes, 0, 2, a, 0, tokens, got.data(), rows);
      t.dot(w.data(), row_bytes, 2, rows, a, 0, 1, got.data(), rows);
      for (std::size_t tok = 0; tok < tokens; ++tok)
        for (std::size_t r = 0; r < rows; ++r) {
          const auto [exact, magnitude] = exact_dot(t, w.data() + r * row_bytes, a, tok);
          // Block sums are exact integers; only the float sum of the block products rounds: at
          // most one rounding of 2^-24 of Σ|terms| per addition (cols / block of them, plus the
          // lane reduction and the scale products).
          const double adds = static_cast<double>(cols / t.block_elements + 16);
          const double tol = adds * 0x1p-24 * magnitude + 1e-30;
          const float g = got[tok * rows + r], f = want[tok * rows + r];
          ASSERT_NEAR(f, exact, tol) << t.name << " reference, cols " << cols << " row " << r << " token " << tok;
          ASSERT_NEAR(g, exact, tol) << t.name << " on " << hwy::TargetName(GetParam()) << ", cols " << cols << " row "
                                     << r << " token " << tok;
        }
    }
}

TEST_P(WeightKernelsOnEveryTarget, ATokenGetsTheSameBitsAloneAndInAGroup) {
  SplitMix64 rng(5);
  for (const WeightTypeInfo& t : weight_type_table()) {
    const std::size_t rows = 3, cols = 512, tokens = 6;
    const std::vector<std::uint8_t> w = random_rows(t, rows, cols, rng);
    const std::vector<float> x = test::gaussian(tokens * cols, 99);
    ActivationBuffer buffer;
    const ActivationBatch a = quantize_activations(t.activation, x.data(), tokens, cols, buffer);
    std::vector<float> group(tokens * rows), alone(tokens * rows);
    t.dot(w.data(), weight_row_bytes(t.type, cols), 0, rows, a, 0, tokens, group.data(), rows);
    for (std::size_t tok = 0; tok < tokens; ++tok)
      t.dot(w.data(), weight_row_bytes(t.type, cols), 0, rows, a, tok, 1, alone.data() + tok * rows, rows);
    if (t.activation == ActivationForm::kFloat) continue;  // float rows: one chain per token in groups, four alone
    for (std::size_t i = 0; i < group.size(); ++i) EXPECT_EQ(group[i], alone[i]) << t.name << " at " << i;
  }
}

TEST_P(WeightKernelsOnEveryTarget, NaNScalesAndActivationsGiveNaN) {
  for (const WeightTypeInfo& t : weight_type_table()) {
    if (t.activation == ActivationForm::kFloat) continue;
    const std::size_t cols = 256;
    const std::vector<float> v = test::gaussian(cols, 3);
    std::vector<std::uint8_t> row(weight_row_bytes(t.type, cols));
    t.quantize(v.data(), cols, row.data());
    ActivationBuffer buffer;
    const ActivationBatch a = quantize_activations(t.activation, v.data(), 1, cols, buffer);
    // Every 16-bit field set to NaN in turn: the result is NaN or the field was no scale (a level byte pair).
    std::size_t nan_results = 0;
    for (std::size_t off = 0; off + 2 <= t.block_bytes; off += 2) {
      std::vector<std::uint8_t> bad = row;
      store_u16(bad.data() + off, 0x7E00);
      std::vector<float> deq(cols);
      t.dequantize(bad.data(), cols, deq.data());
      bool deq_nan = false;
      for (float f : deq) deq_nan |= std::isnan(f);
      float y = 0.0f;
      t.dot(bad.data(), bad.size(), 0, 1, a, 0, 1, &y, 1);
      if (deq_nan) {
        EXPECT_TRUE(std::isnan(y)) << t.name << " NaN field at byte " << off << " gave " << y;
        ++nan_results;
      }
    }
    EXPECT_GT(nan_results, 0u) << t.name << " has no fp16 scale field?";
    // A NaN activation makes every product with its block NaN.
    std::vector<float> x = v;
    x[17] = std::numeric_limits<float>::quiet_NaN();
    const ActivationBatch an = quantize_activations(t.activation, x.data(), 1, cols, buffer);
    float y = 0.0f;
    t.dot(row.data(), row.size(), 0, 1, an, 0, 1, &y, 1);
    EXPECT_TRUE(std::isnan(y)) << t.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, WeightKernelsOnEveryTarget, ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()),
                         target_name);

}  // namespace
}  // namespace veloxquant
