// Highway implementation of softmax_kernels.h. Tails are padded with −∞ in a stack buffer so
// every element goes through the same vector exp (no scalar tail with different rounding).
#include "cache/softmax_kernels.h"

#include <cmath>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cache/softmax_kernels.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float RowMax(const float* s, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  auto m = hn::Set(d, -std::numeric_limits<float>::infinity());
  std::size_t t = 0;
  for (; t + lanes <= n; t += lanes) m = hn::Max(m, hn::LoadU(d, s + t));
  float best = hn::GetLane(hn::MaxOfLanes(d, m));
  for (; t < n; ++t) best = s[t] > best ? s[t] : best;  // max is exact: a scalar tail is fine
  return best;
}

float ExpRow(float* s, std::size_t n, float scale, float shift) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  const auto vscale = hn::Set(d, scale);
  const auto vshift = hn::Set(d, shift);
  auto sum = hn::Zero(d);
  std::size_t t = 0;
  for (; t + lanes <= n; t += lanes) {
    const auto e = hn::Exp(d, hn::Sub(hn::Mul(hn::LoadU(d, s + t), vscale), vshift));
    hn::StoreU(e, d, s + t);
    sum = hn::Add(sum, e);
  }
  if (t < n) {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
    for (std::size_t i = 0; i < lanes; ++i) buf[i] = t + i < n ? s[t + i] : -std::numeric_limits<float>::infinity();
    const auto e = hn::Exp(d, hn::Sub(hn::Mul(hn::Load(d, buf), vscale), vshift));
    hn::Store(e, d, buf);
    for (std::size_t i = 0; t + i < n; ++i) s[t + i] = buf[i];
    sum = hn::Add(sum, e);  // padded lanes are exp(−∞) = 0
  }
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

}  // namespace HWY_NAMESPACE
}  // namespace veloxquant
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant {

HWY_EXPORT(RowMax);
HWY_EXPORT(ExpRow);

float row_max(const float* s, std::size_t n) { return HWY_DYNAMIC_DISPATCH(RowMax)(s, n); }
float exp_row(float* s, std::size_t n, float scale, float shift) {
  return HWY_DYNAMIC_DISPATCH(ExpRow)(s, n, scale, shift);
}

float row_max_ref(const float* s, std::size_t n) {
  float best = s[0];
  for (std::size_t t = 1; t < n; ++t) best = s[t] > best ? s[t] : best;
  return best;
}

float exp_row_ref(float* s, std::size_t n, float scale, float shift) {
  float sum = 0.0f;
  for (std::size_t t = 0; t < n; ++t) {
    const float x = s[t] * scale - shift;
    s[t] = x < -104.0f ? 0.0f : std::exp(x);
    sum += s[t];
  }
  return sum;
}

}  // namespace veloxquant
#endif
