// Dot-product kernels of the 32-element block types (q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl) with
// kQ8Blocks activations. Per block: the weight levels are unpacked into int8 lanes once and dotted
// with up to 4 tokens' int8 activations (vpmaddubsw/vpmaddwd on x86, int8_simd-inl.h); the int32
// block sums of 8 blocks (4 on 16-byte vectors) are gathered into one vector, turned into float
// and scaled by d_w·d_x in one step. Signed levels (q8_0, q4_0, q5_0, iq4_nl) take the sign trick
// (|w| times x with w's sign); unsigned ones (q4_1, q5_1) add m_w·d_x·Σx.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "weights/dot_blocks32_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "weights/int8_simd-inl.h"

#include <algorithm>

#include "util/half.h"
#include "weights/block_layout.h"
#include "weights/dot.h"
#include "weights/dot_dispatch.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::weights_simd::HWY_NAMESPACE {
#if VELOXQUANT_WEIGHTS_SIMD

// The levels of elements [kBytes·v, kBytes·v + kBytes) of one block, as int8 lanes: signed values
// (Signed = true) or unsigned levels with an additive min (Signed = false).
struct UnpackQ8_0 {
  using Layout = blocks::Q8_0;
  static constexpr bool kSigned = true, kMin = false;
  static HWY_INLINE VI8 levels(const std::uint8_t* b, std::size_t v) {
    return hn::LoadU(DI8(), reinterpret_cast<const std::int8_t*>(b + Layout::kQs) + kBytes * v);
  }
};

template <class Layout, int kOffset, bool kFiveBits>
struct UnpackSymmetric {  // q4_0 (offset 8), q5_0 (offset 16)
  static constexpr bool kSigned = true, kMin = false;
  static HWY_INLINE VI8 levels(const std::uint8_t* b, std::size_t v) {
    VU8 q = NibbleLevels(b + Layout::kQs, v);
    if constexpr (kFiveBits) q = hn::Or(q, BitsToBytes(b + Layout::kQh + kBytes / 8 * v, 16));
    return hn::Sub(hn::BitCast(DI8(), q), hn::Set(DI8(), static_cast<std::int8_t>(kOffset)));
  }
};

template <class Layout, bool kFiveBits>
struct UnpackOffset {  // q4_1, q5_1
  static constexpr bool kSigned = false, kMin = true;
  static HWY_INLINE VI8 levels(const std::uint8_t* b, std::size_t v) {
    VU8 q = NibbleLevels(b + Layout::kQs, v);
    if constexpr (kFiveBits) q = hn::Or(q, BitsToBytes(b + Layout::kQh + kBytes / 8 * v, 16));
    return hn::BitCast(DI8(), q);
  }
};

struct UnpackIQ4_NL {
  using Layout = blocks::IQ4_NL;
  static constexpr bool kSigned = true, kMin = false;
  static HWY_INLINE VI8 levels(const std::uint8_t* b, std::size_t v) {
    return hn::TableLookupBytes(Iq4nlTable(), hn::BitCast(DI8(), NibbleLevels(b + Layout::kQs, v)));
  }
};

// Blocks are taken kGroup at a time (one per float lane): each token's integer sums of the group
// are reduced into one vector, lane g holding block g's sum, and the group's float products
// d_w·d_x·sum are one vector multiply-add.
inline constexpr std::size_t kGroup = kBytes / 4;

// Lane g of the result: the sum of the lanes of sums[g].
HWY_INLINE VI32 ReduceGroup(const VI32* sums) {
#if VELOXQUANT_WEIGHTS_X86_256
  const __m256i h01 = _mm256_hadd_epi32(sums[0].raw, sums[1].raw), h23 = _mm256_hadd_epi32(sums[2].raw, sums[3].raw);
  const __m256i h45 = _mm256_hadd_epi32(sums[4].raw, sums[5].raw), h67 = _mm256_hadd_epi32(sums[6].raw, sums[7].raw);
  const __m256i h03 = _mm256_hadd_epi32(h01, h23), h47 = _mm256_hadd_epi32(h45, h67);
  // h03 = [s0, s1, s2, s3 | s0', s1', s2', s3'] (sums of the lower and upper halves); h47 likewise.
  return VI32{_mm256_add_epi32(_mm256_permute2x128_si256(h03, h47, 0x20), _mm256_permute2x128_si256(h03, h47, 0x31))};
#else
  const DI32 d32;
  alignas(32) std::int32_t lanes[kGroup];
  for (std::size_t g = 0; g < kGroup; ++g) lanes[g] = hn::GetLane(hn::SumOfLanes(d32, sums[g]));
  return hn::Load(d32, lanes);
#endif
}

// The fp16 fields of kGroup consecutive blocks (stride bytes apart) as float lanes.
HWY_INLINE VF GroupHalves(const std::uint8_t* p, std::size_t stride) {
  alignas(32) float lanes[kGroup];
  for (std::size_t g = 0; g < kGroup; ++g) lanes[g] = HalfToFloat(load_u16(p + g * stride));
  return hn::Load(DF(), lanes);
}

template <class Unpack>
HWY_INLINE VI32 BlockSum(VI32 acc, VI8 w, VI8 x) {
  const VI16 ones = hn::Set(DI16(), std::int16_t{1});
  if constexpr (Unpack::kSigned)
    return MulAddSigned(acc, w, x, ones);
  else
    return MulAddPairs(acc, hn::BitCast(DU8(), w), x, ones);
}

// BlockSum with the unsigned operand (|w| for signed levels) already at hand.
template <class Unpack>
HWY_INLINE VI32 BlockSumOf(VI32 acc, VU8 u, VI8 w, VI8 x) {
  const VI16 ones = hn::Set(DI16(), std::int16_t{1});
  return MulAddPairs(acc, u, Unpack::kSigned ? SignOf(x, w) : x, ones);
}

template <class Unpack, std::size_t kBlockBytes, std::size_t kD, std::size_t kM, std::size_t NT>
HWY_INLINE void Blocks32Row(const std::uint8_t* HWY_RESTRICT row, const ActivationBatch& a, std::size_t t0,
                            float* HWY_RESTRICT out, std::size_t out_stride) {
  const DU8 du8;
  const DI8 di8;
  const DI32 d32;
  const DF df;
  const std::int8_t* x[NT];
  const float* dx[NT];
  const std::int16_t* sx[NT];
  VF acc[NT];
  float tail[NT];  // blocks after the last whole group
  for (std::size_t t = 0; t < NT; ++t) {
    x[t] = a.q_of(t0 + t);
    dx[t] = a.d_of(t0 + t);
    sx[t] = a.sums_of(t0 + t);
    acc[t] = hn::Zero(df);
    tail[t] = 0.0f;
  }
  const std::size_t blocks = a.cols / 32;
  std::size_t b = 0;
  for (; b + kGroup <= blocks; b += kGroup) {
    const std::uint8_t* group = row + b * kBlockBytes;
    const VF dw = GroupHalves(group + kD, kBlockBytes);
    [[maybe_unused]] VF mw;
    if constexpr (Unpack::kMin) mw = GroupHalves(group + kM, kBlockBytes);
    // One token: levels straight into the products. More: the group's levels go through an L1
    // buffer, so that only one token's sums are live at a time.
    alignas(32) std::int8_t levels[kGroup * 32];
    if constexpr (NT > 1)
      for (std::size_t g = 0; g < kGroup; ++g)
        for (std::size_t v = 0; v < 32 / kBytes; ++v)
          hn::Store(Unpack::levels(group + g * kBlockBytes, v), di8, levels + 32 * g + kBytes * v);
    for (std::size_t t = 0; t < NT; ++t) {
      VI32 sums[kGroup];
      for (std::size_t g = 0; g < kGroup; ++g) {
        sums[g] = hn::Zero(d32);
        for (std::size_t v = 0; v < 32 / kBytes; ++v) {
          const VI8 w =
              NT > 1 ? hn::Load(di8, levels + 32 * g + kBytes * v) : Unpack::levels(group + g * kBlockBytes, v);
          sums[g] = BlockSum<Unpack>(sums[g], w, hn::LoadU(di8, x[t] + 32 * (b + g) + kBytes * v));
        }
      }
      const VF dxv = hn::LoadU(df, dx[t] + b);
      acc[t] = hn::MulAdd(hn::Mul(dw, dxv), hn::ConvertTo(df, ReduceGroup(sums)), acc[t]);
      if constexpr (Unpack::kMin) {
        const hn::Rebind<std::int16_t, DF> d16f;
        const VF s = hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d16f, sx[t] + b)));
        acc[t] = hn::MulAdd(hn::Mul(mw, dxv), s, acc[t]);
      }
    }
  }
  for (; b < blocks; ++b) {
    const std::uint8_t* block = row + b * kBlockBytes;
    for (std::size_t t = 0; t < NT; ++t) {
      VI32 sum = hn::Zero(d32);
      for (std::size_t v = 0; v < 32 / kBytes; ++v)
        sum = BlockSum<Unpack>(sum, Unpack::levels(block, v), hn::LoadU(di8, x[t] + 32 * b + kBytes * v));
      tail[t] +=
          HalfToFloat(load_u16(block + kD)) * dx[t][b] * static_cast<float>(hn::GetLane(hn::SumOfLanes(d32, sum)));
      if constexpr (Unpack::kMin)
        tail[t] += HalfToFloat(load_u16(block + kM)) * dx[t][b] * static_cast<float>(sx[t][b]);
    }
  }
  for (std::size_t t = 0; t < NT; ++t) out[t * out_stride] = SumLanes(acc[t]) + tail[t];
}

template <class Unpack, std::size_t kBlockBytes, std::size_t kD, std::size_t kM>
struct Blocks32Kernel {
  static constexpr std::size_t kTokens = 4;  // 8 spills (callgrind: 62 instructions per 256 weights and token, 74)
  template <std::size_t NT>
  static HWY_INLINE void Row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t0, float* out,
                             std::size_t out_stride) {
    Blocks32Row<Unpack, kBlockBytes, kD, kM, NT>(row, a, t0, out, out_stride);
  }
};

using UnpackQ4_0 = UnpackSymmetric<blocks::Q4_0, 8, false>;
using UnpackQ5_0 = UnpackSymmetric<blocks::Q5_0, 16, true>;
using UnpackQ4_1 = UnpackOffset<blocks::Q4_1, false>;
using UnpackQ5_1 = UnpackOffset<blocks::Q5_1, true>;

// L names a block layout type (L::kBytes): it cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define VELOXQUANT_ROWS_KERNEL(Name, Unpack, L, kM)                                                                 \
  void Name(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a, \
            std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {                                       \
    ForRowsAndTokens<Blocks32Kernel<Unpack, L::kBytes, L::kD, kM>>(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);   \
  }
// NOLINTEND(bugprone-macro-parentheses)
VELOXQUANT_ROWS_KERNEL(RowsQ8_0, UnpackQ8_0, blocks::Q8_0, 0)
VELOXQUANT_ROWS_KERNEL(RowsQ4_0, UnpackQ4_0, blocks::Q4_0, 0)
VELOXQUANT_ROWS_KERNEL(RowsQ5_0, UnpackQ5_0, blocks::Q5_0, 0)
VELOXQUANT_ROWS_KERNEL(RowsQ4_1, UnpackQ4_1, blocks::Q4_1, blocks::Q4_1::kM)
VELOXQUANT_ROWS_KERNEL(RowsQ5_1, UnpackQ5_1, blocks::Q5_1, blocks::Q5_1::kM)
VELOXQUANT_ROWS_KERNEL(RowsIQ4_NL, UnpackIQ4_NL, blocks::IQ4_NL, 0)
#undef VELOXQUANT_ROWS_KERNEL

#else
void RowsQ8_0(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q8_0(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ4_0(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q4_0(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ5_0(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q5_0(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ4_1(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q4_1(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ5_1(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q5_1(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsIQ4_NL(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
                std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::iq4_nl(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
#endif  // VELOXQUANT_WEIGHTS_SIMD
}  // namespace veloxquant::weights_simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant {
namespace weights_simd {
VELOXQUANT_EXPORT_ROWS(RowsQ8_0)
VELOXQUANT_EXPORT_ROWS(RowsQ4_0)
VELOXQUANT_EXPORT_ROWS(RowsQ5_0)
VELOXQUANT_EXPORT_ROWS(RowsQ4_1)
VELOXQUANT_EXPORT_ROWS(RowsQ5_1)
VELOXQUANT_EXPORT_ROWS(RowsIQ4_NL)
}  // namespace weights_simd

namespace dot_simd {
VELOXQUANT_DISPATCHED_ROWS(q8_0, RowsQ8_0)
VELOXQUANT_DISPATCHED_ROWS(q4_0, RowsQ4_0)
VELOXQUANT_DISPATCHED_ROWS(q5_0, RowsQ5_0)
VELOXQUANT_DISPATCHED_ROWS(q4_1, RowsQ4_1)
VELOXQUANT_DISPATCHED_ROWS(q5_1, RowsQ5_1)
VELOXQUANT_DISPATCHED_ROWS(iq4_nl, RowsIQ4_NL)
}  // namespace dot_simd
}  // namespace veloxquant
#endif
