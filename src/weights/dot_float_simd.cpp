// Dot-product kernels of the float weight types (f32, f16, bf16) with float activations: each
// weight vector is loaded (f16/bf16 widened in registers) once for two tokens.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "weights/dot_float_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstring>

#include "util/half.h"
#include "weights/dot.h"
#include "weights/dot_dispatch.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::weights_simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DFF = hn::ScalableTag<float>;

struct LoadF32 {
  static hn::Vec<DFF> load(const std::uint8_t* w, std::size_t i) {
    // The row's bytes are little-endian f32 (GGUF type F32); LoadU has no alignment requirement.
    // cppcheck-suppress invalidPointerCast
    return hn::LoadU(DFF(), reinterpret_cast<const float*>(w) + i);
  }
  static float scalar(const std::uint8_t* w, std::size_t i) {
    float v;
    std::memcpy(&v, w + 4 * i, 4);
    return v;
  }
};
template <typename T16, float (*kToFloat)(std::uint16_t)>
struct Load16 {
  static hn::Vec<DFF> load(const std::uint8_t* w, std::size_t i) {
    const hn::Rebind<T16, DFF> d16;
    return hn::PromoteTo(DFF(), hn::LoadU(d16, reinterpret_cast<const T16*>(w) + i));
  }
  static float scalar(const std::uint8_t* w, std::size_t i) { return kToFloat(load_u16(w + 2 * i)); }
};
using LoadF16 = Load16<hwy::float16_t, half_to_float>;
using LoadBF16 = Load16<hwy::bfloat16_t, bf16_to_float>;

// Σ_i w[i]·x[i] over n elements with four independent FMA chains (they hide the FMA latency),
// summed as (a0 + a1) + (a2 + a3), then the scalar tail.
template <class Load>
HWY_INLINE float DotOne(const std::uint8_t* HWY_RESTRICT w, const float* HWY_RESTRICT x, std::size_t n) {
  const DFF df;
  const std::size_t N = hn::Lanes(df);
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::MulAdd(Load::load(w, i), hn::LoadU(df, x + i), a0);
    a1 = hn::MulAdd(Load::load(w, i + N), hn::LoadU(df, x + i + N), a1);
    a2 = hn::MulAdd(Load::load(w, i + 2 * N), hn::LoadU(df, x + i + 2 * N), a2);
    a3 = hn::MulAdd(Load::load(w, i + 3 * N), hn::LoadU(df, x + i + 3 * N), a3);
  }
  for (; i + N <= n; i += N) a0 = hn::MulAdd(Load::load(w, i), hn::LoadU(df, x + i), a0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) s += Load::scalar(w, i) * x[i];
  return s;
}

// DotOne for two vectors at once, with the same arithmetic for each: every weight vector is loaded
// once for both (eight accumulators).
template <class Load>
HWY_INLINE void DotTwo(const std::uint8_t* HWY_RESTRICT w, const float* HWY_RESTRICT x, const float* HWY_RESTRICT y,
                       std::size_t n, float* sx, float* sy) {
  const DFF df;
  const std::size_t N = hn::Lanes(df);
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  auto b0 = hn::Zero(df), b1 = hn::Zero(df), b2 = hn::Zero(df), b3 = hn::Zero(df);
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    const auto w0 = Load::load(w, i), w1 = Load::load(w, i + N);
    const auto w2 = Load::load(w, i + 2 * N), w3 = Load::load(w, i + 3 * N);
    a0 = hn::MulAdd(w0, hn::LoadU(df, x + i), a0);
    b0 = hn::MulAdd(w0, hn::LoadU(df, y + i), b0);
    a1 = hn::MulAdd(w1, hn::LoadU(df, x + i + N), a1);
    b1 = hn::MulAdd(w1, hn::LoadU(df, y + i + N), b1);
    a2 = hn::MulAdd(w2, hn::LoadU(df, x + i + 2 * N), a2);
    b2 = hn::MulAdd(w2, hn::LoadU(df, y + i + 2 * N), b2);
    a3 = hn::MulAdd(w3, hn::LoadU(df, x + i + 3 * N), a3);
    b3 = hn::MulAdd(w3, hn::LoadU(df, y + i + 3 * N), b3);
  }
  for (; i + N <= n; i += N) {
    const auto w0 = Load::load(w, i);
    a0 = hn::MulAdd(w0, hn::LoadU(df, x + i), a0);
    b0 = hn::MulAdd(w0, hn::LoadU(df, y + i), b0);
  }
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  float t = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(b0, b1), hn::Add(b2, b3))));
  for (; i < n; ++i) {
    const float wi = Load::scalar(w, i);
    s += wi * x[i];
    t += wi * y[i];
  }
  *sx = s;
  *sy = t;
}

// out[t·out_stride] = Σ_i w[i]·x_t[i] over n elements for t < k (x_t = x + t·x_stride). Each token
// gets exactly DotOne's arithmetic, so its product does not depend on how many tokens share the
// call (the server batches sessions and promises the replies of each alone).
template <class Load>
HWY_INLINE void DotTokens(const std::uint8_t* HWY_RESTRICT w, const float* HWY_RESTRICT x, std::size_t x_stride,
                          std::size_t n, std::size_t k, float* HWY_RESTRICT out, std::size_t out_stride) {
  std::size_t t = 0;
  for (; t + 2 <= k; t += 2)
    DotTwo<Load>(w, x + t * x_stride, x + (t + 1) * x_stride, n, out + t * out_stride, out + (t + 1) * out_stride);
  if (t < k) out[t * out_stride] = DotOne<Load>(w, x + t * x_stride, n);
}

template <class Load>
void FloatRows(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
               std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  constexpr std::size_t kTokens = 4;  // tokens per pass over a row (it stays in L1)
  for (std::size_t r = r0; r < r1; ++r)
    for (std::size_t i = 0; i < nt; i += kTokens)
      DotTokens<Load>(w + r * row_bytes, a.x_of(t0 + i), a.cols, a.cols, std::min(kTokens, nt - i),
                      y + i * y_stride + r, y_stride);
}

void RowsF32(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
             std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  FloatRows<LoadF32>(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsF16(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
             std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  FloatRows<LoadF16>(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsBF16(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  FloatRows<LoadBF16>(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void DotTokensF32(const float* w, const float* x, std::size_t x_stride, std::size_t n, std::size_t k, float* out,
                  std::size_t out_stride) {
  DotTokens<LoadF32>(reinterpret_cast<const std::uint8_t*>(w), x, x_stride, n, k, out, out_stride);
}

}  // namespace veloxquant::weights_simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant {
namespace weights_simd {
VELOXQUANT_EXPORT_ROWS(RowsF32)
VELOXQUANT_EXPORT_ROWS(RowsF16)
VELOXQUANT_EXPORT_ROWS(RowsBF16)
HWY_EXPORT(DotTokensF32);
}  // namespace weights_simd

namespace dot_simd {
VELOXQUANT_DISPATCHED_ROWS(f32, RowsF32)
VELOXQUANT_DISPATCHED_ROWS(f16, RowsF16)
VELOXQUANT_DISPATCHED_ROWS(bf16, RowsBF16)
}  // namespace dot_simd

namespace weights_simd {
void DotTokensF32Dispatched(const float* w, const float* x, std::size_t x_stride, std::size_t n, std::size_t k,
                            float* out, std::size_t out_stride) {
  dispatch_init();
  HWY_DYNAMIC_DISPATCH(DotTokensF32)(w, x, x_stride, n, k, out, out_stride);
}
}  // namespace weights_simd

void dot_tokens_f32(const float* w, const float* x, std::size_t x_stride, std::size_t n, std::size_t k, float* out,
                    std::size_t out_stride) {
  weights_simd::DotTokensF32Dispatched(w, x, x_stride, n, k, out, out_stride);
}

}  // namespace veloxquant
#endif
