// Per-target building blocks of the integer weight kernels (included by the *_simd.cpp files of
// src/weights once per Highway target).
//
// The kernels work on vectors of kBytes int8 lanes: 32 on AVX2 (and AVX-512, which runs the AVX2
// code, see weight_types.cpp), 16 elsewhere. The product of unsigned weight levels u with int8
// activations v is x86's vpmaddubsw + vpmaddwd (pairs of byte products, then pairs of those times
// an int16 scale, into int32 lanes); Highway 1.0.3 has no u8×i8 operation, so x86 targets use the
// intrinsics on the vectors' raw registers and other targets widen to int16 with Highway ops.
// Per-lane results differ between the two, their sum does not.
#if defined(VELOXQUANT_WEIGHTS_INT8_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef VELOXQUANT_WEIGHTS_INT8_SIMD_INL_H_
#undef VELOXQUANT_WEIGHTS_INT8_SIMD_INL_H_
#else
#define VELOXQUANT_WEIGHTS_INT8_SIMD_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"
#include "util/half.h"
#include "weights/dot.h"
#if HWY_ARCH_X86
#include <immintrin.h>
#endif

// One-lane and scalable-vector targets run the scalar references (weights/dot.h) instead.
#undef VELOXQUANT_WEIGHTS_SIMD
#if HWY_TARGET == HWY_SCALAR || HWY_HAVE_SCALABLE
#define VELOXQUANT_WEIGHTS_SIMD 0
#else
#define VELOXQUANT_WEIGHTS_SIMD 1
#endif

#if VELOXQUANT_WEIGHTS_SIMD
HWY_BEFORE_NAMESPACE();
namespace veloxquant::weights_simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

#undef VELOXQUANT_WEIGHTS_X86_256
#undef VELOXQUANT_WEIGHTS_X86_128
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
inline constexpr std::size_t kBytes = 32;
#define VELOXQUANT_WEIGHTS_X86_256 1
#else
inline constexpr std::size_t kBytes = 16;
#define VELOXQUANT_WEIGHTS_X86_256 0
#endif
// SSSE3 takes the portable path below, so that this machine's tests run it too.
#if HWY_TARGET == HWY_SSE4
#define VELOXQUANT_WEIGHTS_X86_128 1
#else
#define VELOXQUANT_WEIGHTS_X86_128 0
#endif

using DU8 = hn::CappedTag<std::uint8_t, kBytes>;
using DI8 = hn::RebindToSigned<DU8>;
using DI16 = hn::Repartition<std::int16_t, DU8>;
using DI32 = hn::Repartition<std::int32_t, DU8>;
using DF = hn::Repartition<float, DU8>;
using VU8 = hn::Vec<DU8>;
using VI8 = hn::Vec<DI8>;
using VI16 = hn::Vec<DI16>;
using VI32 = hn::Vec<DI32>;
using VF = hn::Vec<DF>;

// acc + Σ_k s[k]·(u[2k]·v[2k] + u[2k+1]·v[2k+1]): u unsigned with every pair sum in int16
// (u ≤ 128, |v| ≤ 127), s[k] the int16 lane k of `s`. On 16-byte vectors s must be one value in
// every lane; on 32-byte vectors it may differ between the two 16-byte halves.
HWY_INLINE VI32 MulAddPairs(VI32 acc, VU8 u, VI8 v, VI16 s) {
#if VELOXQUANT_WEIGHTS_X86_256
  return hn::Add(acc, VI32{_mm256_madd_epi16(_mm256_maddubs_epi16(u.raw, v.raw), s.raw)});
#elif VELOXQUANT_WEIGHTS_X86_128
  return hn::Add(acc, VI32{_mm_madd_epi16(_mm_maddubs_epi16(u.raw, v.raw), s.raw)});
#else
  const hn::Half<DU8> dhu8;
  const hn::Half<DI8> dhi8;
  const DI16 d16;
  const DI32 d32;
  const VI16 p_lo = hn::Mul(hn::PromoteTo(d16, hn::LowerHalf(dhu8, u)), hn::PromoteTo(d16, hn::LowerHalf(dhi8, v)));
  const VI16 p_hi = hn::Mul(hn::PromoteTo(d16, hn::UpperHalf(dhu8, u)), hn::PromoteTo(d16, hn::UpperHalf(dhi8, v)));
  VI32 extra = hn::Zero(d32);
  acc = hn::ReorderWidenMulAccumulate(d32, p_lo, s, acc, extra);
  acc = hn::ReorderWidenMulAccumulate(d32, p_hi, s, acc, extra);
  return hn::Add(acc, extra);
#endif
}

// v with the sign of w (0 where w is 0, which |w| zeroes anyway).
HWY_INLINE VI8 SignOf(VI8 v, VI8 w) {
#if VELOXQUANT_WEIGHTS_X86_256
  return VI8{_mm256_sign_epi8(v.raw, w.raw)};
#elif VELOXQUANT_WEIGHTS_X86_128
  return VI8{_mm_sign_epi8(v.raw, w.raw)};
#else
  // (a comparison, not IfNegativeThenElse: on SSSE3 Highway 1.0.3 takes w itself as the mask)
  return hn::IfThenElse(hn::Lt(w, hn::Zero(DI8())), hn::Neg(v), v);
#endif
}

// MulAddPairs for signed weights w (|w| ≤ 128): |w| times v with w's sign.
HWY_INLINE VI32 MulAddSigned(VI32 acc, VI8 w, VI8 v, VI16 s) {
  return MulAddPairs(acc, hn::BitCast(DU8(), hn::Abs(w)), SignOf(v, w), s);
}

// The scales of one vector: `low` for its first 16 bytes, `high` for the rest (16-byte vectors
// take `low`; the caller passes each vector's own scale).
HWY_INLINE VI16 HalfScales(int low, int high) {
  const DI16 d16;
#if VELOXQUANT_WEIGHTS_X86_256
  return VI16{_mm256_setr_m128i(_mm_set1_epi16(static_cast<short>(low)), _mm_set1_epi16(static_cast<short>(high)))};
#else
  (void)high;
  return hn::Set(d16, static_cast<std::int16_t>(low));
#endif
}

HWY_INLINE VU8 LowNibbles(VU8 v) { return hn::And(v, hn::Set(DU8(), std::uint8_t{0x0F})); }
HWY_INLINE VU8 HighNibbles(VU8 v) { return hn::And(hn::ShiftRight<4>(v), hn::Set(DU8(), std::uint8_t{0x0F})); }

// The levels of a 16-byte nibble array whose low nibbles are elements 0..15 and high nibbles
// 16..31 (q4_0, iq4_nl, iq4_xs sub-blocks): the vector of elements [kBytes·v, kBytes·v + kBytes).
HWY_INLINE VU8 NibbleLevels(const std::uint8_t* qs, std::size_t v) {
  const DU8 du8;
#if VELOXQUANT_WEIGHTS_X86_256
  (void)v;
  const hn::Full128<std::uint8_t> d128;
  const auto q = hn::LoadU(d128, qs);
  return hn::And(hn::Combine(du8, hn::ShiftRight<4>(q), q), hn::Set(du8, std::uint8_t{0x0F}));
#else
  const VU8 q = hn::LoadU(du8, qs);
  return v == 0 ? LowNibbles(q) : HighNibbles(q);
#endif
}

// The 16 iq4_nl values in every 16-byte half of a vector (byte shuffles work per half).
HWY_INLINE VI8 Iq4nlTable() {
  alignas(32) static constexpr std::int8_t kTable[32] = {-127, -104, -83, -65, -49, -35,  -22,  -10, 1,   13,  25,
                                                         38,   53,   69,  89,  113, -127, -104, -83, -65, -49, -35,
                                                         -22,  -10,  1,   13,  25,  38,   53,   69,  89,  113};
  return hn::Load(DI8(), kTable);
}

// Bytes of the first kBytes bits of `bits` (bit j → byte j): `value` where the bit is set, else 0.
HWY_INLINE VU8 BitsToBytes(const std::uint8_t* bits, std::uint8_t value) {
  const DU8 du8;
  // Byte j takes source byte j/8 and tests bit j%8.
  alignas(32) static constexpr std::uint8_t kSource[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                           2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
  alignas(32) static constexpr std::uint8_t kBit[32] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128,
                                                        1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  std::uint32_t word = 0;
  std::memcpy(&word, bits, kBytes / 8);
  const VU8 spread = hn::TableLookupBytes(hn::BitCast(du8, hn::Set(hn::Repartition<std::uint32_t, DU8>(), word)),
                                          hn::Load(du8, kSource));
  const VU8 bit = hn::Load(du8, kBit);
  return hn::IfThenElseZero(hn::Eq(hn::And(spread, bit), bit), hn::Set(du8, value));
}

// An fp16 scale as float (F16C on AVX2).
HWY_INLINE float HalfToFloat(std::uint16_t h) {
#if VELOXQUANT_WEIGHTS_X86_256
  return _cvtsh_ss(h);
#else
  return half_to_float(h);
#endif
}

// --- scales of sub-blocks -------------------------------------------------------------------------

using D16x8 = hn::FixedTag<std::int16_t, 8>;
using D32x4 = hn::FixedTag<std::int32_t, 4>;
using DF4 = hn::FixedTag<float, 4>;
using V16x8 = hn::Vec<D16x8>;
using VF4 = hn::Vec<DF4>;

// Eight int16 scales, as int8 or uint8 values at p, widened.
template <typename T8>
HWY_INLINE V16x8 Widen8(const T8* p) {
  return hn::PromoteTo(D16x8(), hn::LoadU(hn::FixedTag<T8, 8>(), p));
}

// Eight int16 scales in every 16-byte half of a vector.
HWY_INLINE VI16 InEveryHalf(V16x8 v) {
#if VELOXQUANT_WEIGHTS_X86_256
  return hn::Combine(DI16(), v, v);
#else
  return v;
#endif
}

// The int16 scales of the vector holding elements [e, e + kBytes) of a sub-block grid of
// `per` elements, from `eight` (scales 8·k … 8·k + 7 of the grid in every 16-byte half, k the
// group of e's sub-block): a byte shuffle that broadcasts lane (e/per) % 8 (and the next lane in
// the upper half of a 32-byte vector over two sub-blocks of 16).
HWY_INLINE VI16 ScaleOf(VI16 eight, std::size_t e, std::size_t per) {
  // Byte pairs 2l, 2l+1 in the lower 16 bytes and 2l', 2l'+1 in the upper, l' = l + (per == 16).
  alignas(32) static constexpr std::uint8_t kPairs[2][8][32] = {
      {{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1},
       {2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
       {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5},
       {6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
       {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9},
       {10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
        10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
       {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13,
        12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13},
       {14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
        14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15}},
      {{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3},
       {2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5},
       {4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7},
       {6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9},
       {8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11},
       {10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
        12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13},
       {12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13,
        14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15},
       {14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
        14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15}}};
  const std::size_t lane = (e / per) % 8;
  const std::uint8_t* pattern = kPairs[per == 16 && kBytes == 32][lane];
  return hn::BitCast(DI16(), hn::TableLookupBytes(hn::BitCast(DU8(), eight), hn::Load(DU8(), pattern)));
}

// Σ_k a[k]·b[k] of eight int16 pairs into four int32 lanes.
HWY_INLINE hn::Vec<D32x4> Dot8(V16x8 a, V16x8 b) {
  const D32x4 d32;
  auto extra = hn::Zero(d32);
  const auto sum = hn::ReorderWidenMulAccumulate(d32, a, b, hn::Zero(d32), extra);
  return hn::Add(sum, extra);
}

// Rows r0 ≤ r < r1 and tokens t0 … t0 + nt − 1 (DotRowsFn's contract) of a row kernel
// K::Row<NT>(row, a, t, out, out_stride), in groups of K::kTokens (4 or 8) tokens, then 4, then
// 1 to 3: each row is read once and stays in L1 while its token groups pass.
template <class K>
HWY_INLINE void ForRowsAndTokens(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1,
                                 const ActivationBatch& a, std::size_t t0, std::size_t nt, float* y,
                                 std::size_t y_stride) {
  static_assert(K::kTokens == 4 || K::kTokens == 8, "token groups of 4 or 8");
  for (std::size_t r = r0; r < r1; ++r) {
    const std::uint8_t* row = w + r * row_bytes;
    for (std::size_t i = 0; i < nt;) {
      const std::size_t left = nt - i;
      const std::size_t n = left >= K::kTokens ? K::kTokens : left >= 4 ? 4 : left;
      float* out = y + i * y_stride + r;
      if (n == 8) {
        if constexpr (K::kTokens == 8) K::template Row<8>(row, a, t0 + i, out, y_stride);
      } else if (n == 4) {
        K::template Row<4>(row, a, t0 + i, out, y_stride);
      } else if (n == 3) {
        K::template Row<3>(row, a, t0 + i, out, y_stride);
      } else if (n == 2) {
        K::template Row<2>(row, a, t0 + i, out, y_stride);
      } else {
        K::template Row<1>(row, a, t0 + i, out, y_stride);
      }
      i += n;
    }
  }
}

// Σ of the float lanes.
HWY_INLINE float SumLanes(VF v) { return hn::GetLane(hn::SumOfLanes(DF(), v)); }

}  // namespace veloxquant::weights_simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();
#endif  // VELOXQUANT_WEIGHTS_SIMD

#endif  // include guard
