// The runner against the shared trained model: logits of the first 64 test tokens must match
// an independent PyTorch float32 implementation (golden_logits_test_first64.npy).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/npy.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"

namespace veloxquant {
namespace {

const std::string kModels = std::string(VELOXQUANT_SHARED_DIR) + "/models/";

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::int32_t> read_tokens(const std::string& path, std::size_t n) {
  const std::vector<char> bytes = read_all(path);
  std::vector<std::int32_t> tokens;
  for (std::size_t i = 0; i + 1 < bytes.size() && tokens.size() < n; i += 2)
    tokens.push_back(static_cast<unsigned char>(bytes[i]) | static_cast<unsigned char>(bytes[i + 1]) << 8);
  return tokens;
}

double max_abs_diff_to_golden(const std::string& model_file, const KvStoreOptions& options) {
  const LlamaModel model = LlamaModel::load(kModels + model_file);
  const NpyArray golden_array = read_npy(kModels + "golden_logits_test_first64.npy");
  EXPECT_EQ(golden_array.shape, (std::vector<std::size_t>{64, model.config().vocab}));
  const std::vector<float> golden = golden_array.to_f32();
  const std::vector<std::int32_t> tokens = read_tokens(kModels + "test.u16", 64);
  EXPECT_EQ(tokens.size(), 64u);
  ThreadPool pool(2);
  const LlamaConfig& c = model.config();
  const std::unique_ptr<KvStore> store = make_kv_store(options, {c.layers, c.heads, c.kv_heads, c.head_dim}, pool);
  LlamaSession session(model, *store, pool);
  std::vector<float> logits(64 * c.vocab);
  session.forward(tokens.data(), tokens.size(), logits.data(), true);
  double worst = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) worst = std::max(worst, std::abs(double{logits[i]} - golden[i]));
  return worst;
}

bool shared_present() { return std::filesystem::exists(kModels + "tiny-llama-5m-f32.gguf"); }

TEST(RunnerGolden, F32ModelExactAttentionMatchesReferenceLogits) {
  if (!shared_present()) GTEST_SKIP() << "no shared model at " << kModels;
  const double err = max_abs_diff_to_golden("tiny-llama-5m-f32.gguf", KvStoreOptions{});
  std::printf("f32 model, exact attention: max |logit − golden| = %.3g\n", err);
  EXPECT_LE(err, 1e-3);
}

TEST(RunnerGolden, F16ModelStaysCloseToReferenceLogits) {
  if (!shared_present()) GTEST_SKIP() << "no shared model at " << kModels;
  const double err = max_abs_diff_to_golden("tiny-llama-5m-f16.gguf", KvStoreOptions{});
  std::printf("f16 model, exact attention: max |logit − golden| = %.3g\n", err);
  // f16 weights round every weight by up to 2^-11 relative; logits of magnitude ~10 then move
  // by a few thousandths (measured 0.0032). 0.02 catches layout or conversion bugs (O(1)).
  EXPECT_LE(err, 0.02);
}

TEST(RunnerGolden, F32ModelF32CacheMatchesReferenceLogits) {
  if (!shared_present()) GTEST_SKIP() << "no shared model at " << kModels;
  // All tokens compressed (no exact window or sinks), and the default window/sinks split.
  for (const std::size_t window : {std::size_t{0}, std::size_t{16}}) {
    KvStoreOptions options;
    options.key_format = options.value_format = "f32";
    options.window = window;
    options.sinks = window ? 4 : 0;
    const double err = max_abs_diff_to_golden("tiny-llama-5m-f32.gguf", options);
    std::printf("f32 model, f32 KVCache (window %zu): max |logit − golden| = %.3g\n", window, err);
    EXPECT_LE(err, 1e-3);
  }
}

}  // namespace
}  // namespace veloxquant
