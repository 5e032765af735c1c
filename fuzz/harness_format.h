// Format names and cache configurations: parse_format, make_quantizer and the KVCache
// constructor must accept or throw std::invalid_argument; whatever they accept must work.
//
// Input: 4 bytes of numeric parameters (kept small: this fuzzes parsing and validation, not
// the caller's memory budget), then up to three '\n'-separated format names (key, value, exact).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cache/persist.h"
#include "veloxquant/format.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant::fuzz_harness {

inline std::vector<float> ramp(std::size_t n, float step) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = std::sin(static_cast<float>(i + 1) * step);
  return x;
}

inline void check_quantizer(std::string_view name, std::size_t dim) {
  using namespace veloxquant;
  FormatSpec spec;
  try {
    spec = parse_format(name);
  } catch (const std::invalid_argument&) {
    return;
  }
  if (parse_format(spec.name()).name() != spec.name()) std::abort();  // canonical names round-trip
  std::unique_ptr<Quantizer> q;
  try {
    q = make_quantizer(spec, dim, 7);
  } catch (const std::invalid_argument&) {
    return;
  }
  const std::vector<float> x = ramp(2 * dim, 0.7f);
  std::vector<std::uint8_t> codes(2 * q->code_size());
  q->encode(2, x.data(), codes.data());
  std::vector<float> back(2 * dim), prepared(q->query_size()), scores(2), acc(q->accumulator_size(), 0.0f), out(dim);
  q->decode(2, codes.data(), back.data());
  q->prepare_query(x.data(), prepared.data());
  q->score(1, prepared.data(), 2, codes.data(), scores.data());
  const float w[2] = {0.5f, 0.5f};
  q->accumulate(1, w, 2, codes.data(), acc.data());
  q->finish_accumulate(acc.data(), out.data());
}

inline int fuzz_format(const std::uint8_t* data, std::size_t size) {
  using namespace veloxquant;
  if (size < 4) return 0;
  const std::uint8_t p0 = data[0], p1 = data[1], p2 = data[2], p3 = data[3];
  const std::string_view text(reinterpret_cast<const char*>(data + 4), size - 4);
  std::vector<std::string> names;
  for (std::size_t start = 0; names.size() < 3;) {
    const std::size_t nl = text.find('\n', start);
    names.emplace_back(text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  const std::size_t dim = 1 + p0 % 160;
  for (const std::string& n : names) check_quantizer(n, dim);

  CacheConfig c;
  c.layers = 1 + (p1 & 1);
  c.kv_heads = 1 + ((p1 >> 1) & 1);
  c.q_heads = c.kv_heads * (1 + ((p1 >> 2) & 1)) + ((p1 >> 3) & 1);  // sometimes not a multiple
  c.head_dim = dim;
  c.key_format = names[0];
  c.value_format = names.size() > 1 ? names[1] : names[0];
  c.exact_format = names.size() > 2 ? names[2] : "auto";
  c.window = p2 & 7;
  c.sinks = (p2 >> 3) & 3;
  c.page_tokens = (p2 >> 5);  // 0 must be rejected
  c.max_tokens = p3 & 15;
  c.calibration_tokens = (p3 >> 4) & 7;
  c.threads = 1 + ((p3 >> 7) & 1);
  c.scale = (p1 & 0x80) ? NAN : 0.0f;  // a NaN scale must be rejected
  try {
    KVCache cache(c);
    const std::size_t tokens = 12;
    const std::vector<float> k = ramp(tokens * c.kv_heads * dim, 0.3f), v = ramp(tokens * c.kv_heads * dim, 0.9f);
    const std::vector<float> q = ramp(2 * c.q_heads * dim, 0.5f);
    std::vector<float> out(q.size());
    for (std::size_t l = 0; l < c.layers; ++l) {
      cache.append(l, tokens, k.data(), v.data());
      cache.attend(l, 2, q.data(), out.data());
    }
    cache.truncate(3);
    cache.append(0, 1, k.data(), v.data());
    cache.attend(0, 1, q.data(), out.data());
    const std::vector<std::uint8_t> image = serialize_cache(cache);
    if (serialize_cache(parse_cache(image)) != image) std::abort();
  } catch (const std::invalid_argument&) {
  }
  return 0;
}

}  // namespace veloxquant::fuzz_harness
