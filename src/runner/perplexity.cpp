#include "runner/perplexity.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace veloxquant {

Scoring parse_scoring(std::string_view name) {
  if (name == "full") return Scoring::kFull;
  if (name == "full-minus-last") return Scoring::kFullMinusLast;
  if (name == "half") return Scoring::kHalf;
  throw std::invalid_argument("unknown scoring '" + std::string(name) + "' (full, full-minus-last, half)");
}

const char* scoring_name(Scoring scoring) {
  switch (scoring) {
    case Scoring::kFull:
      return "full";
    case Scoring::kFullMinusLast:
      return "full-minus-last";
    case Scoring::kHalf:
      return "half";
  }
  return "?";
}

std::pair<std::size_t, std::size_t> scored_range(Scoring scoring, std::size_t ctx) {
  if (ctx < 2) throw std::invalid_argument("context " + std::to_string(ctx) + " is too short to score (need ≥ 2)");
  switch (scoring) {
    case Scoring::kFull:
      return {0, ctx};
    case Scoring::kFullMinusLast:
      return {0, ctx - 1};
    case Scoring::kHalf:
      return {ctx / 2, ctx - 1};
  }
  return {0, 0};
}

std::size_t window_count(std::size_t n_tokens, std::size_t ctx) {
  return n_tokens == 0 || ctx == 0 ? 0 : (n_tokens - 1) / ctx;
}

double PerplexityTotals::ppl() const { return count ? std::exp(nll / static_cast<double>(count)) : 0.0; }
double PerplexityTotals::ppl_base() const { return count ? std::exp(nll_base / static_cast<double>(count)) : 0.0; }
double PerplexityTotals::mean_kld() const { return count ? kld / static_cast<double>(count) : 0.0; }
double PerplexityTotals::top1_rate() const {
  return count ? static_cast<double>(top1) / static_cast<double>(count) : 0.0;
}

void log_softmax(const float* logits, std::size_t n, std::vector<double>& out) {
  out.resize(n);
  const float mx = *std::max_element(logits, logits + n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  for (std::size_t i = 0; i < n; ++i) out[i] = logits[i] - lse;
}

void score_window(const float* logits, const float* base_logits, const std::int32_t* targets, std::size_t vocab,
                  std::pair<std::size_t, std::size_t> range, PerplexityTotals& totals) {
  std::vector<double> lp, lb;
  for (std::size_t i = range.first; i < range.second; ++i) {
    const float* row = logits + i * vocab;
    const float* base = base_logits + i * vocab;
    log_softmax(row, vocab, lp);
    log_softmax(base, vocab, lb);
    const auto target = static_cast<std::size_t>(targets[i]);
    totals.nll -= lp[target];
    totals.nll_base -= lb[target];
    double kl = 0.0;
    for (std::size_t v = 0; v < vocab; ++v) kl += std::exp(lb[v]) * (lb[v] - lp[v]);
    totals.kld += std::max(kl, 0.0);  // rounding can leave −1e-17 for identical rows
    totals.top1 += std::max_element(row, row + vocab) - row == std::max_element(base, base + vocab) - base;
    ++totals.count;
  }
}

}  // namespace veloxquant
