// Perplexity scoring: window arithmetic, KL/top-1 bookkeeping, and the shared model's
// per-window negative log-likelihoods against the independent reference (ctx 256).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/perplexity.h"

namespace veloxquant {
namespace {

TEST(Perplexity, WindowsAndScoredRanges) {
  EXPECT_EQ(window_count(171751, 256), 670u);
  EXPECT_EQ(window_count(513, 512), 1u);
  EXPECT_EQ(window_count(512, 512), 0u);  // the last target is missing
  EXPECT_EQ(scored_range(Scoring::kFull, 256), (std::pair<std::size_t, std::size_t>{0, 256}));
  EXPECT_EQ(scored_range(Scoring::kFullMinusLast, 256), (std::pair<std::size_t, std::size_t>{0, 255}));
  EXPECT_EQ(scored_range(Scoring::kHalf, 256), (std::pair<std::size_t, std::size_t>{128, 255}));
  EXPECT_EQ(parse_scoring("half"), Scoring::kHalf);
  EXPECT_THROW(parse_scoring("quarter"), std::invalid_argument);
  EXPECT_THROW(scored_range(Scoring::kFull, 1), std::invalid_argument);
}

TEST(Perplexity, KlAndTopOneBookkeeping) {
  // Two positions, vocabulary 3. Position 0 identical, position 1 differs in its argmax.
  const float base[] = {1.0f, 2.0f, 0.5f, 0.0f, 0.0f, 3.0f};
  const float test[] = {1.0f, 2.0f, 0.5f, 0.0f, 4.0f, 3.0f};
  const std::int32_t targets[] = {1, 2};
  PerplexityTotals t;
  score_window(test, base, targets, 3, {0, 2}, t);
  EXPECT_EQ(t.count, 2u);
  EXPECT_EQ(t.top1, 1u);
  std::vector<double> lb, lt;
  log_softmax(base + 3, 3, lb);
  log_softmax(test + 3, 3, lt);
  double kl = 0;
  for (int v = 0; v < 3; ++v) kl += std::exp(lb[v]) * (lb[v] - lt[v]);
  EXPECT_NEAR(t.kld, kl, 1e-12);
  EXPECT_GT(t.kld, 0.0);
  log_softmax(base, 3, lb);
  EXPECT_NEAR(t.nll_base, -lb[1] - std::log(std::exp(3.0) / (2 + std::exp(3.0))), 1e-9);
  EXPECT_NEAR(t.ppl_base(), std::exp(t.nll_base / 2), 1e-12);
}

// Reads "key": [[nll, count], ...] from the reference JSON.
std::vector<std::pair<double, std::size_t>> reference_windows(const std::string& json, const std::string& key) {
  std::vector<std::pair<double, std::size_t>> out;
  std::size_t p = json.find("\"" + key + "\"");
  if (p == std::string::npos) return out;
  p = json.find("[[", p) + 1;
  const std::size_t end = json.find("]]", p);
  while (p < end) {
    p = json.find('[', p);
    if (p == std::string::npos || p > end) break;
    char* next = nullptr;
    const double nll = std::strtod(json.c_str() + p + 1, &next);
    const std::size_t count = std::strtoul(next + 1, &next, 10);
    out.emplace_back(nll, count);
    p = static_cast<std::size_t>(next - json.c_str());
  }
  return out;
}

TEST(Perplexity, MatchesReferenceWindowsOfSharedModel) {
  const std::string dir = std::string(VELOXQUANT_SHARED_DIR) + "/models/";
  if (!std::filesystem::exists(dir + "tiny-llama-5m-f32.gguf")) GTEST_SKIP() << "no shared model";
  std::ifstream jf(dir + "reference_test_ctx256.json");
  const std::string json((std::istreambuf_iterator<char>(jf)), {});
  std::ifstream tf(dir + "test.u16", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(tf)), {});
  std::vector<std::int32_t> tokens(raw.size() / 2);
  for (std::size_t i = 0; i < tokens.size(); ++i)
    tokens[i] = static_cast<unsigned char>(raw[2 * i]) | static_cast<unsigned char>(raw[2 * i + 1]) << 8;

  const LlamaModel model = LlamaModel::load(dir + "tiny-llama-5m-f32.gguf");
  const LlamaConfig& c = model.config();
  const std::size_t ctx = 256, windows = 2;  // a few windows keep the test fast
  ThreadPool pool(2);
  ExactKvStore store({c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession session(model, store, pool);
  std::vector<float> logits(ctx * c.vocab);
  const std::pair<const char*, Scoring> scorings[] = {{"windows_full", Scoring::kFull},
                                                      {"windows_full_minus_last", Scoring::kFullMinusLast},
                                                      {"windows_half", Scoring::kHalf}};
  std::vector<PerplexityTotals> totals(3);
  for (std::size_t w = 0; w < windows; ++w) {
    store.clear();
    session.forward(tokens.data() + w * ctx, ctx, logits.data(), true);
    for (std::size_t s = 0; s < 3; ++s) {
      PerplexityTotals one;
      score_window(logits.data(), logits.data(), tokens.data() + w * ctx + 1, c.vocab,
                   scored_range(scorings[s].second, ctx), one);
      const auto ref = reference_windows(json, scorings[s].first);
      ASSERT_GT(ref.size(), w) << scorings[s].first;
      EXPECT_EQ(one.count, ref[w].second) << scorings[s].first << " window " << w;
      // Measured differences of these sums (≈1000) are ≤ 3.3e-5: float32 rounding only.
      EXPECT_NEAR(one.nll, ref[w].first, 5e-4) << scorings[s].first << " window " << w;
      EXPECT_EQ(one.kld, 0.0);
      EXPECT_EQ(one.top1, one.count);
    }
  }
  EXPECT_EQ(reference_windows(json, "windows_full").size(), window_count(tokens.size(), ctx));
}

}  // namespace
}  // namespace veloxquant
