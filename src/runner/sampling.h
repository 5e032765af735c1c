// Next-token choice from logits: greedy at temperature 0, else a draw from softmax(logits / T)
// with the project's PRNG (deterministic for a seed).
#pragma once

#include <cstdint>
#include <vector>

#include "math/prng.h"

namespace veloxquant {

std::int32_t sample_token(const std::vector<float>& logits, double temperature, SplitMix64& rng);

}  // namespace veloxquant
