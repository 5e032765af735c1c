// Perplexity over non-overlapping windows, and the agreement of a tested KV cache with the
// uncompressed one: KL divergence of the next-token distributions and top-1 agreement.
//
// Window w feeds tokens[w·ctx .. w·ctx + ctx − 1] (a fresh cache per window); the logits of
// input i predict token w·ctx + i + 1. Which inputs are scored is the scoring:
//   full             every input, i = 0 .. ctx − 1 (ctx predictions)
//   full-minus-last  i = 0 .. ctx − 2
//   half             i = ctx/2 .. ctx − 2 (what llama.cpp's perplexity tool scores)
// There are ⌊(n_tokens − 1) / ctx⌋ windows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace veloxquant {

enum class Scoring { kFull, kFullMinusLast, kHalf };

Scoring parse_scoring(std::string_view name);  // throws std::invalid_argument naming the value
const char* scoring_name(Scoring scoring);
std::pair<std::size_t, std::size_t> scored_range(Scoring scoring, std::size_t ctx);  // [begin, end)
std::size_t window_count(std::size_t n_tokens, std::size_t ctx);

struct PerplexityTotals {
  double nll = 0.0;       // Σ −log p(target) with the tested cache
  double nll_base = 0.0;  // the same with the uncompressed cache
  double kld = 0.0;       // Σ KL(p_base ‖ p_tested)
  std::size_t top1 = 0;   // positions where both argmaxes agree
  std::size_t count = 0;  // scored positions

  double ppl() const;
  double ppl_base() const;
  double mean_kld() const;
  double top1_rate() const;
};

// Adds the positions [range.first, range.second) of one window. logits and base_logits are
// [ctx][vocab]; targets[i] is the token that input i predicts.
void score_window(const float* logits, const float* base_logits, const std::int32_t* targets, std::size_t vocab,
                  std::pair<std::size_t, std::size_t> range, PerplexityTotals& totals);

// Natural-log softmax of one row, in double.
void log_softmax(const float* logits, std::size_t n, std::vector<double>& out);

}  // namespace veloxquant
