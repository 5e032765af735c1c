// The runner against llama.cpp (tests/reference/llama_reference.mjs: llama.cpp's prebuilt CPU
// libraries through node-llama-cpp) on the shared model in every weight type of kParityTypes:
// next-token logits at 64 positions, top-1 at every position of a 512-token window, greedy
// continuations, perplexity. Both sides attend in f32 (our ExactKvStore; llama.cpp with an f32 KV
// cache and without flash attention), so the weights and the forward pass are what is compared.
// Skips when node or the package is absent (scripts/install-reference.sh installs them; where
// VELOXQUANT_REQUIRE_REFERENCE=1 it fails instead).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "reference/convert_model.h"
#include "reference/exact_runner.h"
#include "reference/reference_tool.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/perplexity.h"

namespace veloxquant {
namespace {

// The weight types compared with llama.cpp: a new type needs only its name here (and a
// converter for it in model_file()). kPendingTypes are instantiated as DISABLED_ tests (gtest
// lists them as disabled; --gtest_also_run_disabled_tests runs them): they do not meet the targets
// yet, measured at this commit (docs/runner.md, "Parity with llama.cpp"):
//   q8_0: logits within 5.3e-3 of the range (target 1e-3), top-1 at 509 of 512, perplexity 4.4e-4
//         apart. Both sides round activations to q8_0 blocks before each product; a float that
//         differs in its last bits (another summation order) can round to the other side, and
//         llama.cpp is not within 1e-3 of itself across batch sizes on such files either
//         (docs/runner.md, "Architectures"). Measured on 2026-12-04.
// kExactPerplexityTypes: the perplexity test's own list (f16: 2.2e-8 apart, target 2e-6).
const std::vector<std::string> kParityTypes = {"f32", "f16"};
const std::vector<std::string> kPendingTypes = {"q8_0"};
const std::vector<std::string> kExactPerplexityTypes = {"f32", "f16"};
const std::vector<std::string> kPendingPerplexityTypes = {"q8_0"};

const std::string kModels = std::string(VELOXQUANT_SHARED_DIR) + "/models/";
const std::string kTokens = kModels + "test.u16";

// Converted models of this test process, removed at its end.
struct ConvertedFiles {
  std::map<std::string, std::string> paths;  // by type
  ~ConvertedFiles() {
    for (const auto& [type, path] : paths) std::filesystem::remove(path);
  }
};

// The shared model as `type`: the shared files for f32 and f16, other types converted from the
// f32 file once per test process (the conversion step; at merge it may call `veloxquant convert`).
std::string model_file(const std::string& type) {
  if (type == "f32" || type == "f16") return kModels + "tiny-llama-5m-" + type + ".gguf";
  static ConvertedFiles converted;
  if (!converted.paths.count(type)) {
    const std::string name = "veloxquant-parity-" + std::to_string(getpid()) + "-" + type + ".gguf";
    const std::string out = (std::filesystem::temp_directory_path() / name).string();
    reference::convert_model(kModels + "tiny-llama-5m-f32.gguf", out, type);
    converted.paths[type] = out;
  }
  return converted.paths[type];
}

std::vector<std::int32_t> read_tokens(std::size_t offset, std::size_t n) {
  return reference::read_u16_tokens(kTokens, offset, n);
}

using Runner = reference::ExactRunner;

std::vector<std::string> reference_args(const std::string& command, const std::string& type) {
  return {command, "-m", model_file(type), "--kv", "f32", "--flash-attention", "off", "--threads", "2"};
}

class ReferenceParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModels + "tiny-llama-5m-f32.gguf")) GTEST_SKIP() << "no shared model at " << kModels;
    VELOXQUANT_NEED_LLAMA_REFERENCE();
  }
};
class ReferencePerplexity : public ReferenceParity {};

// 64 positions (every 8th of a 512-token window): max |ours − llama.cpp| over the vocabulary
// ≤ 1e-3 of llama.cpp's logit range at that position; the argmax agrees at ≥ 99 % of all 512.
TEST_P(ReferenceParity, NextTokenLogitsMatchLlamaCpp) {
  const std::size_t n = 512;
  const Json ref =
      reference::reference_logits(reference_args("logits", GetParam()), kTokens, n, reference::every_8th_position(n));

  Runner runner(model_file(GetParam()));
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
  EXPECT_LE(worst, 1e-3) << GetParam() << ": worst at position " << worst_at;
  const std::vector<Json>& argmax = ref.at("argmax").as_array("argmax");
  ASSERT_EQ(argmax.size(), n);
  std::size_t same = 0;
  for (std::size_t p = 0; p < n; ++p) {
    const float* row = ours.data() + p * vocab;
    same += static_cast<std::size_t>(std::max_element(row, row + vocab) - row) == argmax[p].as_u64("argmax");
  }
  std::printf("%s: max |logit diff| / range %.3g over 64 positions; top-1 agrees at %zu of %zu\n", GetParam().c_str(),
              worst, same, n);
  EXPECT_GE(static_cast<double>(same), 0.99 * static_cast<double>(n));
}

// Greedy continuations of 32 tokens after two 64-token prompts are the same tokens.
TEST_P(ReferenceParity, GreedyContinuationsMatchLlamaCpp) {
  Runner runner(model_file(GetParam()));
  for (const std::size_t offset : {std::size_t{0}, std::size_t{5000}}) {
    std::vector<std::string> args = reference_args("generate", GetParam());
    args.insert(args.end(),
                {"--tokens-file", kTokens, "--offset", std::to_string(offset), "--count", "64", "-n", "32"});
    const Json ref = reference::run_reference(args);
    std::vector<std::int32_t> theirs;
    for (const Json& t : ref.at("generated").as_array("generated"))
      theirs.push_back(static_cast<std::int32_t>(t.as_int("token")));
    const std::vector<std::int32_t> prompt = read_tokens(offset, 64);
    const double tie = GetParam() == "f16" && reference::rounds_f16_activations(ref) ? 1e-3 : 0.0;
    EXPECT_EQ(reference::greedy_disagreement(runner, prompt, runner.greedy(prompt, 32), theirs, tie), "")
        << GetParam() << ", prompt at token " << offset << ", llama.cpp's " << ref.at("cpu_backend").as_string("")
        << " CPU library";
  }
}

// Perplexity over 4 windows of 256 tokens (every prediction scored) equals llama.cpp's to 2e-6
// (relative); both computed in double from the f32 logits. Against a llama.cpp CPU library that
// rounds f16 products' activations (reference::rounds_f16_activations) the f16 model cannot reach
// that: its own libraries differ by 9e-6 there; the bound is then 5e-5 (measured 1.8e-5, zen4).
TEST_P(ReferencePerplexity, PerplexityMatchesLlamaCpp) {
  const std::size_t ctx = 256, windows = 4;
  std::vector<std::string> args = reference_args("nll", GetParam());
  args.insert(args.end(),
              {"--tokens-file", kTokens, "--count", std::to_string(ctx * windows + 1), "--ctx", std::to_string(ctx)});
  const Json ref = reference::run_reference(args);

  Runner runner(model_file(GetParam()));
  const std::vector<std::int32_t> tokens = read_tokens(0, ctx * windows + 1);
  PerplexityTotals totals;
  for (std::size_t w = 0; w < windows; ++w) {
    const std::vector<std::int32_t> window(tokens.begin() + w * ctx, tokens.begin() + (w + 1) * ctx);
    const std::vector<float> logits = runner.logits(window);
    score_window(logits.data(), logits.data(), tokens.data() + w * ctx + 1, runner.model.config().vocab, {0, ctx},
                 totals);
  }
  ASSERT_EQ(ref.at("count").as_u64("count"), totals.count);
  const double theirs = ref.at("ppl").as_double("ppl");
  const std::string backend = ref.at("cpu_backend").as_string("cpu_backend");
  const bool rounded = GetParam() == "f16" && reference::rounds_f16_activations(ref);
  std::printf("%s: perplexity %.9f, llama.cpp %.9f (relative difference %.3g; llama.cpp's %s CPU library%s)\n",
              GetParam().c_str(), totals.ppl(), theirs, std::abs(totals.ppl() / theirs - 1.0), backend.c_str(),
              rounded ? ", which rounds f16 products' activations to f16: bound 5e-5, not the 2e-6 target" : "");
  EXPECT_LE(std::abs(totals.ppl() / theirs - 1.0), rounded ? 5e-5 : 2e-6) << GetParam() << ", " << backend;
}

std::string type_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }
INSTANTIATE_TEST_SUITE_P(Types, ReferenceParity, ::testing::ValuesIn(kParityTypes), type_name);
INSTANTIATE_TEST_SUITE_P(DISABLED_Pending, ReferenceParity, ::testing::ValuesIn(kPendingTypes), type_name);
INSTANTIATE_TEST_SUITE_P(Types, ReferencePerplexity, ::testing::ValuesIn(kExactPerplexityTypes), type_name);
INSTANTIATE_TEST_SUITE_P(DISABLED_Pending, ReferencePerplexity, ::testing::ValuesIn(kPendingPerplexityTypes),
                         type_name);

}  // namespace
}  // namespace veloxquant
