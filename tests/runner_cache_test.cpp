// The runner on the compressed veloxquant::KVCache: the f32 format reproduces the exact
// attention path, compressed formats stay close and use fewer bytes, bad names are rejected.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner_gguf_writer.h"

namespace veloxquant {
namespace {

struct CacheRun {
  std::vector<float> logits;  // [n][vocab]
  KvBits bits;
};

// Prefill of `prefill` tokens, then one token at a time (both paths of the runner).
CacheRun run_tokens(const LlamaModel& model, const KvStoreOptions& options, const std::vector<std::int32_t>& ids,
                    std::size_t prefill, std::size_t threads) {
  ThreadPool pool(threads);
  const LlamaConfig& c = model.config();
  const std::unique_ptr<KvStore> store = make_kv_store(options, {c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession session(model, *store, pool);
  CacheRun r;
  r.logits.resize(ids.size() * c.vocab);
  session.forward(ids.data(), prefill, r.logits.data(), true);
  for (std::size_t t = prefill; t < ids.size(); ++t)
    session.forward(ids.data() + t, 1, r.logits.data() + t * c.vocab, false);
  EXPECT_EQ(store->size(), ids.size());
  r.bits = store->bits_per_coord();
  return r;
}

class RunnerCache : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyLlama m;
    m.dim = 128;  // head_dim 32
    m.ffn = 128;
    std::vector<std::pair<std::string, std::vector<float>>> weights;
    model_ = std::make_unique<LlamaModel>(
        LlamaModel::from_gguf(GgufFile::from_bytes(testing::write_tiny_llama(m, 11, weights))));
    for (int i = 0; i < 40; ++i) ids_.push_back((i * 29 + 3) % static_cast<int>(m.vocab));
    exact_ = run_tokens(*model_, KvStoreOptions{}, ids_, 25, 1);
  }
  double max_diff(const CacheRun& r) const {
    double worst = 0.0;
    for (std::size_t i = 0; i < r.logits.size(); ++i)
      worst = std::max(worst, double{std::abs(r.logits[i] - exact_.logits[i])});
    return worst;
  }
  double scale() const {
    double s = 0.0;
    for (float v : exact_.logits) s = std::max(s, double{std::abs(v)});
    return s;
  }
  std::unique_ptr<LlamaModel> model_;
  std::vector<std::int32_t> ids_;
  CacheRun exact_;
};

TEST_F(RunnerCache, F32FormatReproducesExactAttention) {
  for (const std::size_t window : {std::size_t{0}, std::size_t{8}}) {
    KvStoreOptions o;
    o.key_format = o.value_format = "f32";
    o.window = window;
    o.sinks = window ? 2 : 0;
    const CacheRun r = run_tokens(*model_, o, ids_, 25, 2);
    EXPECT_LE(max_diff(r), 1e-5 * std::max(1.0, scale())) << "window " << window;
    EXPECT_EQ(r.bits.key, 32.0);
    EXPECT_EQ(r.bits.value, 32.0);
  }
}

TEST_F(RunnerCache, ErrorGrowsAsBitsFall) {
  // A random-weight model has no structure for the quantizers to exploit, so only the order
  // and the near-lossless formats have firm bounds here; the shared model's table in
  // docs/runner.md measures real quality.
  double previous_err = 0.0, previous_bits = 64.0;
  for (const char* f : {"f16", "q8", "tq4", "tq3", "tq2"}) {
    KvStoreOptions o;
    o.key_format = o.value_format = f;
    o.window = 0;
    o.sinks = 0;
    const CacheRun r = run_tokens(*model_, o, ids_, 25, 1);
    const double err = max_diff(r);
    std::printf("%s: max |logit diff| %.4g (logit scale %.3g), bits K %.3f V %.3f\n", f, err, scale(), r.bits.key,
                r.bits.value);
    for (float v : r.logits) ASSERT_TRUE(std::isfinite(v)) << f;
    EXPECT_GT(err, previous_err) << f;
    EXPECT_LT(r.bits.key, previous_bits) << f;
    EXPECT_EQ(r.bits.key, r.bits.value) << f;
    previous_err = err;
    previous_bits = r.bits.key;
  }
}

TEST_F(RunnerCache, NearLosslessFormatsStayClose) {
  const std::pair<const char*, double> bounds[] = {{"f16", 0.01}, {"q8", 0.05}};
  for (const auto& [f, bound] : bounds) {
    KvStoreOptions o;
    o.key_format = o.value_format = f;
    o.window = 0;
    o.sinks = 0;
    EXPECT_LE(max_diff(run_tokens(*model_, o, ids_, 25, 2)), bound * scale()) << f;
  }
}

TEST(RunnerCacheOptions, RejectsBadFormats) {
  ThreadPool pool(1);
  const KvShape shape{2, 4, 2, 32};
  KvStoreOptions o;
  o.key_format = "tq99";
  o.value_format = "tq3";
  EXPECT_THROW(make_kv_store(o, shape, pool), std::invalid_argument);
  o.key_format = "exact";
  EXPECT_THROW(make_kv_store(o, shape, pool), std::invalid_argument);
  o.value_format = "exact";
  EXPECT_EQ(make_kv_store(o, shape, pool)->description(), "exact f32 attention");
}

}  // namespace
}  // namespace veloxquant
