// The cache's own helpers: the choice of outlier channels.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "cache/outlier_channels.h"
#include "cache_test_util.h"

namespace veloxquant {
namespace {

TEST(CacheKernels, OutlierChannelsAreTheLargest) {
  const std::size_t n = 50, d = 64;
  std::vector<float> x = test::random_normal(n * d, 5);
  for (std::size_t t = 0; t < n; ++t) {
    x[t * d + 3] *= 10.0f;
    x[t * d + 40] *= 6.0f;
    x[t * d + 17] *= 8.0f;
  }
  EXPECT_EQ(choose_outlier_channels(n, d, x.data(), 3), (std::vector<std::uint32_t>{3, 17, 40}));
  EXPECT_EQ(choose_outlier_channels(n, d, x.data(), 1), (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(choose_outlier_channels(0, d, x.data(), 2), (std::vector<std::uint32_t>{0, 1}));  // ties: lower first
  EXPECT_EQ(choose_outlier_channels(n, d, x.data(), 0).size(), 0u);
  EXPECT_THROW(choose_outlier_channels(n, d, x.data(), d + 1), std::invalid_argument);
}

}  // namespace
}  // namespace veloxquant
