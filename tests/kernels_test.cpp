// Every dispatched kernel against its scalar reference, on every SIMD target this CPU runs.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <limits>

#include "kernels/canonical.h"
#include "kernels/kernels.h"
#include "math/prng.h"
#include "pack/bitplane.h"
#include "test_util.h"
#include "util/half.h"
#include "veloxquant/codebook.h"

namespace veloxquant {
namespace {

class KernelsOnEveryTarget : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

std::string target_name(const ::testing::TestParamInfo<std::int64_t>& info) { return hwy::TargetName(info.param); }

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float tol, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], tol * (1.0f + std::fabs(b[i]))) << what << " at " << i;
}

const std::size_t kDims[] = {1, 3, 8, 31, 64, 96, 128, 129, 256};

TEST_P(KernelsOnEveryTarget, PlaneScoreAndAccumulateMatchReference) {
  SplitMix64 rng(5);
  for (int bits = 1; bits <= 8; ++bits)
    for (std::size_t dim : kDims)
      for (std::size_t nq : {1u, 3u, 4u, 6u}) {
        const std::size_t n = 7, offset = 3, stride = offset + packed_bytes(dim, bits) + 1;  // odd: misaligned
        std::vector<std::uint8_t> recs(n * stride + 1);
        for (auto& b : recs) b = static_cast<std::uint8_t>(rng.next());
        const std::vector<float> centroids = test::gaussian(std::size_t{1} << bits, bits);
        // Odd bit widths also carry a per-record fp16 scale at byte 0 of the record.
        const std::ptrdiff_t scale_offset = bits % 2 ? 0 : -1;
        for (std::size_t t = 0; t < n; ++t) store_u16(recs.data() + 1 + t * stride, float_to_half(0.5f + 0.25f * t));
        const kernels::PlaneCodes codes{recs.data() + 1, stride, offset, dim, bits, centroids.data(), scale_offset};
        const std::vector<float> q = test::gaussian(nq * (dim + 2), dim);
        std::vector<float> got(nq * n), want(nq * n);
        kernels::score_planes(codes, n, nq, q.data(), dim + 2, got.data());
        kernels::ref::score_planes(codes, n, nq, q.data(), dim + 2, want.data());
        expect_close(got, want, 1e-4f, "score bits=" + std::to_string(bits) + " dim=" + std::to_string(dim));
        const std::vector<float> w = test::gaussian(nq * n, 77);
        std::vector<float> acc_got(nq * (dim + 1), 0.5f), acc_want(nq * (dim + 1), 0.5f);
        kernels::accumulate_planes(codes, n, nq, w.data(), acc_got.data(), dim + 1);
        kernels::ref::accumulate_planes(codes, n, nq, w.data(), acc_want.data(), dim + 1);
        expect_close(acc_got, acc_want, 1e-4f,
                     "accumulate bits=" + std::to_string(bits) + " dim=" + std::to_string(dim));
      }
}

TEST_P(KernelsOnEveryTarget, IntegerPlaneScoresAreExact) {
  SplitMix64 rng(6);
  for (int bits = 1; bits <= 5; ++bits)
    for (std::size_t dim : kDims)
      for (std::size_t nq : {1u, 4u, 5u}) {
        const std::size_t n = 9, offset = 5, stride = offset + packed_bytes(dim, bits);
        std::vector<std::uint8_t> recs(n * stride), table(32);
        for (auto& b : recs) b = static_cast<std::uint8_t>(rng.next());
        for (auto& b : table) b = static_cast<std::uint8_t>(rng.next());
        std::vector<std::int8_t> q8(nq * dim);
        for (auto& v : q8) v = static_cast<std::int8_t>(static_cast<int>(rng.next() % 255) - 127);
        const kernels::PlaneCodes codes{recs.data(), stride, offset, dim, bits, nullptr};
        std::vector<std::int32_t> got(nq * n), want(nq * n);
        kernels::score_planes_u8(codes, table.data(), n, nq, q8.data(), got.data());
        kernels::ref::score_planes_u8(codes, table.data(), n, nq, q8.data(), want.data());
        ASSERT_EQ(got, want) << "bits=" << bits << " dim=" << dim << " nq=" << nq;
      }
}

TEST_P(KernelsOnEveryTarget, IntegerPlaneAccumulationIsExact) {
  SplitMix64 rng(7);
  for (int bits = 1; bits <= 5; ++bits)
    for (std::size_t dim : kDims)
      for (std::size_t nq : {1u, 4u, 6u})
        for (std::size_t n : {1u, 2u, 33u, 70u}) {  // odd counts use the zero pad weight
          const std::size_t n2 = (n + 1) / 2 * 2, offset = 3, stride = offset + packed_bytes(dim, bits);
          std::vector<std::uint8_t> recs(n * stride);
          for (auto& b : recs) b = static_cast<std::uint8_t>(rng.next());
          std::int8_t table[32];
          for (auto& v : table) v = static_cast<std::int8_t>(static_cast<int>(rng.next() % 255) - 127);
          std::vector<std::int16_t> w16(nq * n2, 0);
          for (std::size_t i = 0; i < nq; ++i)
            for (std::size_t t = 0; t < n; ++t)
              w16[i * n2 + t] = static_cast<std::int16_t>(static_cast<int>(rng.next() % 65535) - 32767);
          const kernels::PlaneCodes codes{recs.data(), stride, offset, dim, bits, nullptr};
          std::vector<std::int32_t> got(nq * (dim + 2), 11), want(nq * (dim + 2), 11);  // adds to what is there
          kernels::accumulate_planes_i16(codes, table, n, nq, w16.data(), got.data(), dim + 2);
          kernels::ref::accumulate_planes_i16(codes, table, n, nq, w16.data(), want.data(), dim + 2);
          ASSERT_EQ(got, want) << "bits=" << bits << " dim=" << dim << " nq=" << nq << " n=" << n;
        }
}

TEST_P(KernelsOnEveryTarget, SoftmaxKernelsMatchReferenceExactly) {
  for (std::size_t n : {1u, 2u, 7u, 15u, 16u, 17u, 31u, 64u, 65u, 255u, 256u, 301u}) {
    std::vector<float> s = test::gaussian(n, n + 11);
    for (float& x : s) x *= 12.0f;
    s[n / 2] = 40.0f + static_cast<float>(n);  // a known maximum anywhere, including the tail
    EXPECT_EQ(kernels::row_max(s.data(), n), 40.0f + static_cast<float>(n)) << n;
    EXPECT_EQ(kernels::row_max(s.data(), n), kernels::ref::row_max(s.data(), n)) << n;
    s[0] = -2000.0f;  // far below −87 after scaling: weight 0
    std::vector<float> r = s;
    const float scale = 0.125f, shift = kernels::ref::row_max(s.data(), n) * scale;
    const float sum = kernels::exp_row(s.data(), n, scale, shift);
    EXPECT_EQ(sum, kernels::ref::exp_row(r.data(), n, scale, shift)) << n;
    EXPECT_EQ(s, r) << n;
    EXPECT_EQ(s[0], n == 1 ? 1.0f : 0.0f);
    EXPECT_GE(sum, 1.0f);  // the maximum contributes exp(0) = 1
  }
}

TEST_P(KernelsOnEveryTarget, DotAndMultiplyMatchReferenceExactly) {
  for (std::size_t n : {0u, 1u, 3u, 15u, 16u, 17u, 31u, 96u, 128u, 129u, 300u}) {
    const std::vector<float> a = test::gaussian(n, n + 21), b = test::gaussian(n, n + 22);
    const float got = kernels::dot(n, a.data(), b.data());
    EXPECT_EQ(got, kernels::ref::dot(n, a.data(), b.data())) << n;
    float scored = -1.0f;
    if (n > 0) kernels::score_f32(a.data(), n, n, 1, 1, b.data(), n, &scored);
    EXPECT_EQ(got, n > 0 ? scored : 0.0f) << n;
    std::vector<float> prod(n), prod_ref(n);
    kernels::multiply(n, a.data(), 0.37f, prod.data());
    kernels::ref::multiply(n, a.data(), 0.37f, prod_ref.data());
    EXPECT_EQ(prod, prod_ref) << n;
  }
}

TEST_P(KernelsOnEveryTarget, AnyAbsAboveFindsEveryOutOfRangeValue) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float big = std::numeric_limits<float>::max();
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 40u}) {
    std::vector<float> x = test::gaussian(n, n + 31);
    EXPECT_FALSE(kernels::any_abs_above(n, x.data(), big)) << n;
    EXPECT_FALSE(kernels::any_abs_above(n, x.data(), 100.0f)) << n;
    for (std::size_t at = 0; at < n; ++at)  // every position: whole vectors and the tail
      for (const float bad : {inf, -inf, nan, -nan, 7.5f, -7.5f}) {
        std::vector<float> y = x;
        y[at] = bad;
        const bool want = kernels::ref::any_abs_above(n, y.data(), 7.0f);
        EXPECT_TRUE(want);
        EXPECT_EQ(kernels::any_abs_above(n, y.data(), 7.0f), want) << n << " " << at << " " << bad;
        EXPECT_EQ(kernels::any_abs_above(n, y.data(), big), !std::isfinite(bad)) << n << " " << at << " " << bad;
        y[at] = bad > 0 ? 7.0f : -7.0f;  // equal to the bound: not above
        EXPECT_EQ(kernels::any_abs_above(n, y.data(), 7.0f), kernels::ref::any_abs_above(n, y.data(), 7.0f));
      }
  }
}

TEST(CanonicalExp, IsWithinTwoUlpsOfLibm) {
  for (float x = -87.0f; x <= 0.0f; x += 0.0137f) {
    const double want = std::exp(static_cast<double>(x));
    EXPECT_NEAR(kernels::exp_nonpositive(x), want, 2.4e-7 * want) << x;
  }
  EXPECT_EQ(kernels::exp_nonpositive(0.0f), 1.0f);
  EXPECT_EQ(kernels::exp_nonpositive(-88.0f), 0.0f);
  EXPECT_EQ(kernels::exp_nonpositive(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(kernels::exp_nonpositive(std::numeric_limits<float>::quiet_NaN()), 0.0f);
}

TEST_P(KernelsOnEveryTarget, WeightRoundingMatchesReference) {
  for (std::size_t n : {0u, 1u, 15u, 16u, 67u}) {
    std::vector<float> x = test::gaussian(n, n + 3);
    if (n > 2) x[1] = -0.0f, x[2] = 0.5f / 1000.0f;  // a signed zero and an exact tie after scaling
    const float m = kernels::max_abs(n, x.data());
    EXPECT_EQ(m, kernels::ref::max_abs(n, x.data()));
    const float factor = m > 0 ? 32767.0f / m : 1.0f;
    std::vector<std::int16_t> got(n), want(n);
    kernels::round_to_i16(n, x.data(), factor, got.data());
    kernels::ref::round_to_i16(n, x.data(), factor, want.data());
    EXPECT_EQ(got, want) << "n=" << n;
    const std::vector<float> s = test::gaussian(n, n + 4);
    std::vector<float> prod(n), prod_ref(n);
    EXPECT_EQ(kernels::scale_max_abs(n, x.data(), s.data(), prod.data()),
              kernels::ref::scale_max_abs(n, x.data(), s.data(), prod_ref.data()));
    EXPECT_EQ(prod, prod_ref);
    if (n > 0) {
      std::vector<float> inf = x;
      inf[n - 1] = std::numeric_limits<float>::infinity();  // in the tail or a full vector
      EXPECT_TRUE(std::isinf(kernels::scale_max_abs(n, inf.data(), s.data(), prod.data())));
      inf[n - 1] = std::numeric_limits<float>::quiet_NaN();
      EXPECT_TRUE(std::isinf(kernels::scale_max_abs(n, inf.data(), s.data(), prod.data())));
    }
    std::vector<std::int32_t> ints(n);
    for (std::size_t j = 0; j < n; ++j) ints[j] = static_cast<std::int32_t>(j * 7919) - 40000;
    std::vector<float> acc(n, 0.25f), acc_ref(n, 0.25f);
    kernels::add_scaled_ints(n, ints.data(), 1.5e-5f, acc.data());
    kernels::ref::add_scaled_ints(n, ints.data(), 1.5e-5f, acc_ref.data());
    EXPECT_EQ(acc, acc_ref);
    std::vector<float> scaled(n, -1.0f), scaled_ref(n, -2.0f);
    kernels::scale_ints(n, ints.data(), -12345, x.data(), 3.7e-4f, scaled.data());
    kernels::ref::scale_ints(n, ints.data(), -12345, x.data(), 3.7e-4f, scaled_ref.data());
    EXPECT_EQ(scaled, scaled_ref);
  }
}

TEST_P(KernelsOnEveryTarget, HalfConversionsMatchTheScalarOnes) {
  std::vector<float> x = test::gaussian(1000, 8);
  x[0] = 65504.0f;  // largest half
  x[1] = 6e-8f;     // subnormal half
  x[2] = -0.0f;
  x[3] = 1.0f + 1.0f / 2048.0f;                         // a tie: rounds to even
  x[4] = 70000.0f;                                      // overflows to Inf
  for (std::size_t i = 5; i < 200; ++i) x[i] *= 1e-5f;  // subnormal range
  std::vector<std::uint16_t> h(x.size());
  kernels::floats_to_halves(x.size(), x.data(), h.data());
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(h[i], float_to_half(x[i])) << i << " " << x[i];
  std::vector<float> back(x.size());
  kernels::halves_to_floats(h.size(), h.data(), back.data());
  for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(back[i], half_to_float(h[i])) << i;
}

TEST_P(KernelsOnEveryTarget, FloatAndHalfRowsMatchReference) {
  for (std::size_t dim : kDims) {
    const std::size_t n = 9, nq = 5;
    const std::vector<float> x = test::gaussian(n * (dim + 1), dim);
    std::vector<std::uint16_t> h(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) h[i] = float_to_half(x[i]);
    const std::vector<float> q = test::gaussian(nq * dim, 1 + dim), w = test::gaussian(nq * n, 2);
    std::vector<float> got(nq * n), want(nq * n);
    kernels::score_f32(x.data(), dim + 1, dim, n, nq, q.data(), dim, got.data());
    kernels::ref::score_f32(x.data(), dim + 1, dim, n, nq, q.data(), dim, want.data());
    expect_close(got, want, 1e-4f, "score_f32");
    kernels::score_f16(h.data(), dim + 1, dim, n, nq, q.data(), dim, got.data());
    kernels::ref::score_f16(h.data(), dim + 1, dim, n, nq, q.data(), dim, want.data());
    expect_close(got, want, 1e-4f, "score_f16");
    std::vector<float> a(nq * dim, 0.0f), b(nq * dim, 0.0f);
    kernels::accumulate_f32(x.data(), dim + 1, dim, n, nq, w.data(), a.data(), dim);
    kernels::ref::accumulate_f32(x.data(), dim + 1, dim, n, nq, w.data(), b.data(), dim);
    expect_close(a, b, 1e-4f, "accumulate_f32");
    std::fill(a.begin(), a.end(), 0.0f);
    std::fill(b.begin(), b.end(), 0.0f);
    kernels::accumulate_f16(h.data(), dim + 1, dim, n, nq, w.data(), a.data(), dim);
    kernels::ref::accumulate_f16(h.data(), dim + 1, dim, n, nq, w.data(), b.data(), dim);
    expect_close(a, b, 1e-4f, "accumulate_f16");
  }
}

// The kernels score only the query rows there are (1, 2, 3 or 4 per pass): every count gives the
// canonical bits of the reference.
TEST_P(KernelsOnEveryTarget, ScoresAreCanonicalForEveryQueryCount) {
  for (std::size_t dim : kDims)
    for (std::size_t nq = 1; nq <= 6; ++nq) {
      const std::size_t n = 5;
      const std::vector<float> x = test::gaussian(n * dim, dim + 40), q = test::gaussian(nq * dim, nq + 41);
      std::vector<float> got(nq * n), want(nq * n);
      kernels::score_f32(x.data(), dim, dim, n, nq, q.data(), dim, got.data());
      kernels::ref::score_f32(x.data(), dim, dim, n, nq, q.data(), dim, want.data());
      ASSERT_EQ(got, want) << "dim=" << dim << " nq=" << nq;
    }
}

TEST_P(KernelsOnEveryTarget, QuantizeToPlanesGivesIdenticalCodes) {
  for (int bits = 1; bits <= 8; ++bits)
    for (std::size_t dim : kDims) {
      if (dim < 2) continue;
      const Codebook& cb = sphere_codebook(dim, bits);
      std::vector<float> y = test::gaussian(dim, 3 * dim + bits);
      for (float& v : y) v /= std::sqrt(static_cast<float>(dim));
      y[0] = cb.boundaries[0];  // a value exactly on a boundary
      std::vector<std::uint8_t> got(packed_bytes(dim, bits), 0xFF), want(packed_bytes(dim, bits), 0x00);
      kernels::quantize_to_planes(dim, y.data(), cb.boundaries.data(), bits, got.data());
      kernels::ref::quantize_to_planes(dim, y.data(), cb.boundaries.data(), bits, want.data());
      ASSERT_EQ(got, want) << "bits=" << bits << " dim=" << dim;
      // With centroids: the same codes, plus ⟨y, c⟩ and ‖c‖² of the chosen centroids.
      float dots[2], want_dots[2];
      kernels::quantize_to_planes(dim, y.data(), cb.boundaries.data(), bits, got.data(), cb.centroids.data(), dots);
      kernels::ref::quantize_to_planes(dim, y.data(), cb.boundaries.data(), bits, want.data(), cb.centroids.data(),
                                       want_dots);
      ASSERT_EQ(got, want);
      EXPECT_NEAR(dots[0], want_dots[0], 1e-5f * (1 + std::fabs(want_dots[0])));
      EXPECT_NEAR(dots[1], want_dots[1], 1e-5f * (1 + want_dots[1]));
    }
}

TEST_P(KernelsOnEveryTarget, RotationsMatchReference) {
  for (std::size_t dim : {1u, 2u, 8u, 16u, 64u, 128u, 256u}) {
    const std::vector<float> signs = test::gaussian(dim, 1), x = test::gaussian(3 * dim, 2);
    std::vector<float> s(dim);
    for (std::size_t j = 0; j < dim; ++j) s[j] = signs[j] > 0 ? 1.0f : -1.0f;
    std::vector<float> got(3 * dim), want(3 * dim);
    kernels::hadamard_rotate(3, dim, s.data(), x.data(), got.data());
    kernels::ref::hadamard_rotate(3, dim, s.data(), x.data(), want.data());
    expect_close(got, want, 1e-5f, "hadamard");
    kernels::hadamard_rotate_transpose(3, dim, s.data(), x.data(), got.data());
    kernels::ref::hadamard_rotate_transpose(3, dim, s.data(), x.data(), want.data());
    expect_close(got, want, 1e-5f, "hadamard transpose");
  }
  for (std::size_t rows : {1u, 5u, 96u})
    for (std::size_t cols : {1u, 17u, 96u, 128u}) {
      const std::vector<float> m = test::gaussian(rows * cols, 4), x = test::gaussian(2 * cols, 5),
                               xt = test::gaussian(2 * rows, 6);
      std::vector<float> got(2 * rows), want(2 * rows);
      kernels::matmul_rows(2, rows, cols, m.data(), x.data(), got.data());
      kernels::ref::matmul_rows(2, rows, cols, m.data(), x.data(), want.data());
      EXPECT_EQ(got, want) << "matmul " << rows << "x" << cols;  // canonical dot products
      if (rows == cols) {                                        // in place, as a rotation applies itself
        std::vector<float> inplace = x;
        kernels::matmul_rows(2, rows, cols, m.data(), inplace.data(), inplace.data());
        EXPECT_EQ(inplace, want) << "matmul in place " << rows;
      }
      std::vector<float> got_t(2 * cols), want_t(2 * cols);
      kernels::matmul_rows_transposed(2, rows, cols, m.data(), xt.data(), got_t.data());
      kernels::ref::matmul_rows_transposed(2, rows, cols, m.data(), xt.data(), want_t.data());
      expect_close(got_t, want_t, 1e-4f, "matmul transposed");
    }
}

INSTANTIATE_TEST_SUITE_P(Targets, KernelsOnEveryTarget, ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()),
                         target_name);

}  // namespace
}  // namespace veloxquant
