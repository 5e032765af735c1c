// Use from several threads at once: appends to different layers of one cache, attends on some
// layers while others are appended to, first use of quantizers (codebook solving) from many
// threads. (The thread pool: tests/thread_pool_test.cpp.) Run under ThreadSanitizer by `make tsan`.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cache/persist.h"
#include "cache_test_util.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

using test::random_normal;

CacheConfig layered_config() {
  CacheConfig c;
  c.layers = 4;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 64;
  c.key_format = "tq3";
  c.value_format = "tq2.5";  // outlier channels are chosen per head on first compression
  c.window = 8;
  c.sinks = 2;
  c.page_tokens = 16;
  c.calibration_tokens = 16;
  c.seed = 5;
  return c;
}

// Tokens of layer l: [n][kv_heads][d], different per layer.
std::vector<float> layer_tokens(std::size_t l, std::size_t n, std::uint64_t salt) {
  return random_normal(n * 2 * 64, 1000 * l + salt);
}

// Different layers are independent: appending to each from its own thread gives the same cache,
// byte for byte, as appending sequentially.
TEST(Concurrency, AppendsToDifferentLayersFromSeveralThreads) {
  const std::size_t n = 120;
  const CacheConfig c = layered_config();
  KVCache sequential(c), parallel(c);
  for (std::size_t l = 0; l < c.layers; ++l) {
    const std::vector<float> k = layer_tokens(l, n, 1), v = layer_tokens(l, n, 2);
    for (std::size_t t = 0; t < n; t += 10) sequential.append(l, 10, k.data() + t * 128, v.data() + t * 128);
  }
  std::vector<std::thread> threads;
  for (std::size_t l = 0; l < c.layers; ++l)
    threads.emplace_back([&, l] {
      const std::vector<float> k = layer_tokens(l, n, 1), v = layer_tokens(l, n, 2);
      for (std::size_t t = 0; t < n; t += 10) parallel.append(l, 10, k.data() + t * 128, v.data() + t * 128);
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(serialize_cache(parallel), serialize_cache(sequential));
}

// attend (const, with its worker pool) on layers 0–1 while layers 2–3 are appended to.
TEST(Concurrency, AttendOnSomeLayersWhileAppendingToOthers) {
  CacheConfig c = layered_config();
  c.threads = 2;
  KVCache cache(c);
  const std::size_t n = 80;
  for (std::size_t l = 0; l < 2; ++l) {
    const std::vector<float> k = layer_tokens(l, n, 3), v = layer_tokens(l, n, 4);
    cache.append(l, n, k.data(), v.data());
  }
  const std::vector<float> q = random_normal(2 * 4 * 64, 77);
  std::vector<float> expected(q.size());
  cache.attend(1, 2, q.data(), expected.data());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (std::size_t l = 0; l < 2; ++l)
    threads.emplace_back([&, l] {
      std::vector<float> out(q.size());
      for (int r = 0; r < 10; ++r) {
        cache.attend(l, 2, q.data(), out.data());
        if (l == 1 && out != expected) ++mismatches;
      }
    });
  for (std::size_t l = 2; l < 4; ++l)
    threads.emplace_back([&, l] {
      const std::vector<float> k = layer_tokens(l, n, 5), v = layer_tokens(l, n, 6);
      for (std::size_t t = 0; t < n; t += 8) cache.append(l, 8, k.data() + t * 128, v.data() + t * 128);
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(cache.size(3), n);
}

// Quantizers built for the first time from several threads at once (codebooks are solved and
// cached on first use) encode exactly like ones built later from one thread.
TEST(Concurrency, FirstUseOfQuantizersFromSeveralThreads) {
  const std::vector<std::size_t> dims = {40, 72, 136, 200};  // not used by other tests of this process
  const char* formats[] = {"tq3", "tq5", "tqp4", "polar", "qjl"};
  std::vector<std::vector<std::uint8_t>> codes(dims.size() * std::size(formats));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < codes.size(); ++i)
    threads.emplace_back([&, i] {
      const std::size_t d = dims[i % dims.size()];
      const auto q = make_quantizer(formats[i / dims.size()], d, 9);
      const std::vector<float> x = random_normal(d, i);
      codes[i].resize(q->code_size());
      q->encode(1, x.data(), codes[i].data());
    });
  for (std::thread& t : threads) t.join();
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::size_t d = dims[i % dims.size()];
    const auto q = make_quantizer(formats[i / dims.size()], d, 9);
    const std::vector<float> x = random_normal(d, i);
    std::vector<std::uint8_t> again(q->code_size());
    q->encode(1, x.data(), again.data());
    EXPECT_EQ(again, codes[i]) << formats[i / dims.size()] << " d=" << d;
  }
}

}  // namespace
}  // namespace veloxquant
