// Picks the next token from logits: greedy at temperature 0 (the lowest id among equal maxima),
// else softmax(logits / temperature) cut to the smallest set of most likely tokens whose
// probability reaches top_p (nucleus sampling), drawn with the project's SplitMix64 from `seed`.
// The same logits, parameters and seed give the same tokens on every platform's libm that
// computes exp the same way (no std distributions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "math/prng.h"

namespace veloxquant::server {

struct SamplingParams {
  double temperature = 1.0;  // 0: greedy
  double top_p = 1.0;        // (0, 1]
  std::uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}
  std::int32_t next(const float* logits, std::size_t vocab);

 private:
  SamplingParams params_;
  SplitMix64 rng_;
  std::vector<double> p_;
  std::vector<std::int32_t> order_;
};

}  // namespace veloxquant::server
