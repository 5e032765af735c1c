// Dot-product kernels of the 32-element block types (q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl) with
// kQ8Blocks activations. Per block: the weight levels are unpacked into int8 lanes once and dotted
// with up to 4 tokens' int8 activations (vpmaddubsw/vpmaddwd on x86, int8_simd-inl.h); the int32
// block sum is turned into float and scaled by d_w·d_x. Signed levels (q8_0, q4_0, q5_0, iq4_nl)
// take the sign trick (|w| times x with w's sign); unsigned ones (q4_1, q5_1) add m_w·d_x·Σx.
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

template <class Unpack, std::size_t kBlockBytes, std::size_t kD, std::size_t kM, std::size_t NT>
HWY_INLINE void Blocks32Row(const std::uint8_t* HWY_RESTRICT row, const ActivationBatch& a, std::size_t t0,
                            float* HWY_RESTRICT out, std::size_t out_stride) {
  const DI8 di8;
  const DI16 d16;
  const DI32 d32;
  const DF df;
  const VI16 ones = hn::Set(d16, std::int16_t{1});
  const std::int8_t* x[NT];
  const float* dx[NT];
  const std::int16_t* sx[NT];
  VF acc[NT];
  float min_sum[NT];
  for (std::size_t t = 0; t < NT; ++t) {
    x[t] = a.q_of(t0 + t);
    dx[t] = a.d_of(t0 + t);
    sx[t] = a.sums_of(t0 + t);
    acc[t] = hn::Zero(df);
    min_sum[t] = 0.0f;
  }
  const std::size_t blocks = a.cols / 32;
  for (std::size_t b = 0; b < blocks; ++b, row += kBlockBytes) {
    VI32 isum[NT];
    for (std::size_t t = 0; t < NT; ++t) isum[t] = hn::Zero(d32);
    for (std::size_t v = 0; v < 32 / kBytes; ++v) {
      const VI8 w = Unpack::levels(row, v);
      for (std::size_t t = 0; t < NT; ++t) {
        const VI8 xv = hn::LoadU(di8, x[t] + 32 * b + kBytes * v);
        if constexpr (Unpack::kSigned)
          isum[t] = MulAddSigned(isum[t], w, xv, ones);
        else
          isum[t] = MulAddPairs(isum[t], hn::BitCast(DU8(), w), xv, ones);
      }
    }
    const float dw = HalfToFloat(load_u16(row + kD));
    for (std::size_t t = 0; t < NT; ++t) {
      acc[t] = hn::MulAdd(hn::Set(df, dw * dx[t][b]), hn::ConvertTo(df, isum[t]), acc[t]);
      if constexpr (Unpack::kMin)
        min_sum[t] += HalfToFloat(load_u16(row + kM)) * dx[t][b] * static_cast<float>(sx[t][b]);
    }
  }
  for (std::size_t t = 0; t < NT; ++t) out[t * out_stride] = SumLanes(acc[t]) + min_sum[t];
}

template <class Unpack, std::size_t kBlockBytes, std::size_t kD, std::size_t kM>
void Blocks32Rows(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1,
                  const ActivationBatch& a, std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  for (std::size_t r = r0; r < r1; ++r) {
    const std::uint8_t* row = w + r * row_bytes;
    for (std::size_t i = 0; i < nt; i += kMaxDotTokens) {
      float* out = y + i * y_stride + r;
      switch (std::min(kMaxDotTokens, nt - i)) {
        case 1:
          Blocks32Row<Unpack, kBlockBytes, kD, kM, 1>(row, a, t0 + i, out, y_stride);
          break;
        case 2:
          Blocks32Row<Unpack, kBlockBytes, kD, kM, 2>(row, a, t0 + i, out, y_stride);
          break;
        case 3:
          Blocks32Row<Unpack, kBlockBytes, kD, kM, 3>(row, a, t0 + i, out, y_stride);
          break;
        default:
          Blocks32Row<Unpack, kBlockBytes, kD, kM, 4>(row, a, t0 + i, out, y_stride);
          break;
      }
    }
  }
}

using UnpackQ4_0 = UnpackSymmetric<blocks::Q4_0, 8, false>;
using UnpackQ5_0 = UnpackSymmetric<blocks::Q5_0, 16, true>;
using UnpackQ4_1 = UnpackOffset<blocks::Q4_1, false>;
using UnpackQ5_1 = UnpackOffset<blocks::Q5_1, true>;

#define VELOXQUANT_ROWS_KERNEL(Name, Unpack, L, kM)                                                                 \
  void Name(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a, \
            std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {                                       \
    Blocks32Rows<Unpack, L::kBytes, L::kD, kM>(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);                       \
  }
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
HWY_EXPORT(RowsQ8_0);
HWY_EXPORT(RowsQ4_0);
HWY_EXPORT(RowsQ5_0);
HWY_EXPORT(RowsQ4_1);
HWY_EXPORT(RowsQ5_1);
HWY_EXPORT(RowsIQ4_NL);
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
