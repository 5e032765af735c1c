// Helpers of the KV cache tests: random tokens, the exact attention reference (double
// precision, written independently of the cache), relative error and a tiny .npy reader.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "math/prng.h"

namespace veloxquant::test {

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

// Reads a little-endian float32 C-order .npy file; returns false if absent or not that kind.
inline bool read_npy_f32(const std::string& path, std::vector<std::size_t>& shape, std::vector<float>& data) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) return false;
  std::size_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<std::size_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(header_len))) return false;
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    return false;
  shape.clear();
  const std::size_t open = header.find('(', header.find("'shape'"));
  const std::size_t close = header.find(')', open);
  std::size_t count = 1;
  for (std::size_t p = open + 1; p < close;) {
    while (p < close && (header[p] == ' ' || header[p] == ',')) ++p;
    if (p >= close) break;
    const std::size_t dim = std::stoull(header.substr(p));
    shape.push_back(dim);
    count *= dim;
    while (p < close && header[p] != ',') ++p;
  }
  data.resize(count);
  return static_cast<bool>(f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(count * 4)));
}

}  // namespace veloxquant::test
