#include "server/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace veloxquant::server {

std::int32_t Sampler::next(const float* logits, std::size_t vocab) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  if (params_.temperature <= 0.0) return static_cast<std::int32_t>(best);

  p_.resize(vocab);
  double sum = 0.0;
  for (std::size_t i = 0; i < vocab; ++i)
    sum += p_[i] = std::exp((static_cast<double>(logits[i]) - logits[best]) / params_.temperature);
  std::size_t kept = vocab;
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  if (params_.top_p < 1.0) {
    // Most likely first, ties by id, so the cut is the same whatever the sort's implementation.
    std::sort(order_.begin(), order_.end(),
              [&](std::int32_t a, std::int32_t b) { return p_[a] != p_[b] ? p_[a] > p_[b] : a < b; });
    double mass = 0.0;
    for (kept = 0; kept < vocab;) {
      mass += p_[order_[kept++]];
      if (mass >= params_.top_p * sum) break;
    }
    sum = mass;
  }
  double u = rng_.uniform() * sum;
  for (std::size_t k = 0; k < kept; ++k)
    if ((u -= p_[order_[k]]) <= 0.0) return order_[k];
  return order_[kept - 1];  // rounding left a sliver of u
}

}  // namespace veloxquant::server
