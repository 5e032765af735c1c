// Helpers shared by the tests: deterministic random data.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "math/prng.h"

namespace veloxquant::test {

inline std::vector<float> gaussian(std::size_t n, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.normal());
  return v;
}

inline std::vector<float> unit_vectors(std::size_t n, std::size_t dim, std::uint64_t seed) {
  std::vector<float> v = gaussian(n * dim, seed);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::size_t j = 0; j < dim; ++j) s += static_cast<double>(v[i * dim + j]) * v[i * dim + j];
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (std::size_t j = 0; j < dim; ++j) v[i * dim + j] *= inv;
  }
  return v;
}

}  // namespace veloxquant::test
