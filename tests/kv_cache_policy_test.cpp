// Attention policies of the cache (gemma2's): logit soft-capping inside attend and per-layer sliding
// windows with their eviction, against a scalar reference computed here; their validation and
// their place in the cache file (version 2, while version 1 files still load).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cache/persist.h"
#include "cache_test_util.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant {
namespace {

using test::max_abs_diff;
using test::random_normal;

// Double-precision attention of the newest nq of `tokens` tokens ([tokens][kv_heads][d]): query i
// sees positions ≤ tokens − nq + i, the last `window` of them when window > 0; scores s·scale
// become cap·tanh(s·scale/cap) when cap > 0.
std::vector<float> scalar_attention(const std::vector<float>& k, const std::vector<float>& v, std::size_t tokens,
                                    std::size_t kv_heads, std::size_t q_heads, std::size_t d, std::size_t nq,
                                    const float* q, double cap, std::size_t window) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const std::size_t group = q_heads / kv_heads;
  std::vector<float> out(nq * q_heads * d);
  for (std::size_t i = 0; i < nq; ++i) {
    const std::size_t last = tokens - nq + i;
    const std::size_t first = window > 0 && last + 1 > window ? last + 1 - window : 0;
    for (std::size_t h = 0; h < q_heads; ++h) {
      const float* qi = q + (i * q_heads + h) * d;
      std::vector<double> s(last + 1 - first), acc(d, 0.0);
      double max = -std::numeric_limits<double>::infinity(), sum = 0.0;
      for (std::size_t t = first; t <= last; ++t) {
        double dot = 0.0;
        for (std::size_t j = 0; j < d; ++j) dot += static_cast<double>(qi[j]) * k[(t * kv_heads + h / group) * d + j];
        dot *= scale;
        s[t - first] = cap > 0.0 ? cap * std::tanh(dot / cap) : dot;
        max = std::max(max, s[t - first]);
      }
      for (std::size_t t = first; t <= last; ++t) {
        const double w = std::exp(s[t - first] - max);
        sum += w;
        for (std::size_t j = 0; j < d; ++j) acc[j] += w * v[(t * kv_heads + h / group) * d + j];
      }
      for (std::size_t j = 0; j < d; ++j) out[(i * q_heads + h) * d + j] = static_cast<float>(acc[j] / sum);
    }
  }
  return out;
}

CacheConfig policy_config(const std::string& format, std::size_t window, std::size_t sinks) {
  CacheConfig c;
  c.layers = 3;
  c.kv_heads = 2;
  c.q_heads = 4;
  c.head_dim = 32;
  c.key_format = c.value_format = format;
  c.window = window;
  c.sinks = sinks;
  c.page_tokens = 16;
  c.seed = 5;
  return c;
}

struct TokenRun {
  std::size_t tokens;
  std::vector<float> k, v, q;
  explicit TokenRun(const CacheConfig& c, std::size_t n)
      : tokens(n),
        k(random_normal(n * c.kv_heads * c.head_dim, 11)),
        v(random_normal(n * c.kv_heads * c.head_dim, 12)),
        q(random_normal(n * c.q_heads * c.head_dim, 13, 3.0f)) {}  // sharp: scores of several units
};

// Appends the run in chunks (cycled) to every layer and, after each chunk, compares the attention
// of the chunk's queries on every layer with the scalar reference; returns the largest difference.
float check_chunks(KVCache& cache, const TokenRun& run, const std::vector<std::size_t>& chunks) {
  const CacheConfig& c = cache.config();
  const std::size_t width = c.kv_heads * c.head_dim, q_width = c.q_heads * c.head_dim;
  float worst = 0.0f;
  for (std::size_t t = 0, i = 0; t < run.tokens; ++i) {
    const std::size_t n = std::min(chunks[i % chunks.size()], run.tokens - t);
    for (std::size_t l = 0; l < c.layers; ++l) {
      cache.append(l, n, run.k.data() + t * width, run.v.data() + t * width);
      std::vector<float> out(n * q_width);
      const float* q = run.q.data() + t * q_width;
      cache.attend(l, n, q, out.data());
      const std::size_t w = c.sliding_windows.empty() ? 0 : c.sliding_windows[l];
      const auto want = scalar_attention(run.k, run.v, t + n, c.kv_heads, c.q_heads, c.head_dim, n, q, c.softcap, w);
      worst = std::max(worst, static_cast<float>(max_abs_diff(out, want)));
    }
    t += n;
  }
  return worst;
}

TEST(CachePolicy, SoftCapMatchesTheScalarReference) {
  for (const auto& [window, sinks] : {std::pair<std::size_t, std::size_t>{0, 0}, {8, 4}, {40, 2}}) {
    CacheConfig c = policy_config("f32", window, sinks);
    c.softcap = 1.5f;
    KVCache cache(c);
    const TokenRun run(c, 70);
    EXPECT_LE(check_chunks(cache, run, {9, 1, 1, 20, 3}), 2e-6f) << window << "/" << sinks;
  }
  // The cap changes the numbers: the uncapped reference is far off.
  CacheConfig c = policy_config("f32", 0, 0);
  c.softcap = 1.5f;
  KVCache cache(c);
  const TokenRun run(c, 30);
  cache.append(0, 30, run.k.data(), run.v.data());
  std::vector<float> out(30 * c.q_heads * c.head_dim);
  cache.attend(0, 30, run.q.data(), out.data());
  const auto uncapped = scalar_attention(run.k, run.v, 30, c.kv_heads, c.q_heads, c.head_dim, 30, run.q.data(), 0, 0);
  EXPECT_GT(max_abs_diff(out, uncapped), 0.05f);
}

// Layers 0 and 2 slide (20 and 7 tokens), layer 1 sees everything; prefill chunks longer than the
// windows and single-token decode steps, with sinks and an exact window that the local layers
// must not let a query see beyond its window.
TEST(CachePolicy, SlidingWindowsMatchTheScalarReference) {
  for (const auto& [window, sinks] : {std::pair<std::size_t, std::size_t>{0, 0}, {8, 4}, {32, 3}}) {
    CacheConfig c = policy_config("f32", window, sinks);
    c.sliding_windows = {20, 0, 7};
    c.softcap = 2.0f;
    KVCache cache(c);
    const TokenRun run(c, 150);
    EXPECT_LE(check_chunks(cache, run, {30, 1, 1, 1, 12, 1}), 2e-6f) << window << "/" << sinks;
    // Held: the windows of the last chunk's tokens (a decode step: the window itself).
    EXPECT_EQ(cache.appended(0), 150u);
    EXPECT_LE(cache.size(0), 20u - 1 + 30);
    EXPECT_EQ(cache.size(1), 150u);
    EXPECT_LE(cache.size(2), 7u - 1 + 30);
  }
}

// A decode step keeps exactly the window, and the memory of the local layers is the window's.
// (Exactness is the f32 tests' job; tq4 on these sharp scores is only checked to stay finite.)
TEST(CachePolicy, SlidingWindowEvictsToTheWindow) {
  CacheConfig c = policy_config("tq4", 4, 2);
  c.sliding_windows = {24, 0, 24};
  KVCache cache(c);
  const TokenRun run(c, 300);
  EXPECT_TRUE(std::isfinite(check_chunks(cache, run, {1})));
  EXPECT_EQ(cache.size(0), 24u);
  EXPECT_EQ(cache.size(1), 300u);
  EXPECT_EQ(cache.appended(2), 300u);
  CacheConfig full = c;
  full.sliding_windows.clear();
  KVCache all(full);
  check_chunks(all, run, {64});
  // Two of three layers hold 24 tokens instead of 300 (and at most a page more of slack).
  EXPECT_LT(cache.memory_bytes(), all.memory_bytes() * 0.45);
}

// The queries of an earlier append, and a cut below what a local layer evicted, are refused.
TEST(CachePolicy, EvictedWindowsAreNotAttendedOrCutBack) {
  CacheConfig c = policy_config("f32", 0, 0);
  c.sliding_windows = {5, 0, 5};
  KVCache cache(c);
  const TokenRun run(c, 40);
  const std::size_t width = c.kv_heads * c.head_dim;
  for (std::size_t l = 0; l < 3; ++l) cache.append(l, 40, run.k.data(), run.v.data());
  for (std::size_t l = 0; l < 3; ++l) cache.append(l, 1, run.k.data() + 39 * width, run.v.data() + 39 * width);
  std::vector<float> out(3 * c.q_heads * c.head_dim);
  cache.attend(0, 1, run.q.data(), out.data());
  cache.attend(1, 3, run.q.data(), out.data());  // the global layer holds everything
  try {
    cache.attend(0, 3, run.q.data(), out.data());
    ADD_FAILURE() << "attend of evicted windows accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sliding window of 5 tokens"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(cache.can_truncate(20));
  EXPECT_FALSE(cache.can_truncate(40));
  EXPECT_TRUE(cache.can_truncate(41));
  try {
    cache.truncate(20);
    ADD_FAILURE() << "truncate below evicted tokens accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 keeps only its sliding window of 5"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.size(1), 41u);  // unchanged
  cache.truncate(41);             // nothing to cut
  cache.clear();
  EXPECT_EQ(cache.appended(0), 0u);
  for (std::size_t l = 0; l < 3; ++l) cache.append(l, 10, run.k.data(), run.v.data());
  EXPECT_TRUE(cache.can_truncate(4));
  cache.truncate(4);  // nothing evicted yet: allowed
  EXPECT_EQ(cache.size(0), 4u);
}

TEST(CachePolicy, BadValuesAreNamed) {
  const auto message = test::config_error;
  for (const float cap : {-1.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    CacheConfig c = policy_config("tq3", 0, 0);
    c.softcap = cap;
    EXPECT_NE(message(c).find("softcap must be finite and > 0 (or 0: off), got"), std::string::npos) << message(c);
  }
  CacheConfig c = policy_config("tq3", 0, 0);
  c.sliding_windows = {4, 0};
  EXPECT_NE(message(c).find("sliding_windows has 2 entries, expected 0 or layers = 3"), std::string::npos)
      << message(c);
  c.sliding_windows = {4, 0, std::size_t{1} << 50};
  EXPECT_NE(message(c).find("sliding_windows[2] = 1125899906842624"), std::string::npos) << message(c);
}

// Soft-capping, windows and evicted counts survive save → load (file version 2), and the loaded
// cache attends and continues bit for bit as the original.
TEST(CachePolicy, PoliciesArePersisted) {
  CacheConfig c = policy_config("tq3", 8, 2);
  c.sliding_windows = {10, 0, 10};
  c.softcap = 2.5f;
  KVCache cache(c);
  const TokenRun run(c, 80);
  check_chunks(cache, run, {50, 1, 3});
  const std::vector<std::uint8_t> image = serialize_cache(cache);
  EXPECT_EQ(image[8], 2);  // version
  KVCache loaded = parse_cache(image);
  EXPECT_EQ(loaded.config().softcap, 2.5f);
  EXPECT_EQ(loaded.config().sliding_windows, c.sliding_windows);
  for (std::size_t l = 0; l < 3; ++l) EXPECT_EQ(loaded.appended(l), cache.appended(l)) << l;
  EXPECT_EQ(serialize_cache(loaded), image);
  const std::size_t width = c.kv_heads * c.head_dim;
  std::vector<float> a(c.q_heads * c.head_dim), b(a.size());
  for (std::size_t l = 0; l < 3; ++l) {
    cache.append(l, 1, run.k.data() + 79 * width, run.v.data() + 79 * width);
    loaded.append(l, 1, run.k.data() + 79 * width, run.v.data() + 79 * width);
    cache.attend(l, 1, run.q.data(), a.data());
    loaded.attend(l, 1, run.q.data(), b.data());
    EXPECT_EQ(a, b) << l;
  }
}

// A cache without the policies is written as version 1, as before; the version 1 files of the
// fuzz corpus (written before version 2 existed) load and re-save to the same bytes.
TEST(CachePolicy, VersionOneFilesStillLoad) {
  KVCache plain(policy_config("tq3", 8, 2));
  const TokenRun run(plain.config(), 30);
  check_chunks(plain, run, {7});
  EXPECT_EQ(serialize_cache(plain)[8], 1);
  const std::filesystem::path corpus = std::filesystem::path(VELOXQUANT_SOURCE_DIR) / "fuzz/corpus/cache_file";
  for (const char* name : {"tq3_two_layers_raw.vqkv", "outliers_evicting_raw.vqkv", "qjl_polar_raw.vqkv"}) {
    std::ifstream in(corpus / name, std::ios::binary);
    ASSERT_TRUE(in) << name;
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::vector<std::uint8_t> image(bytes.begin() + 1, bytes.end());  // the fuzzer's mode byte first
    ASSERT_EQ(image[8], 1) << name;
    const KVCache loaded = parse_cache(image);
    EXPECT_EQ(serialize_cache(loaded), image) << name;
  }
}

}  // namespace
}  // namespace veloxquant
