// The runner against llama.cpp on every architecture (runner/architecture.h): for each of llama,
// qwen2, qwen3, phi3, gemma2 and gemma3, a random-weight model of small but real structure (3
// layers, GQA 4:2, qwen3 with head_dim 128 ≠ dim / heads, phi3 with head_dim 96 and fused tensors,
// gemma2 with head_dim 256 and sliding-window layers, gemma3 with 6 layers, 5 of them local with
// their own rope) written by our writer (write_synthetic_model) with f16
// matrices and, for the first three, with q4_K matrices; next-token logits at 64 positions, top-1 at all 512, greedy
// continuations. Both sides attend in f32 (our ExactKvStore; llama.cpp with an f32 KV cache and
// without flash attention). Skips when node or the package is absent (scripts/install-reference.sh;
// where VELOXQUANT_REQUIRE_REFERENCE=1 it fails instead).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "reference/exact_runner.h"
#include "reference/reference_tool.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "weights/model_convert.h"

namespace veloxquant {
namespace {

struct ArchCase {
  std::string arch, type, shape;
  std::string cache = "exact";  // our side's K/V store: the exact attention or a cache format
};

// The shapes: q4_K needs rows of whole 256-element super-blocks (dim, ffn and qwen3's q_dim are).
const std::string kLlama = "dim=256,layers=3,heads=4,kv_heads=2,ffn=512,vocab=4096,context=2048";
const std::string kQwen2 = kLlama + ",arch=qwen2";
const std::string kQwen3 = kLlama + ",arch=qwen3,head_dim=128";
// phi3 with head_dim 96 (dim 384 / 4 heads) and its fused attn_qkv and gate/up tensors.
const std::string kPhi3 = "dim=384,layers=3,heads=4,kv_heads=2,ffn=512,vocab=4096,context=2048,arch=phi3";
// gemma2 with head_dim 256, a 64-token window on layers 0 and 2 (the 512-token window of the test
// is 8 of them), soft-capping at 2 (scores) and 3 (logits) so that the tanh bends the values of a
// random model (its scores and logits are a few units; gemma2's own caps 50 and 30 would be linear).
const std::string kGemma2 = kLlama + ",arch=gemma2,head_dim=256,window=64,attn_softcap=2,final_softcap=3";
// gemma3 with head_dim 256, six layers (0–4 local with a 64-token window, 5 global), the global
// rope at base 10^6 with linear scaling 8 and the local one at gemma3's fixed base 10000.
const std::string kGemma3 =
    "dim=256,layers=6,heads=4,kv_heads=2,ffn=512,vocab=4096,context=2048,arch=gemma3,head_dim=256,window=64,"
    "rope_base=1000000,rope_linear=8";
const std::vector<ArchCase> kCases = {{"llama", "f16", kLlama},
                                      {"qwen2", "f16", kQwen2},
                                      {"qwen3", "f16", kQwen3},
                                      {"phi3", "f16", kPhi3},
                                      {"gemma2", "f16", kGemma2},
                                      {"gemma3", "f16", kGemma3},
                                      // soft-capping and sliding windows inside KVCache::attend
                                      {"gemma2", "f16", kGemma2, "f32"},
                                      {"gemma3", "f16", kGemma3, "f32"}};
// Instantiated as DISABLED_ (--gtest_also_run_disabled_tests runs them): they miss the targets,
// measured at this commit (docs/runner.md, "Architectures"), max |logit diff| / range and top-1:
//   llama q4_K 1.37e-2, 501 of 512; qwen2 q4_K 9.3e-3, 507; qwen3 q4_K 1.27e-2, 492; a greedy
//   continuation of each differs from llama.cpp's (first at token 26, 14 and 5); phi3 q4_K
//   1.62e-2, 493 (greedy differs from token 7); gemma2 q4_K 1.40e-2, 511 (greedy identical).
// The gap is the weight type's, not the architecture's (f16 is within 7e-6 for all three). For
// llama q4_K, positions 7 to 95 agree within 2.3e-7 of the range; later ones jump to 4e-3..1.4e-2
// one by one (135 and 151 are back at 1e-7): the activations are rounded to q8_K blocks before
// the products, and a float that differs in its last bits (attention sums over more keys in
// another order) can land on the other side of a rounding boundary; random-weight layers amplify
// the step. llama.cpp is not within 1e-3 of itself either: the same file run with --batch 1 and
// --batch 512 differs by 7.6e-3 of the range at positions past 256.
// phi3 for q4_K: dim 768 (8 heads of 96), as 384 is no multiple of q4_K's 256-element blocks.
const std::string kPhi3Q4 = "dim=768,layers=3,heads=8,kv_heads=4,ffn=512,vocab=4096,context=2048,arch=phi3";
const std::vector<ArchCase> kPendingCases = {{"llama", "q4_K", kLlama},
                                             {"qwen2", "q4_K", kQwen2},
                                             {"qwen3", "q4_K", kQwen3},
                                             {"phi3", "q4_K", kPhi3Q4},
                                             {"gemma2", "q4_K", kGemma2}};

const std::string kModels = std::string(VELOXQUANT_SHARED_DIR) + "/models/";
const std::string kTokenizer = kModels + "tiny-llama-5m-f32.gguf";
const std::string kTokens = kModels + "test.u16";

// The model of a case (the cache format does not change the file).
std::string model_name(const ArchCase& c) {
  return c.arch + "_" + c.type + (c.shape.find("rope_scaling") != std::string::npos ? "_llama3_rope" : "");
}
std::string case_name(const ArchCase& c) { return model_name(c) + (c.cache == "exact" ? "" : "_cache_" + c.cache); }
void PrintTo(const ArchCase& c, std::ostream* os) { *os << case_name(c); }

// Models written by this test process, removed at its end.
struct WrittenFiles {
  std::map<std::string, std::string> paths;  // by case name
  ~WrittenFiles() {
    for (const auto& [name, path] : paths) std::filesystem::remove(path);
  }
};

std::string model_file(const ArchCase& c) {
  static WrittenFiles written;
  const std::string name = model_name(c);
  if (!written.paths.count(name)) {
    const std::string file = "veloxquant-arch-" + std::to_string(getpid()) + "-" + name + ".gguf";
    const std::string out = (std::filesystem::temp_directory_path() / file).string();
    ThreadPool pool(2);
    write_synthetic_model(out, parse_synthetic_shape(c.shape), GgufFile::open(kTokenizer), parse_type_scheme(c.type),
                          11, pool);
    written.paths[name] = out;
  }
  return written.paths[name];
}

std::vector<std::int32_t> read_tokens(std::size_t offset, std::size_t n) {
  return reference::read_u16_tokens(kTokens, offset, n);
}

using reference::ExactRunner;

// Our runner for a case: the exact attention, or the case's cache format for keys and values
// (every token compressed: no exact window, no sinks).
ExactRunner runner_for(const ArchCase& c) {
  KvStoreOptions o;
  o.key_format = o.value_format = c.cache;
  if (c.cache != "exact") o.window = o.sinks = 0;
  return ExactRunner(model_file(c), o);
}

std::vector<std::string> reference_args(const std::string& command, const ArchCase& c) {
  return {command, "-m", model_file(c), "--kv", "f32", "--flash-attention", "off", "--threads", "2"};
}

class ArchitectureParity : public ::testing::TestWithParam<ArchCase> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kTokenizer)) GTEST_SKIP() << "no shared model at " << kModels;
    VELOXQUANT_NEED_LLAMA_REFERENCE();
  }
};

// 64 positions (every 8th of a 512-token window): max |ours − llama.cpp| over the vocabulary
// ≤ 1e-3 of llama.cpp's logit range at that position; the argmax agrees at ≥ 99 % of all 512.
TEST_P(ArchitectureParity, NextTokenLogitsMatchLlamaCpp) {
  const ArchCase& c = GetParam();
  const std::size_t n = 512;
  const Json ref =
      reference::reference_logits(reference_args("logits", c), kTokens, n, reference::every_8th_position(n));

  ExactRunner runner = runner_for(c);
  ASSERT_EQ(runner.model.config().arch->name, c.arch);
  const std::size_t vocab = runner.model.config().vocab;
  ASSERT_EQ(ref.at("vocab").as_u64("vocab"), vocab);
  const std::vector<float> ours = runner.logits(read_tokens(0, n));
  const std::vector<Json>& at = ref.at("positions").as_array("positions");
  const std::vector<Json>& rows = ref.at("logits").as_array("logits");
  ASSERT_EQ(at.size(), 64u);
  double worst = 0.0;
  std::size_t worst_at = 0;
  for (std::size_t i = 0; i < at.size(); ++i) {
    const std::size_t p = at[i].as_u64("position");
    const std::vector<Json>& row = rows[i].as_array("logits row");
    ASSERT_EQ(row.size(), vocab);
    if (const double gap = reference::relative_logit_gap(row, ours.data() + p * vocab); gap > worst) {
      worst = gap;
      worst_at = p;
    }
  }
  EXPECT_LE(worst, 1e-3) << case_name(c) << ": worst at position " << worst_at;
  const std::vector<Json>& argmax = ref.at("argmax").as_array("argmax");
  ASSERT_EQ(argmax.size(), n);
  std::size_t same = 0;
  for (std::size_t p = 0; p < n; ++p) {
    const float* row = ours.data() + p * vocab;
    same += static_cast<std::size_t>(std::max_element(row, row + vocab) - row) == argmax[p].as_u64("argmax");
  }
  std::printf("%s: max |logit diff| / range %.3g over 64 positions; top-1 agrees at %zu of %zu\n", case_name(c).c_str(),
              worst, same, n);
  EXPECT_GE(static_cast<double>(same), 0.99 * static_cast<double>(n));
}

// Greedy continuations of 32 tokens after two 64-token prompts are the same tokens; where
// llama.cpp's CPU library rounds f16 products' activations (reference::rounds_f16_activations),
// an f16 model's may part at a near-tie within the logit bound, 1e-3 of the range.
TEST_P(ArchitectureParity, GreedyContinuationsMatchLlamaCpp) {
  const ArchCase& c = GetParam();
  ExactRunner runner = runner_for(c);
  for (const std::size_t offset : {std::size_t{0}, std::size_t{5000}}) {
    std::vector<std::string> args = reference_args("generate", c);
    args.insert(args.end(),
                {"--tokens-file", kTokens, "--offset", std::to_string(offset), "--count", "64", "-n", "32"});
    const Json ref = reference::run_reference(args);
    std::vector<std::int32_t> theirs;
    for (const Json& t : ref.at("generated").as_array("generated"))
      theirs.push_back(static_cast<std::int32_t>(t.as_int("token")));
    const std::vector<std::int32_t> prompt = read_tokens(offset, 64);
    const double tie = c.type == "f16" && reference::rounds_f16_activations(ref) ? 1e-3 : 0.0;
    EXPECT_EQ(reference::greedy_disagreement(runner, prompt, runner.greedy(prompt, 32), theirs, tie), "")
        << case_name(c) << ", prompt at token " << offset << ", llama.cpp's " << ref.at("cpu_backend").as_string("")
        << " CPU library";
  }
}

// Llama 3.1's rope scaling (the rope_freqs tensor: frequencies with wavelengths past 2048 divided
// by up to 8) at long positions: a 2-layer llama of rope base 500000 with rope_freqs as llama.cpp's
// converter writes them, 16384 tokens of test.u16 in one sequence; logits at 64 positions of
// 8192..16383 within 1e-3 of the range, top-1 agreeing at ≥ 99 % of those 8192 positions.
TEST(ArchitectureLongContext, Llama31RopeScalingMatchesLlamaCppAt8kTo16k) {
  if (!std::filesystem::exists(kTokenizer)) GTEST_SKIP() << "no shared model at " << kModels;
  VELOXQUANT_NEED_LLAMA_REFERENCE();
  const ArchCase c{"llama", "f16",
                   "dim=256,layers=2,heads=4,kv_heads=2,ffn=512,vocab=4096,context=16384,rope_base=500000,"
                   "rope_scaling=llama3"};
  const std::size_t n = 16384, from = 8192;
  std::vector<std::size_t> at;
  for (std::size_t p = from + 127; p < n; p += 128) at.push_back(p);
  const Json ref = reference::reference_logits(reference_args("logits", c), kTokens, n, at);

  ExactRunner runner(model_file(c));
  ASSERT_EQ(runner.model.rope_freqs().size(), 32u);
  const std::size_t vocab = runner.model.config().vocab;
  const std::vector<std::int32_t> tokens = read_tokens(0, n);
  ASSERT_EQ(tokens.size(), n);
  const std::unique_ptr<KvStore> kv = runner.store();
  LlamaSession session(runner.model, *kv, runner.pool);
  // In chunks, keeping only the rows compared: all 16384 rows would be 256 MiB of logits.
  const std::size_t chunk = 512;
  std::vector<float> logits(chunk * vocab), kept;
  std::vector<std::size_t> argmax;
  for (std::size_t p0 = 0; p0 < n; p0 += chunk) {
    session.forward(tokens.data() + p0, chunk, logits.data(), p0 + chunk > from);
    if (p0 + chunk <= from) continue;
    for (std::size_t t = 0; t < chunk; ++t) {
      const float* row = logits.data() + t * vocab;
      argmax.push_back(static_cast<std::size_t>(std::max_element(row, row + vocab) - row));
      if ((p0 + t + 1) % 128 == 0) kept.insert(kept.end(), row, row + vocab);
    }
  }
  const std::vector<Json>& rows = ref.at("logits").as_array("logits");
  ASSERT_EQ(rows.size(), at.size());
  ASSERT_EQ(kept.size(), at.size() * vocab);
  double worst = 0.0;
  std::size_t worst_at = 0;
  for (std::size_t i = 0; i < at.size(); ++i) {
    const std::vector<Json>& row = rows[i].as_array("logits row");
    ASSERT_EQ(row.size(), vocab);
    if (const double gap = reference::relative_logit_gap(row, kept.data() + i * vocab); gap > worst) {
      worst = gap;
      worst_at = at[i];
    }
  }
  EXPECT_LE(worst, 1e-3) << "worst at position " << worst_at;
  const std::vector<Json>& theirs = ref.at("argmax").as_array("argmax");
  ASSERT_EQ(theirs.size(), n);
  std::size_t same = 0;
  for (std::size_t p = from; p < n; ++p) same += argmax[p - from] == theirs[p].as_u64("argmax");
  std::printf(
      "llama rope_freqs: max |logit diff| / range %.3g at 64 positions of 8192..16383; top-1 agrees at %zu "
      "of %zu\n",
      worst, same, n - from);
  EXPECT_GE(static_cast<double>(same), 0.99 * static_cast<double>(n - from));
}

std::string param_name(const ::testing::TestParamInfo<ArchCase>& info) { return case_name(info.param); }
INSTANTIATE_TEST_SUITE_P(Models, ArchitectureParity, ::testing::ValuesIn(kCases), param_name);
INSTANTIATE_TEST_SUITE_P(DISABLED_Pending, ArchitectureParity, ::testing::ValuesIn(kPendingCases), param_name);

}  // namespace
}  // namespace veloxquant
