// Our side of the llama.cpp parity tests: the runner with exact f32 attention (ExactKvStore, the
// model's own attention shape; or a cache format), logits of one sequence and greedy continuations; token ids of a
// little-endian uint16 file such as the shared test.u16; and the logit gap the tests measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/json.h"
#include "reference/reference_tool.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "util/thread_pool.h"

namespace veloxquant::reference {

// Ids [offset, offset + n) of a uint16 token file (fewer at its end).
inline std::vector<std::int32_t> read_u16_tokens(const std::string& path, std::size_t offset, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(2 * offset));
  std::vector<std::int32_t> tokens;
  unsigned char b[2];
  while (tokens.size() < n && in.read(reinterpret_cast<char*>(b), 2)) tokens.push_back(b[0] | b[1] << 8);
  return tokens;
}

// max |llama.cpp's logit − ours| over a vocabulary row, divided by llama.cpp's logit range there.
inline double relative_logit_gap(const std::vector<Json>& theirs, const float* ours) {
  double lo = INFINITY, hi = -INFINITY, diff = 0.0;
  for (std::size_t v = 0; v < theirs.size(); ++v) {
    const double l = theirs[v].as_double("logit");
    lo = std::min(lo, l);
    hi = std::max(hi, l);
    diff = std::max(diff, std::abs(l - ours[v]));
  }
  return diff / (hi - lo);
}

// llama.cpp's logits (reference tool `logits`, its options in `args`) of the first n ids of a
// token file at the given positions.
inline Json reference_logits(std::vector<std::string> args, const std::string& tokens_file, std::size_t n,
                             const std::vector<std::size_t>& positions) {
  std::string list;
  for (const std::size_t p : positions) {
    if (!list.empty()) list += ',';
    list += std::to_string(p);
  }
  args.insert(args.end(), {"--tokens-file", tokens_file, "--count", std::to_string(n), "--positions", list});
  return run_reference(args);
}

// Every 8th position of n, from 7: the 64 positions of a 512-token window the tests compare.
inline std::vector<std::size_t> every_8th_position(std::size_t n) {
  std::vector<std::size_t> at;
  for (std::size_t p = 7; p < n; p += 8) at.push_back(p);
  return at;
}

// llama.cpp's CPU library decides how f16 products round: in its sapphirerapids build they take
// the f32 activations, and our f16 perplexity on the shared model equals its own to 2.2e-8 (Intel
// Xeon, 2026-12-04); its zen4, haswell and x64 builds round the activations to f16 first (AMD EPYC,
// 2026-12-04: 1.8e-5, 9.0e-6 and 1.2e-5 from ours, and 9.0e-6 between its zen4 and haswell builds;
// rounding our activations to f16 halves our gap to zen4). True where the reference output
// `ref` names such a build.
inline bool rounds_f16_activations(const Json& ref) {
  return ref.at("cpu_backend").as_string("cpu_backend") != "sapphirerapids";
}

// The exact attention by default; `options` may name a cache format instead (e.g. f32, whose
// logits must be the exact attention's).
struct ExactRunner {
  explicit ExactRunner(const std::string& path, KvStoreOptions options_ = {})
      : model(LlamaModel::load(path)), pool(2), options(std::move(options_)) {}
  std::unique_ptr<KvStore> store() { return make_kv_store(options, model.config().kv_shape(), pool); }
  // Logits [tokens][vocab] of one sequence, run as one batch.
  std::vector<float> logits(const std::vector<std::int32_t>& tokens) {
    const std::unique_ptr<KvStore> kv = store();
    LlamaSession session(model, *kv, pool);
    std::vector<float> out(tokens.size() * model.config().vocab);
    session.forward(tokens.data(), tokens.size(), out.data(), true);
    return out;
  }
  // n greedy tokens after the prompt.
  std::vector<std::int32_t> greedy(const std::vector<std::int32_t>& prompt, std::size_t n) {
    const std::unique_ptr<KvStore> kv = store();
    LlamaSession session(model, *kv, pool);
    std::vector<float> logits(model.config().vocab);
    session.forward(prompt.data(), prompt.size(), logits.data(), false);
    std::vector<std::int32_t> out;
    while (out.size() < n) {
      const std::int32_t next =
          static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      out.push_back(next);
      if (out.size() < n) session.forward(&next, 1, logits.data(), false);
    }
    return out;
  }
  LlamaModel model;
  ThreadPool pool;
  KvStoreOptions options;
};

// Compares our greedy continuation of `prompt` with llama.cpp's: "" when they are the same tokens,
// else where they part. With `tie` > 0 they may part at a near-tie: at the first differing token,
// our logits of our token and of llama.cpp's within `tie` of our logit range there (an arithmetic
// difference within the logit bound can flip such a choice; past it the texts differ); "" then too,
// and the near-tie is printed.
inline std::string greedy_disagreement(ExactRunner& runner, const std::vector<std::int32_t>& prompt,
                                       const std::vector<std::int32_t>& ours, const std::vector<std::int32_t>& theirs,
                                       double tie) {
  if (ours == theirs) return "";
  std::size_t i = 0;
  while (i < ours.size() && i < theirs.size() && ours[i] == theirs[i]) ++i;
  std::string at = "they part at token " + std::to_string(i);
  if (i == ours.size() || i == theirs.size()) return at + " (one is shorter)";
  std::vector<std::int32_t> text = prompt;
  text.insert(text.end(), ours.begin(), ours.begin() + static_cast<std::ptrdiff_t>(i));
  const std::size_t vocab = runner.model.config().vocab;
  const std::vector<float> all = runner.logits(text);
  const float* row = all.data() + (text.size() - 1) * vocab;
  const auto [lo, hi] = std::minmax_element(row, row + vocab);
  const double gap = (static_cast<double>(row[ours[i]]) - row[theirs[i]]) / (*hi - *lo);
  at += " (ours " + std::to_string(ours[i]) + ", llama.cpp's " + std::to_string(theirs[i]) +
        "; our logits of the two " + std::to_string(gap) + " of the range apart)";
  if (gap > tie) return at;
  std::printf("greedy: %s, a near-tie within %g\n", at.c_str(), tie);
  return "";
}

}  // namespace veloxquant::reference
