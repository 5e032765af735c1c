// Our side of the llama.cpp parity tests: the runner with exact f32 attention (ExactKvStore, the
// model's own attention shape), logits of one sequence and greedy continuations; token ids of a
// little-endian uint16 file such as the shared test.u16; and the logit gap the tests measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
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

struct ExactRunner {
  explicit ExactRunner(const std::string& path) : model(LlamaModel::load(path)), pool(2) {}
  std::unique_ptr<KvStore> store() { return make_kv_store(KvStoreOptions{}, model.config().kv_shape(), pool); }
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
};

}  // namespace veloxquant::reference
