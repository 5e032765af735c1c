// The cache's own kernels: SIMD softmax pieces against their scalar references, and the choice
// of outlier channels.
#include <gtest/gtest.h>

#include <cmath>
#include <atomic>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cache/outlier_channels.h"
#include "cache/softmax_kernels.h"
#include "cache/worker_pool.h"
#include "cache_test_util.h"

namespace veloxquant {
namespace {

TEST(CacheKernels, RowMaxMatchesReference) {
  for (std::size_t n : {1, 2, 7, 15, 16, 17, 31, 64, 255, 256, 301}) {
    std::vector<float> s = test::random_normal(n, n, 3.0f);
    s[n / 2] = 40.0f + static_cast<float>(n);  // a known maximum anywhere, including the tail
    EXPECT_EQ(row_max(s.data(), n), row_max_ref(s.data(), n)) << n;
    EXPECT_EQ(row_max(s.data(), n), 40.0f + static_cast<float>(n)) << n;
  }
}

TEST(CacheKernels, ExpRowMatchesReference) {
  for (std::size_t n : {1, 3, 8, 15, 16, 17, 63, 64, 65, 256, 257}) {
    std::vector<float> s = test::random_normal(n, 100 + n, 4.0f);
    s[0] = -2000.0f;  // far below −104 after scaling: weight 0
    std::vector<float> r = s;
    const float scale = 0.125f, shift = row_max_ref(s.data(), n) * scale;
    const float sum = exp_row(s.data(), n, scale, shift);
    const float sum_ref = exp_row_ref(r.data(), n, scale, shift);
    for (std::size_t t = 0; t < n; ++t) EXPECT_NEAR(s[t], r[t], 3e-7f * r[t] + 1e-30f) << n << " " << t;
    EXPECT_EQ(s[0], n == 1 ? 1.0f : 0.0f);
    EXPECT_NEAR(sum, sum_ref, 1e-6f * sum_ref) << n;
    EXPECT_GE(sum, 1.0f);  // the maximum contributes exp(0) = 1
  }
}

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

TEST(CacheWorkerPool, RunsEveryWorkerOnceAndRethrows) {
  for (std::size_t workers : {1, 2, 5, 3}) {
    std::vector<std::atomic<int>> runs(workers);
    run_on_workers(workers, [&](std::size_t w) { runs[w]++; });
    for (std::size_t w = 0; w < workers; ++w) EXPECT_EQ(runs[w].load(), 1) << workers << " workers, worker " << w;
  }
  EXPECT_THROW(run_on_workers(3, [](std::size_t w) {
                 if (w == 2) throw std::runtime_error("worker 2");
               }),
               std::runtime_error);
  // Calls from several threads at once (the pool serves one; the others start their own threads).
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) run_on_workers(3, [&](std::size_t) { total++; });
    });
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 50 * 3);
}

}  // namespace
}  // namespace veloxquant
