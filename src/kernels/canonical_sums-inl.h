// The canonical sums (canonical.h) of 16 float lanes as Highway code, per SIMD target: shared by
// every kernel file that reduces dot products (kernels_simd.cpp, kernels_baseline_simd.cpp).
// Included after hwy/highway.h inside each file's foreach_target pass (Highway's -inl.h guard).
#if defined(VELOXQUANT_KERNELS_CANONICAL_SUMS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef VELOXQUANT_KERNELS_CANONICAL_SUMS_INL_H_
#undef VELOXQUANT_KERNELS_CANONICAL_SUMS_INL_H_
#else
#define VELOXQUANT_KERNELS_CANONICAL_SUMS_INL_H_
#endif

#include <cstddef>

#include "hwy/highway.h"
#include "kernels/canonical.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Lanes per vector; kernels need whole bytes of mask bits, so they run only with ≥ 8 lanes
// (AVX2 and AVX-512, which also have FMA); narrower targets use the scalar references.
constexpr std::size_t kLanes = hn::MaxLanes(DF());
constexpr bool kWide = kLanes >= 8;
// Vectors that hold the 16 canonical sum lanes (canonical.h): 2 on AVX2, 1 on AVX-512.
constexpr std::size_t kNV = kLanes >= kSumLanes ? 1 : kSumLanes / kLanes;
static_assert(kLanes <= kSumLanes, "the canonical lane order assumes at most 16 float lanes");

// Adds a vector's lanes as the canonical tree: lower half plus upper half, recursively.
template <class D>
HWY_INLINE float HalvingSum(D d, hn::Vec<D> v) {
#if HWY_TARGET == HWY_SCALAR
  (void)d;
  return hn::GetLane(v);
#else
  if constexpr (hn::MaxLanes(d) == 1) {
    return hn::GetLane(v);
  } else {
    const hn::Half<D> dh;
    return HalvingSum(dh, hn::Add(hn::LowerHalf(dh, v), hn::UpperHalf(dh, v)));
  }
#endif
}

// The canonical sum of 16 lanes held in kNV vectors (lanes 0..15 in order); destroys v.
HWY_INLINE float Sum16(VF (&v)[kNV]) {
  for (std::size_t h = kNV / 2; h >= 1; h /= 2)
    for (std::size_t i = 0; i < h; ++i) v[i] = hn::Add(v[i], v[i + h]);
  return HalvingSum(DF(), v[0]);
}

// Sum16 of four queries' accumulators at once, out[k] = Sum16(a[k]). On AVX-512 one shuffle tree
// serves all four (lanes l and l+8 of every query first, ...) — the same additions in the same
// pairs as Sum16, so the same bits, at a third of the instructions.
HWY_INLINE void Sum16x4(VF (&a)[4][kNV], float (&out)[4]) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const __m512 A = a[0][0].raw, B = a[1][0].raw, C = a[2][0].raw, D = a[3][0].raw;
  // [A8 | B8] and [C8 | D8]: lane l of each 256-bit half is x[l] + x[l+8].
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(A, B, _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_f32x4(A, B, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(C, D, _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_f32x4(C, D, _MM_SHUFFLE(3, 2, 3, 2)));
  // [A4 | B4 | C4 | D4]: + l+4, then + l+2 and + l+1 inside each 128-bit block.
  __m512 z = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_f32x4(ab, cd, _MM_SHUFFLE(3, 1, 3, 1)));
  z = _mm512_add_ps(z, _mm512_permute_ps(z, _MM_SHUFFLE(1, 0, 3, 2)));
  z = _mm512_add_ps(z, _mm512_permute_ps(z, _MM_SHUFFLE(2, 3, 0, 1)));
  const __m128 sums = _mm512_castps512_ps128(
      _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), z));
  _mm_storeu_ps(out, sums);
#else
  for (std::size_t k = 0; k < 4; ++k) out[k] = Sum16(a[k]);
#endif
}

}  // namespace veloxquant::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // VELOXQUANT_KERNELS_CANONICAL_SUMS_INL_H_
