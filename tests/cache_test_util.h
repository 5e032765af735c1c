// Helpers of the KV cache tests: random tokens, the exact attention reference (double
// precision, written independently of the cache), relative error and reading .npy data.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/npy.h"
#include "math/prng.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant::test {

// The message with which KVCache refuses a configuration; "" when it accepts it.
inline std::string config_error(const CacheConfig& c) {
  try {
    KVCache cache(c);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

inline std::vector<float> random_normal(std::size_t n, std::uint64_t seed, float sigma = 1.0f) {
  SplitMix64 g(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(g.normal()) * sigma;
  return x;
}

// Exact causal attention. k, v: [tokens][kv_heads][d]; q: [nq][q_heads][d]; query i sees tokens
// 0 .. tokens − nq + i. `positions` maps a position to its token in k/v (eviction tests);
// empty means position p is token p.
inline std::vector<float> reference_attention(const std::vector<float>& k, const std::vector<float>& v,
                                              std::size_t tokens, std::size_t kv_heads, std::size_t q_heads,
                                              std::size_t d, std::size_t nq, const float* q, double scale = 0.0,
                                              const std::vector<std::size_t>& positions = {}) {
  if (scale == 0.0) scale = 1.0 / std::sqrt(static_cast<double>(d));
  const std::size_t group = q_heads / kv_heads;
  std::vector<float> out(nq * q_heads * d);
  std::vector<double> s(tokens), acc(d);
  for (std::size_t i = 0; i < nq; ++i) {
    const std::size_t visible = tokens - nq + i + 1;
    for (std::size_t h = 0; h < q_heads; ++h) {
      const std::size_t kvh = h / group;
      const float* qi = q + (i * q_heads + h) * d;
      double m = -1e300;
      for (std::size_t t = 0; t < visible; ++t) {
        const std::size_t tok = positions.empty() ? t : positions[t];
        const float* kt = k.data() + (tok * kv_heads + kvh) * d;
        double dot = 0.0;
        for (std::size_t c = 0; c < d; ++c) dot += static_cast<double>(qi[c]) * kt[c];
        s[t] = dot * scale;
        m = std::max(m, s[t]);
      }
      double sum = 0.0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::size_t t = 0; t < visible; ++t) {
        const std::size_t tok = positions.empty() ? t : positions[t];
        const double w = std::exp(s[t] - m);
        sum += w;
        const float* vt = v.data() + (tok * kv_heads + kvh) * d;
        for (std::size_t c = 0; c < d; ++c) acc[c] += w * vt[c];
      }
      for (std::size_t c = 0; c < d; ++c) out[(i * q_heads + h) * d + c] = static_cast<float>(acc[c] / sum);
    }
  }
  return out;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

// ‖a − b‖ / ‖b‖ over the whole array.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = static_cast<double>(a[i]) - b[i];
    num += e * e;
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// Reads a float32 .npy file with the library's validated reader; false if the file is absent.
inline bool read_npy_f32(const std::string& path, std::vector<std::size_t>& shape, std::vector<float>& data) {
  if (!std::ifstream(path, std::ios::binary)) return false;
  const NpyArray array = read_npy(path);
  shape = array.shape;
  data = array.to_f32();
  return true;
}

}  // namespace veloxquant::test
