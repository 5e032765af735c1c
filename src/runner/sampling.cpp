#include "runner/sampling.h"

#include <cmath>

namespace veloxquant {

std::int32_t sample_token(const std::vector<float>& logits, double temperature, SplitMix64& rng) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  if (temperature <= 0.0) return static_cast<std::int32_t>(best);
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - logits[best]) / temperature);
  double u = rng.uniform() * sum;
  for (std::size_t i = 0; i < p.size(); ++i)
    if ((u -= p[i]) <= 0.0) return static_cast<std::int32_t>(i);
  return static_cast<std::int32_t>(best);
}

}  // namespace veloxquant
