#include "cache/input_check.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"

namespace veloxquant {

// Throws naming the first non-finite element of x[n][heads][dim]; a SIMD scan first, so that
// the search for the element runs only when there is one.
void check_finite(const char* what, const float* x, std::size_t n, std::size_t heads, std::size_t dim) {
  const std::size_t total = n * heads * dim;
  if (!kernels::any_abs_above(total, x, std::numeric_limits<float>::max())) return;
  for (std::size_t i = 0; i < total; ++i) {
    if (std::isfinite(x[i])) continue;
    const std::size_t t = i / (heads * dim), h = (i / dim) % heads, c = i % dim;
    throw std::invalid_argument(std::string(what) + "[token " + std::to_string(t) + "][head " + std::to_string(h) +
                                "][" + std::to_string(c) + "] = " + std::to_string(x[i]) + " is not finite");
  }
}

namespace {

// The largest |x_i| and ‖x‖ a format stores without overflowing an fp16 field (0: no limit).
// tq/tqp/qjl/polar keep an fp16 scale near ‖x‖ (the least-squares scale can exceed ‖x‖ a few
// times, hence a quarter of the fp16 maximum).
struct RangeLimit {
  double max_abs = 0.0, max_norm = 0.0;
};
constexpr double kHalfMax = 65504.0;

RangeLimit range_limit(const FormatSpec& s) {
  switch (s.method) {
    case Method::kF32:
    case Method::kBF16:
      return {};
    case Method::kF16:
      return {kHalfMax, 0.0};
    case Method::kQ8:
      return {kHalfMax * 127.0, 0.0};
    case Method::kQ4:
      return {kHalfMax * 8.0, 0.0};
    default:
      return {0.0, kHalfMax / 4.0};
  }
}

RangeLimit tighter(RangeLimit a, RangeLimit b) {
  const auto min_limit = [](double x, double y) { return x == 0.0 ? y : y == 0.0 ? x : std::min(x, y); };
  return {min_limit(a.max_abs, b.max_abs), min_limit(a.max_norm, b.max_norm)};
}

void check_range(const char* what, const float* x, std::size_t n, std::size_t heads, std::size_t dim,
                 const RangeLimit& limit) {
  // One pass with a per-value bound: no value above min(max_abs, max_norm / √dim) means every
  // vector is finite and within both limits; otherwise look closer.
  double bound = 3.0e38;
  if (limit.max_abs != 0.0) bound = std::min(bound, limit.max_abs);
  if (limit.max_norm != 0.0) bound = std::min(bound, limit.max_norm / std::sqrt(static_cast<double>(dim)));
  if (!kernels::any_abs_above(n * heads * dim, x, static_cast<float>(bound))) return;
  check_finite(what, x, n, heads, dim);
  for (std::size_t i = 0; i < n * heads; ++i) {
    const float* row = x + i * dim;
    double sum = 0.0, amax = 0.0;
    for (std::size_t c = 0; c < dim; ++c) {
      sum += static_cast<double>(row[c]) * row[c];
      amax = std::max(amax, std::fabs(static_cast<double>(row[c])));
    }
    const auto where = [&] {
      return std::string(what) + "[token " + std::to_string(i / heads) + "][head " + std::to_string(i % heads) + "]";
    };
    if (limit.max_abs != 0.0 && amax > limit.max_abs)
      throw std::invalid_argument(where() + " holds " + std::to_string(amax) + ", above " +
                                  std::to_string(limit.max_abs) +
                                  ", the largest value this cache's formats store (fp16 range)");
    if (limit.max_norm != 0.0 && std::sqrt(sum) > limit.max_norm)
      throw std::invalid_argument(where() + " has norm " + std::to_string(std::sqrt(sum)) + ", above " +
                                  std::to_string(limit.max_norm) +
                                  ", the largest this cache's formats store (fp16 scale)");
  }
}

}  // namespace

void check_storable(const KVCache::Impl& impl, std::size_t layer, const char* what, const float* x, std::size_t n,
                    std::size_t heads, bool keys) {
  const LayerFormats& f = impl.formats[layer];
  const RangeLimit limit = tighter(range_limit(impl.exact_spec), range_limit(keys ? f.key_spec : f.value_spec));
  check_range(what, x, n, heads, impl.config.head_dim, limit);
}

}  // namespace veloxquant
