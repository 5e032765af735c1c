#include <gtest/gtest.h>

#include <cmath>

#include "math/quadrature.h"
#include "veloxquant/codebook.h"

namespace veloxquant {
namespace {

// theory.md, "exact" columns: D_mse(b) = d·C(f_d, b).
TEST(Codebook, MseMatchesTheoryExactColumns) {
  const double exact128[] = {0.36089, 0.11600, 0.03397, 0.00931};
  const double exact64[] = {0.35839, 0.11453, 0.03339, 0.00913};
  for (int b = 1; b <= 4; ++b) {
    EXPECT_NEAR(128 * sphere_codebook(128, b).mse, exact128[b - 1], 0.002 * exact128[b - 1]) << "b=" << b;
    EXPECT_NEAR(64 * sphere_codebook(64, b).mse, exact64[b - 1], 0.002 * exact64[b - 1]) << "b=" << b;
  }
}

// theory.md's centroids × √d for d = 128. Its b = 4 list is not quite a fixed point of the
// Lloyd–Max conditions (its MSE is higher than ours by 1e-8, see docs/formats.md), so the
// tolerance is 1e-3 on the √d scale: three decimals.
TEST(Codebook, CentroidsMatchTheoryList) {
  const std::vector<std::vector<double>> expected = {{0.7994},
                                                     {0.4525, 1.5052},
                                                     {0.2444, 0.7532, 1.3365, 2.1313},
                                                     {0.1277, 0.3860, 0.6530, 0.9364, 1.2470, 1.6035, 2.0452, 2.6882}};
  for (int b = 1; b <= 4; ++b) {
    const Codebook& cb = sphere_codebook(128, b);
    const std::size_t half = cb.centroids.size() / 2;
    for (std::size_t i = 0; i < half; ++i) {
      EXPECT_NEAR(cb.centroids[half + i] * std::sqrt(128.0), expected[b - 1][i], 1e-3) << "b=" << b << " i=" << i;
      EXPECT_NEAR(cb.centroids[half - 1 - i], -cb.centroids[half + i], 1e-6);  // symmetric
    }
  }
}

TEST(Codebook, LloydMaxConditionsHold) {
  for (std::size_t d : {2u, 3u, 64u, 129u, 4096u})
    for (int b = 1; b <= 8; ++b) {
      const Codebook& cb = sphere_codebook(d, b);
      ASSERT_EQ(cb.centroids.size(), std::size_t{1} << b);
      for (std::size_t i = 0; i + 1 < cb.centroids.size(); ++i) {
        EXPECT_LT(cb.centroids[i], cb.centroids[i + 1]);
        EXPECT_NEAR(cb.boundaries[i], 0.5 * (cb.centroids[i] + cb.centroids[i + 1]), 1e-6);
      }
      // Centroid condition: each centroid is its cell's conditional mean.
      for (std::size_t i = 0; i < cb.centroids.size(); ++i) {
        const double lo = i == 0 ? -1.0 : cb.boundaries[i - 1];
        const double hi = i + 1 == cb.centroids.size() ? 1.0 : cb.boundaries[i];
        auto f = [d](double t) { return sphere_coordinate_density(d, t); };
        const double m0 = integrate(f, std::max(lo, -1.0), std::min(hi, 1.0), 64);
        const double m1 = integrate([&](double t) { return t * f(t); }, lo, hi, 64);
        if (m0 > 1e-12 && d > 2) {
          EXPECT_NEAR(m1 / m0, cb.centroids[i], 2e-4 / std::sqrt(double(d))) << d << " " << b;
        }
      }
    }
}

TEST(Codebook, MseFallsWithBits) {
  for (int b = 2; b <= 8; ++b) EXPECT_LT(sphere_codebook(128, b).mse, sphere_codebook(128, b - 1).mse);
}

TEST(Codebook, DensityIntegratesToOne) {
  for (std::size_t d : {3u, 64u, 128u}) {
    const double mass = integrate([d](double t) { return sphere_coordinate_density(d, t); }, -1.0, 1.0, 256);
    EXPECT_NEAR(mass, 1.0, 1e-6) << d;
  }
}

TEST(Codebook, NearestCentroidUsesBoundaries) {
  const Codebook& cb = sphere_codebook(128, 3);
  EXPECT_EQ(nearest_centroid(cb, -1.0f), 0);
  EXPECT_EQ(nearest_centroid(cb, 1.0f), 7);
  for (std::size_t i = 0; i < cb.centroids.size(); ++i) EXPECT_EQ(nearest_centroid(cb, cb.centroids[i]), int(i));
}

TEST(Codebook, PolarAngleCodebooks) {
  const Codebook& l1 = polar_angle_codebook(1, 4);
  EXPECT_NEAR(l1.centroids.front(), 2 * M_PI / 32, 1e-6);
  EXPECT_NEAR(l1.centroids.back(), 2 * M_PI - 2 * M_PI / 32, 1e-5);
  for (int level = 2; level <= 4; ++level) {
    const Codebook& cb = polar_angle_codebook(level, 2);
    // Densities are symmetric about π/4.
    EXPECT_NEAR(cb.centroids[0] + cb.centroids[3], M_PI / 2, 1e-5);
    EXPECT_GT(cb.centroids[0], 0.0f);
    EXPECT_LT(cb.centroids[3], M_PI / 2);
  }
  // Higher levels concentrate around π/4: smaller MSE.
  EXPECT_LT(polar_angle_codebook(4, 2).mse, polar_angle_codebook(3, 2).mse);
  EXPECT_LT(polar_angle_codebook(3, 2).mse, polar_angle_codebook(2, 2).mse);
}

TEST(Codebook, BadArgumentsThrow) {
  EXPECT_THROW(sphere_codebook(128, 0), std::invalid_argument);
  EXPECT_THROW(sphere_codebook(128, 9), std::invalid_argument);
  EXPECT_THROW(sphere_codebook(1, 2), std::invalid_argument);
  EXPECT_THROW(polar_angle_codebook(0, 2), std::invalid_argument);
  Codebook wrong = sphere_codebook(16, 2);
  wrong.centroids[1] = wrong.centroids[0];
  EXPECT_THROW(set_sphere_codebook(16, 2, wrong), std::invalid_argument);
}

TEST(Codebook, SetCodebookOverridesCache) {
  Codebook cb = sphere_codebook(24, 2);
  cb.centroids = {-0.5f, -0.1f, 0.1f, 0.5f};
  cb.boundaries = {-0.3f, 0.0f, 0.3f};
  set_sphere_codebook(24, 2, cb);
  EXPECT_EQ(sphere_codebook(24, 2).centroids[3], 0.5f);
}

}  // namespace
}  // namespace veloxquant
