// KV cache structure: exactness with f32, decode = prefill, truncate, eviction, threads, copies,
// memory accounting and input validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "cache_test_util.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant {
namespace {

using test::max_abs_diff;
using test::random_normal;
using test::reference_attention;

struct Tokens {
  std::size_t kv_heads, q_heads, d;
  std::vector<float> k, v;
  Tokens(std::size_t n, std::size_t kv_heads_, std::size_t q_heads_, std::size_t d_, std::uint64_t seed)
      : kv_heads(kv_heads_),
        q_heads(q_heads_),
        d(d_),
        k(random_normal(n * kv_heads_ * d_, seed)),
        v(random_normal(n * kv_heads_ * d_, seed + 1)) {}
  const float* key(std::size_t t) const { return k.data() + t * kv_heads * d; }
  const float* value(std::size_t t) const { return v.data() + t * kv_heads * d; }
  std::vector<float> queries(std::size_t nq, std::uint64_t seed) const {
    // Larger queries make sharper attention, which exposes position mistakes.
    return random_normal(nq * q_heads * d, seed, 2.0f);
  }
};

CacheConfig small_config(const std::string& format, std::size_t window, std::size_t sinks, std::size_t d = 64) {
  CacheConfig c;
  c.layers = 2;
  c.kv_heads = 2;
  c.q_heads = 6;
  c.head_dim = d;
  c.key_format = c.value_format = format;
  c.window = window;
  c.sinks = sinks;
  c.page_tokens = 32;
  c.seed = 7;
  return c;
}

// Appends tokens [from, to) to every layer in chunks of the given sizes (cycled).
void append_chunks(KVCache& cache, const Tokens& tok, std::size_t from, std::size_t to,
                   const std::vector<std::size_t>& chunks) {
  std::size_t t = from;
  for (std::size_t i = 0; t < to; ++i) {
    const std::size_t n = std::min(chunks[i % chunks.size()], to - t);
    for (std::size_t l = 0; l < cache.config().layers; ++l) cache.append(l, n, tok.key(t), tok.value(t));
    t += n;
  }
}

std::vector<float> attend(const KVCache& cache, std::size_t layer, std::size_t nq, const std::vector<float>& q) {
  std::vector<float> out(nq * cache.config().q_heads * cache.config().head_dim);
  cache.attend(layer, nq, q.data(), out.data());
  return out;
}

struct ExactCase {
  std::size_t window, sinks, d;
};

class F32Exact : public ::testing::TestWithParam<ExactCase> {};

TEST_P(F32Exact, MatchesExactAttention) {
  const ExactCase p = GetParam();
  const std::size_t n = 300;
  const Tokens tok(n, 2, 6, p.d, 11);
  KVCache cache(small_config("f32", p.window, p.sinks, p.d));
  append_chunks(cache, tok, 0, n, {1, 7, 50, 3, 64});
  ASSERT_EQ(cache.size(0), n);
  for (std::size_t nq : {std::size_t{1}, std::size_t{37}, n}) {
    const std::vector<float> q = tok.queries(nq, 100 + nq);
    const std::vector<float> expected = reference_attention(tok.k, tok.v, n, 2, 6, p.d, nq, q.data());
    for (std::size_t l = 0; l < 2; ++l)
      EXPECT_LT(max_abs_diff(attend(cache, l, nq, q), expected), 1e-5) << "layer " << l << " nq " << nq;
  }
}

INSTANTIATE_TEST_SUITE_P(Parts, F32Exact,
                         ::testing::Values(ExactCase{16, 4, 64}, ExactCase{0, 0, 64}, ExactCase{0, 5, 96},
                                           ExactCase{128, 4, 128}, ExactCase{500, 0, 3}, ExactCase{33, 1, 31},
                                           ExactCase{8, 2, 256}));

TEST(KVCache, ScaleIsConfigurable) {
  const Tokens tok(40, 2, 6, 64, 3);
  CacheConfig c = small_config("f32", 8, 2);
  c.scale = 0.37f;
  KVCache cache(c);
  append_chunks(cache, tok, 0, 40, {40});
  const std::vector<float> q = tok.queries(3, 5);
  EXPECT_LT(max_abs_diff(attend(cache, 0, 3, q), reference_attention(tok.k, tok.v, 40, 2, 6, 64, 3, q.data(), 0.37)),
            1e-5);
}

// Sinks and window in f16 / bf16: the output is exact attention on the rounded tokens, and the
// window takes half the bytes of an f32 one.
TEST(KVCache, HalfPrecisionWindow) {
  const std::size_t n = 100;
  const Tokens tok(n, 2, 6, 64, 13);
  const std::vector<float> q = tok.queries(4, 14);
  const std::vector<float> expected = reference_attention(tok.k, tok.v, n, 2, 6, 64, 4, q.data());
  for (const auto& [format, tolerance] : {std::pair{"f16", 2e-3}, std::pair{"bf16", 2e-2}}) {
    CacheConfig c = small_config("f32", 200, 4);
    c.exact_format = format;
    KVCache cache(c);
    append_chunks(cache, tok, 0, n, {n});
    const double err = max_abs_diff(attend(cache, 0, 4, q), expected);
    EXPECT_LT(err, tolerance) << format;
    EXPECT_GT(err, 0.0) << format;  // the window really is stored at half precision
    EXPECT_EQ(cache.stats().window_bytes, 2u * 2 * 2 * 200 * 64 * 2) << format;
  }
}

// A decode step (append one token, attend its query) equals the same row of a chunked prefill.
TEST(KVCache, DecodeEqualsPrefillF32) {
  const std::size_t n = 200, nq = 40;
  const Tokens tok(n, 2, 6, 64, 21);
  const std::vector<float> q = tok.queries(nq, 22);
  KVCache prefill(small_config("f32", 16, 4));
  append_chunks(prefill, tok, 0, n, {n});
  const std::vector<float> all = attend(prefill, 1, nq, q);

  KVCache decode(small_config("f32", 16, 4));
  append_chunks(decode, tok, 0, n - nq, {n - nq});
  const std::size_t row = 6 * 64;
  for (std::size_t i = 0; i < nq; ++i) {
    append_chunks(decode, tok, n - nq + i, n - nq + i + 1, {1});
    const std::vector<float> qi(q.begin() + i * row, q.begin() + (i + 1) * row);
    const std::vector<float> one = attend(decode, 1, 1, qi);
    const std::vector<float> expected(all.begin() + i * row, all.begin() + (i + 1) * row);
    ASSERT_LT(max_abs_diff(one, expected), 1e-5) << "query " << i;
  }
}

// Truncating into the window, the pages or the sinks and appending other tokens gives what a
// cache that never saw the removed tokens gives (f32: every part is exact).
TEST(KVCache, TruncateThenReappendF32) {
  const std::size_t n = 150;
  const Tokens tok(n, 2, 6, 64, 31), other(n, 2, 6, 64, 32);
  for (std::size_t cut : {std::size_t{145}, std::size_t{100}, std::size_t{40}, std::size_t{2}, std::size_t{0}}) {
    KVCache cache(small_config("f32", 16, 4));
    append_chunks(cache, tok, 0, n, {13});
    cache.truncate(cut);
    ASSERT_EQ(cache.size(0), cut);
    ASSERT_EQ(cache.size(1), cut);
    // Expected: tokens 0..cut of `tok`, then 60 tokens of `other`.
    const std::size_t added = 60;
    Tokens mixed(cut + added, 2, 6, 64, 0);
    std::copy(tok.k.begin(), tok.k.begin() + cut * 2 * 64, mixed.k.begin());
    std::copy(tok.v.begin(), tok.v.begin() + cut * 2 * 64, mixed.v.begin());
    std::copy(other.k.begin(), other.k.begin() + added * 2 * 64, mixed.k.begin() + cut * 2 * 64);
    std::copy(other.v.begin(), other.v.begin() + added * 2 * 64, mixed.v.begin() + cut * 2 * 64);
    append_chunks(cache, mixed, cut, cut + added, {7});
    const std::vector<float> q = tok.queries(9, 33);
    const std::vector<float> expected = reference_attention(mixed.k, mixed.v, cut + added, 2, 6, 64, 9, q.data());
    EXPECT_LT(max_abs_diff(attend(cache, 0, 9, q), expected), 1e-5) << "cut " << cut;
  }
}

TEST(KVCache, TruncateBeyondSizeKeepsEverything) {
  const Tokens tok(50, 2, 6, 64, 41);
  KVCache cache(small_config("f32", 16, 4));
  append_chunks(cache, tok, 0, 50, {50});
  cache.truncate(80);
  EXPECT_EQ(cache.size(0), 50u);
}

// max_tokens keeps the sinks and the newest tokens.
TEST(KVCache, EvictionKeepsSinksAndNewest) {
  const std::size_t n = 333, max_tokens = 100, sinks = 4;
  const Tokens tok(n, 2, 6, 64, 51);
  for (std::size_t window : {std::size_t{16}, std::size_t{0}, std::size_t{120}}) {
    CacheConfig c = small_config("f32", window, sinks);
    c.max_tokens = max_tokens;
    c.page_tokens = 8;
    KVCache cache(c);
    append_chunks(cache, tok, 0, n, {1, 29, 5});
    ASSERT_EQ(cache.size(0), max_tokens);
    std::vector<std::size_t> positions(sinks);
    std::iota(positions.begin(), positions.end(), 0);
    for (std::size_t t = n - (max_tokens - sinks); t < n; ++t) positions.push_back(t);
    const std::vector<float> q = tok.queries(5, 52);
    const std::vector<float> expected =
        reference_attention(tok.k, tok.v, max_tokens, 2, 6, 64, 5, q.data(), 0.0, positions);
    EXPECT_LT(max_abs_diff(attend(cache, 1, 5, q), expected), 1e-5) << "window " << window;
    // Pages of evicted tokens are freed: at most ⌈(max_tokens − sinks) / page⌉ + 1 pages per head.
    const std::size_t page_bytes = 8 * 64 * 4 * 2;
    EXPECT_LE(cache.stats().code_bytes, 2 * 2 * ((max_tokens - sinks) / 8 + 2) * page_bytes);
  }
}

TEST(KVCache, ResultsAreIndependentOfThreadCount) {
  const std::size_t n = 700;
  CacheConfig c = small_config("f32", 16, 4);
  c.kv_heads = 5;
  c.q_heads = 10;
  const Tokens tok(n, 5, 10, 64, 61);
  std::vector<std::vector<float>> outs;
  for (std::size_t threads : {1, 2, 3, 8}) {
    c.threads = threads;
    KVCache cache(c);
    append_chunks(cache, tok, 0, n, {100});
    outs.push_back(attend(cache, 0, 3, tok.queries(3, 62)));
  }
  for (std::size_t i = 1; i < outs.size(); ++i)
    EXPECT_EQ(std::memcmp(outs[0].data(), outs[i].data(), outs[0].size() * sizeof(float)), 0) << "config " << i;
}

// attend() is const and may be called from several threads at once (each with its own output).
TEST(KVCache, ConcurrentAttendCalls) {
  CacheConfig c = small_config("f32", 16, 4);
  c.kv_heads = 4;
  c.q_heads = 8;
  c.threads = 2;
  const Tokens tok(300, 4, 8, 64, 63);
  KVCache cache(c);
  append_chunks(cache, tok, 0, 300, {300});
  const std::vector<float> q = tok.queries(2, 64);
  const std::vector<float> expected = attend(cache, 1, 2, q);
  std::vector<std::vector<float>> outs(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < outs.size(); ++i)
    threads.emplace_back([&, i] {
      for (int r = 0; r < 20; ++r) outs[i] = attend(cache, 1, 2, q);
    });
  for (std::thread& t : threads) t.join();
  for (const std::vector<float>& out : outs) EXPECT_EQ(out, expected);
}

TEST(KVCache, CopyIsIndependent) {
  const Tokens tok(120, 2, 6, 64, 71);
  KVCache a(small_config("f32", 16, 4));
  append_chunks(a, tok, 0, 80, {80});
  const std::vector<float> q = tok.queries(2, 72);
  const std::vector<float> before = attend(a, 0, 2, q);
  KVCache b(a);
  append_chunks(b, tok, 80, 120, {40});
  EXPECT_EQ(a.size(0), 80u);
  EXPECT_EQ(b.size(0), 120u);
  EXPECT_EQ(attend(a, 0, 2, q), before);
  KVCache c(small_config("f32", 0, 0));
  c = b;
  EXPECT_EQ(attend(c, 0, 2, q), attend(b, 0, 2, q));
}

TEST(KVCache, ClearEmptiesAndReuses) {
  const Tokens tok(90, 2, 6, 64, 81);
  KVCache cache(small_config("f32", 16, 4));
  append_chunks(cache, tok, 0, 90, {90});
  cache.clear();
  EXPECT_EQ(cache.size(0), 0u);
  EXPECT_EQ(cache.memory_bytes(), 0u);
  append_chunks(cache, tok, 0, 50, {50});
  const std::vector<float> q = tok.queries(1, 82);
  EXPECT_LT(max_abs_diff(attend(cache, 0, 1, q), reference_attention(tok.k, tok.v, 50, 2, 6, 64, 1, q.data())), 1e-5);
}

// memory_bytes() counts what is allocated: whole pages, the window ring, the sinks.
TEST(KVCache, MemoryIsAllocatedPayload) {
  CacheConfig c = small_config("f32", 16, 4);
  KVCache cache(c);
  EXPECT_EQ(cache.memory_bytes(), 0u);
  const Tokens tok(100, 2, 6, 64, 91);
  append_chunks(cache, tok, 0, 100, {1});
  // 80 compressed tokens → 3 pages of 32 records; window 16 records; 4 sinks. f32 records.
  const std::size_t record = 64 * 4, per_head = (3 * 32 + 16 + 4) * record * 2;
  EXPECT_EQ(cache.memory_bytes(), 2 * 2 * per_head);
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.tokens, 100u);
  EXPECT_EQ(s.key_code_bytes, 2u * 2 * 3 * 32 * record);
  EXPECT_EQ(s.value_code_bytes, s.key_code_bytes);
  EXPECT_EQ(s.window_bytes, 2u * 2 * 16 * record * 2);
  EXPECT_EQ(s.sink_bytes, 2u * 2 * 4 * record * 2);
  EXPECT_EQ(s.outlier_bytes, 0u);
  EXPECT_DOUBLE_EQ(s.key_bits_per_coord, 32.0);
  EXPECT_GT(s.encode_seconds, 0.0);
  attend(cache, 0, 1, tok.queries(1, 1));
  EXPECT_GT(cache.stats().attend_seconds, 0.0);
}

TEST(KVCache, BadInputThrowsAndLeavesCacheUnchanged) {
  const Tokens tok(60, 2, 6, 64, 101);
  KVCache cache(small_config("f32", 16, 4));
  append_chunks(cache, tok, 0, 50, {50});
  const std::vector<float> q = tok.queries(2, 102);
  const std::vector<float> before = attend(cache, 1, 2, q);
  const std::size_t bytes = cache.memory_bytes();

  auto expect_message = [](auto&& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no exception, expected one naming " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(part));
    }
  };
  expect_message([&] { cache.append(2, 1, tok.key(50), tok.value(50)); }, "layer 2");
  std::vector<float> bad_k(tok.k.begin() + 50 * 128, tok.k.begin() + 53 * 128);
  bad_k[2 * 128 + 64 + 5] = std::numeric_limits<float>::quiet_NaN();
  expect_message([&] { cache.append(1, 3, bad_k.data(), tok.value(50)); }, "k[token 2][head 1][5]");
  std::vector<float> bad_v(tok.v.begin() + 50 * 128, tok.v.begin() + 53 * 128);
  bad_v[7] = std::numeric_limits<float>::infinity();
  expect_message([&] { cache.append(1, 3, tok.key(50), bad_v.data()); }, "v[token 0][head 0][7]");
  expect_message([&] { cache.append(0, 1, nullptr, tok.value(50)); }, "k is null");
  std::vector<float> bad_q = q;
  bad_q[6 * 64 + 3] = -std::numeric_limits<float>::infinity();
  std::vector<float> out(2 * 6 * 64);
  expect_message([&] { cache.attend(1, 2, bad_q.data(), out.data()); }, "q[token 1][head 0][3]");
  expect_message([&] { cache.attend(1, 51, q.data(), out.data()); }, "n_queries 51");
  expect_message([&] { cache.attend(5, 1, q.data(), out.data()); }, "layer 5");
  expect_message([&] { (void)cache.size(9); }, "layer 9");

  EXPECT_EQ(cache.size(0), 50u);
  EXPECT_EQ(cache.size(1), 50u);
  EXPECT_EQ(cache.memory_bytes(), bytes);
  EXPECT_EQ(attend(cache, 1, 2, q), before);
}

TEST(KVCache, BadConfigThrows) {
  auto expect_message = [](CacheConfig c, const std::string& part) {
    try {
      KVCache cache(c);
      ADD_FAILURE() << "no exception, expected one naming " << part;
    } catch (const std::invalid_argument& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(part));
    }
  };
  CacheConfig c = small_config("f32", 16, 4);
  c.q_heads = 5;
  expect_message(c, "q_heads (5)");
  c = small_config("f32", 16, 4);
  c.max_tokens = 3;
  expect_message(c, "max_tokens (3)");
  c = small_config("f32", 16, 4);
  c.exact_format = "q8";
  expect_message(c, "q8");
  c = small_config("f32", 16, 4);
  c.key_format = "nonsense";
  expect_message(c, "nonsense");
  c = small_config("f32", 16, 4);
  c.scale = -1.0f;
  expect_message(c, "scale");
  c = small_config("f32", 16, 4);
  c.layers = 0;
  expect_message(c, "layers");
}

}  // namespace
}  // namespace veloxquant
