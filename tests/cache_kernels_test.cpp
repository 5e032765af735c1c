// The cache's own helpers: the choice of outlier channels and the worker pool.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cache/outlier_channels.h"
#include "cache/worker_pool.h"
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

TEST(CacheWorkerPool, RunsEveryWorkerOnceAndRethrows) {
  for (std::size_t workers : {1, 2, 5, 3}) {
    std::vector<std::atomic<int>> runs(workers);
    run_on_workers(workers, [&](std::size_t w) { runs[w]++; });
    for (std::size_t w = 0; w < workers; ++w) EXPECT_EQ(runs[w].load(), 1) << workers << " workers, worker " << w;
  }
  EXPECT_THROW(run_on_workers(3,
                              [](std::size_t w) {
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
