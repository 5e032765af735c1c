// Dot-product kernels of the 256-element super-block types (q2_K, q3_K, q4_K, q5_K, q6_K,
// iq4_xs) with kQ8K activations. Per super-block the levels of each 32 elements are unpacked once
// into int8 lanes and dotted with up to 4 tokens: vpmaddubsw pairs the level and activation
// bytes, vpmaddwd multiplies the pairs by the sub-block scales (int8_simd-inl.h). Offsets and mins
// use the activations' sums per 16 or 32 values: Σ_j scale_j·(Σ q·x − offset·Σx) for q3_K
// (offset 4) and q6_K (32), d_min·Σ_j min_j·Σx for q2_K, q4_K and q5_K.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "weights/dot_kquants_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "weights/int8_simd-inl.h"

#include <cstring>

#include "util/half.h"
#include "weights/block_layout.h"
#include "weights/dot.h"
#include "weights/dot_dispatch.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::weights_simd::HWY_NAMESPACE {
#if VELOXQUANT_WEIGHTS_SIMD

// The activations of NT tokens and their float accumulators.
template <std::size_t NT>
struct Tokens {
  const std::int8_t* x[NT];
  const float* d[NT];
  const std::int16_t* sums[NT];    // per 16
  const std::int16_t* sums32[NT];  // per 32
  VF acc[NT];                      // Σ d_w·d_x·(integer sum) per lane
  float extra[NT];                 // the parts kept as scalars (mins and offsets)

  Tokens(const ActivationBatch& a, std::size_t t0) {
    for (std::size_t t = 0; t < NT; ++t) {
      x[t] = a.q_of(t0 + t);
      d[t] = a.d_of(t0 + t);
      sums[t] = a.sums_of(t0 + t);
      sums32[t] = a.sums32_of(t0 + t);
      acc[t] = hn::Zero(DF());
      extra[t] = 0.0f;
    }
  }
  void store(float* out, std::size_t out_stride) const {
    for (std::size_t t = 0; t < NT; ++t) out[t * out_stride] = SumLanes(acc[t]) + extra[t];
  }
};

// The scales of the vector holding elements [e, e + kBytes) of a super-block with a scale per
// 16 elements (`scale16[16]`).
HWY_INLINE VI16 ScalesPer16(const int* scale16, std::size_t e) {
  return HalfScales(scale16[e / 16], scale16[(e + kBytes - 1) / 16]);
}

// q4_K / q5_K: eight six-bit scales and mins from the 12 packed bytes (blocks::k4_scale_min).
HWY_INLINE void K4ScalesMins(const std::uint8_t* s12, std::uint8_t* scale, std::uint8_t* min) {
  std::uint32_t w[3];
  std::memcpy(w, s12, 12);
  const std::uint32_t scales_lo = w[0] & 0x3F3F3F3Fu;
  const std::uint32_t scales_hi = (w[2] & 0x0F0F0F0Fu) | (((w[0] >> 6) & 0x03030303u) << 4);
  const std::uint32_t mins_lo = w[1] & 0x3F3F3F3Fu;
  const std::uint32_t mins_hi = ((w[2] >> 4) & 0x0F0F0F0Fu) | (((w[1] >> 6) & 0x03030303u) << 4);
  std::memcpy(scale, &scales_lo, 4);
  std::memcpy(scale + 4, &scales_hi, 4);
  std::memcpy(min, &mins_lo, 4);
  std::memcpy(min + 4, &mins_hi, 4);
}

template <bool kFive, std::size_t NT>
HWY_INLINE void K4Row(const std::uint8_t* HWY_RESTRICT row, const ActivationBatch& a, std::size_t t0,
                      float* HWY_RESTRICT out, std::size_t out_stride) {
  using L = blocks::Q5_K;  // q4_K has the same fields up to qs (at 16 instead of 48)
  constexpr std::size_t kBlock = kFive ? blocks::Q5_K::kBytes : blocks::Q4_K::kBytes;
  constexpr std::size_t kQs = kFive ? blocks::Q5_K::kQs : blocks::Q4_K::kQs;
  const DU8 du8;
  const DI8 di8;
  const DI16 d16;
  const DI32 d32;
  const DF df;
  Tokens<NT> tk(a, t0);
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += kBlock) {
    std::uint8_t scale[8], min[8];
    K4ScalesMins(row + L::kScales, scale, min);
    VI32 isum[NT];
    for (std::size_t t = 0; t < NT; ++t) isum[t] = hn::Zero(d32);
    for (std::size_t j = 0; j < 4; ++j) {
      const VI16 s_lo = hn::Set(d16, static_cast<std::int16_t>(scale[2 * j]));
      const VI16 s_hi = hn::Set(d16, static_cast<std::int16_t>(scale[2 * j + 1]));
      for (std::size_t v = 0; v < 32 / kBytes; ++v) {
        const VU8 q = hn::LoadU(du8, row + kQs + 32 * j + kBytes * v);
        VU8 lo = LowNibbles(q), hi = HighNibbles(q);
        if constexpr (kFive) {
          const VU8 h = hn::LoadU(du8, row + L::kQh + kBytes * v);
          const VU8 sixteen = hn::Set(du8, std::uint8_t{16});
          lo = hn::Or(
              lo, hn::IfThenElseZero(hn::TestBit(h, hn::Set(du8, static_cast<std::uint8_t>(1u << (2 * j)))), sixteen));
          hi = hn::Or(
              hi, hn::IfThenElseZero(hn::TestBit(h, hn::Set(du8, static_cast<std::uint8_t>(2u << (2 * j)))), sixteen));
        }
        for (std::size_t t = 0; t < NT; ++t) {
          const std::int8_t* x = tk.x[t] + 256 * b + 64 * j + kBytes * v;
          isum[t] = MulAddPairs(isum[t], lo, hn::LoadU(di8, x), s_lo);
          isum[t] = MulAddPairs(isum[t], hi, hn::LoadU(di8, x + 32), s_hi);
        }
      }
    }
    const float d = HalfToFloat(load_u16(row + L::kD)), dmin = HalfToFloat(load_u16(row + L::kDmin));
    for (std::size_t t = 0; t < NT; ++t) {
      const std::int16_t* s32 = tk.sums32[t] + 8 * b;
      int msum = 0;
      for (std::size_t j = 0; j < 8; ++j) msum += min[j] * s32[j];
      const float dx = tk.d[t][b];
      tk.acc[t] = hn::MulAdd(hn::Set(df, d * dx), hn::ConvertTo(df, isum[t]), tk.acc[t]);
      tk.extra[t] -= dmin * dx * static_cast<float>(msum);
    }
  }
  tk.store(out, out_stride);
}

template <std::size_t NT>
HWY_INLINE void Q6KRow(const std::uint8_t* HWY_RESTRICT row, const ActivationBatch& a, std::size_t t0,
                       float* HWY_RESTRICT out, std::size_t out_stride) {
  using L = blocks::Q6_K;
  const DU8 du8;
  const DI8 di8;
  const DI32 d32;
  const DF df;
  const VU8 three = hn::Set(du8, std::uint8_t{3});
  Tokens<NT> tk(a, t0);
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += L::kBytes) {
    int scale[16];
    for (std::size_t j = 0; j < 16; ++j) scale[j] = static_cast<std::int8_t>(row[L::kScales + j]);
    VI32 isum[NT];
    for (std::size_t t = 0; t < NT; ++t) isum[t] = hn::Zero(d32);
    for (std::size_t h = 0; h < 2; ++h)
      for (std::size_t v = 0; v < 32 / kBytes; ++v) {
        const VU8 qa = hn::LoadU(du8, row + L::kQl + 64 * h + kBytes * v);
        const VU8 qb = hn::LoadU(du8, row + L::kQl + 64 * h + 32 + kBytes * v);
        const VU8 qh = hn::LoadU(du8, row + L::kQh + 32 * h + kBytes * v);
        const VU8 level[4] = {
            hn::Or(LowNibbles(qa), hn::ShiftLeft<4>(hn::And(qh, three))),
            hn::Or(LowNibbles(qb), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<2>(qh), three))),
            hn::Or(HighNibbles(qa), hn::ShiftLeft<4>(hn::And(hn::ShiftRight<4>(qh), three))),
            hn::Or(HighNibbles(qb), hn::ShiftLeft<4>(hn::ShiftRight<6>(qh))),
        };
        for (std::size_t k = 0; k < 4; ++k) {
          const std::size_t e = 128 * h + 32 * k + kBytes * v;
          const VI16 s = ScalesPer16(scale, e);
          for (std::size_t t = 0; t < NT; ++t)
            isum[t] = MulAddPairs(isum[t], level[k], hn::LoadU(di8, tk.x[t] + 256 * b + e), s);
        }
      }
    const float d = HalfToFloat(load_u16(row + L::kD));
    for (std::size_t t = 0; t < NT; ++t) {
      const std::int16_t* s16 = tk.sums[t] + 16 * b;
      int offset = 0;
      for (std::size_t j = 0; j < 16; ++j) offset += scale[j] * s16[j];
      const float ddx = d * tk.d[t][b];
      tk.acc[t] = hn::MulAdd(hn::Set(df, ddx), hn::ConvertTo(df, isum[t]), tk.acc[t]);
      tk.extra[t] -= ddx * static_cast<float>(32 * offset);
    }
  }
  tk.store(out, out_stride);
}

// q2_K (kThree false) and q3_K: two-bit levels, four per byte; q3_K adds the hmask bit as +4 and
// subtracts 4 (folded into the offset term).
template <bool kThree, std::size_t NT>
HWY_INLINE void Q23KRow(const std::uint8_t* HWY_RESTRICT row, const ActivationBatch& a, std::size_t t0,
                        float* HWY_RESTRICT out, std::size_t out_stride) {
  constexpr std::size_t kBlock = kThree ? blocks::Q3_K::kBytes : blocks::Q2_K::kBytes;
  constexpr std::size_t kQs = kThree ? blocks::Q3_K::kQs : blocks::Q2_K::kQs;
  const DU8 du8;
  const DI8 di8;
  const DI32 d32;
  const DF df;
  const VU8 three = hn::Set(du8, std::uint8_t{3});
  Tokens<NT> tk(a, t0);
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += kBlock) {
    int scale[16], min[16] = {};
    for (std::size_t j = 0; j < 16; ++j) {
      if constexpr (kThree) {
        scale[j] = blocks::q3k_scale(j, row + blocks::Q3_K::kScales) - 32;
      } else {
        scale[j] = row[blocks::Q2_K::kScales + j] & 0xF;
        min[j] = row[blocks::Q2_K::kScales + j] >> 4;
      }
    }
    VI32 isum[NT];
    for (std::size_t t = 0; t < NT; ++t) isum[t] = hn::Zero(d32);
    for (std::size_t h = 0; h < 2; ++h)
      for (std::size_t v = 0; v < 32 / kBytes; ++v) {
        const VU8 q = hn::LoadU(du8, row + kQs + 32 * h + kBytes * v);
        [[maybe_unused]] VU8 hm = hn::Zero(du8);
        if constexpr (kThree) hm = hn::LoadU(du8, row + blocks::Q3_K::kHmask + kBytes * v);
        for (std::size_t k = 0; k < 4; ++k) {
          VU8 level = hn::And(hn::ShiftRightSame(q, static_cast<int>(2 * k)), three);
          if constexpr (kThree) {
            const VU8 bit = hn::Set(du8, static_cast<std::uint8_t>(1u << (4 * h + k)));
            level = hn::Or(level, hn::IfThenElseZero(hn::TestBit(hm, bit), hn::Set(du8, std::uint8_t{4})));
          }
          const std::size_t e = 128 * h + 32 * k + kBytes * v;
          const VI16 s = ScalesPer16(scale, e);
          for (std::size_t t = 0; t < NT; ++t)
            isum[t] = MulAddPairs(isum[t], level, hn::LoadU(di8, tk.x[t] + 256 * b + e), s);
        }
      }
    const float d = HalfToFloat(load_u16(row + (kThree ? blocks::Q3_K::kD : blocks::Q2_K::kD)));
    for (std::size_t t = 0; t < NT; ++t) {
      const std::int16_t* s16 = tk.sums[t] + 16 * b;
      const float dx = tk.d[t][b];
      tk.acc[t] = hn::MulAdd(hn::Set(df, d * dx), hn::ConvertTo(df, isum[t]), tk.acc[t]);
      int term = 0;
      if constexpr (kThree) {
        for (std::size_t j = 0; j < 16; ++j) term += scale[j] * s16[j];
        tk.extra[t] -= d * dx * static_cast<float>(4 * term);
      } else {
        for (std::size_t j = 0; j < 16; ++j) term += min[j] * s16[j];
        tk.extra[t] -= HalfToFloat(load_u16(row + blocks::Q2_K::kDmin)) * dx * static_cast<float>(term);
      }
    }
  }
  tk.store(out, out_stride);
}

template <std::size_t NT>
HWY_INLINE void IQ4XSRow(const std::uint8_t* HWY_RESTRICT row, const ActivationBatch& a, std::size_t t0,
                         float* HWY_RESTRICT out, std::size_t out_stride) {
  using L = blocks::IQ4_XS;
  const DI8 di8;
  const DI16 d16;
  const DI32 d32;
  const DF df;
  const VI8 table = Iq4nlTable();
  Tokens<NT> tk(a, t0);
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += L::kBytes) {
    const std::uint16_t scales_h = load_u16(row + L::kScalesH);
    VI32 isum[NT];
    for (std::size_t t = 0; t < NT; ++t) isum[t] = hn::Zero(d32);
    for (std::size_t j = 0; j < 8; ++j) {
      const VI16 s = hn::Set(d16, static_cast<std::int16_t>(blocks::iq4xs_scale(j, scales_h, row + L::kScalesL) - 32));
      for (std::size_t v = 0; v < 32 / kBytes; ++v) {
        const VI8 w = hn::TableLookupBytes(table, hn::BitCast(di8, NibbleLevels(row + L::kQs + 16 * j, v)));
        for (std::size_t t = 0; t < NT; ++t)
          isum[t] = MulAddSigned(isum[t], w, hn::LoadU(di8, tk.x[t] + 256 * b + 32 * j + kBytes * v), s);
      }
    }
    const float d = HalfToFloat(load_u16(row + L::kD));
    for (std::size_t t = 0; t < NT; ++t)
      tk.acc[t] = hn::MulAdd(hn::Set(df, d * tk.d[t][b]), hn::ConvertTo(df, isum[t]), tk.acc[t]);
  }
  tk.store(out, out_stride);
}

// Rows r0..r1 with nt tokens: the row kernel instantiated for 1..4 tokens.
#define VELOXQUANT_KQUANT_ROWS(Name, RowKernel)                                                                     \
  void Name(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a, \
            std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {                                       \
    for (std::size_t r = r0; r < r1; ++r)                                                                           \
      for (std::size_t i = 0; i < nt; i += kMaxDotTokens) {                                                         \
        const std::uint8_t* row = w + r * row_bytes;                                                                \
        float* out = y + i * y_stride + r;                                                                          \
        const std::size_t n = nt - i < kMaxDotTokens ? nt - i : kMaxDotTokens;                                      \
        if (n == 1)                                                                                                 \
          RowKernel<1>(row, a, t0 + i, out, y_stride);                                                              \
        else if (n == 2)                                                                                            \
          RowKernel<2>(row, a, t0 + i, out, y_stride);                                                              \
        else if (n == 3)                                                                                            \
          RowKernel<3>(row, a, t0 + i, out, y_stride);                                                              \
        else                                                                                                        \
          RowKernel<4>(row, a, t0 + i, out, y_stride);                                                              \
      }                                                                                                             \
  }

template <std::size_t NT>
HWY_INLINE void Q2KRow(const std::uint8_t* row, const ActivationBatch& a, std::size_t t0, float* out, std::size_t s) {
  Q23KRow<false, NT>(row, a, t0, out, s);
}
template <std::size_t NT>
HWY_INLINE void Q3KRow(const std::uint8_t* row, const ActivationBatch& a, std::size_t t0, float* out, std::size_t s) {
  Q23KRow<true, NT>(row, a, t0, out, s);
}
template <std::size_t NT>
HWY_INLINE void Q4KRow(const std::uint8_t* row, const ActivationBatch& a, std::size_t t0, float* out, std::size_t s) {
  K4Row<false, NT>(row, a, t0, out, s);
}
template <std::size_t NT>
HWY_INLINE void Q5KRow(const std::uint8_t* row, const ActivationBatch& a, std::size_t t0, float* out, std::size_t s) {
  K4Row<true, NT>(row, a, t0, out, s);
}

VELOXQUANT_KQUANT_ROWS(RowsQ2_K, Q2KRow)
VELOXQUANT_KQUANT_ROWS(RowsQ3_K, Q3KRow)
VELOXQUANT_KQUANT_ROWS(RowsQ4_K, Q4KRow)
VELOXQUANT_KQUANT_ROWS(RowsQ5_K, Q5KRow)
VELOXQUANT_KQUANT_ROWS(RowsQ6_K, Q6KRow)
VELOXQUANT_KQUANT_ROWS(RowsIQ4_XS, IQ4XSRow)
#undef VELOXQUANT_KQUANT_ROWS

#else
void RowsQ2_K(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q2_K(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ3_K(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q3_K(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ4_K(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q4_K(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ5_K(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q5_K(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsQ6_K(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
              std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::q6_K(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
void RowsIQ4_XS(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a,
                std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {
  dot_ref::iq4_xs(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);
}
#endif  // VELOXQUANT_WEIGHTS_SIMD
}  // namespace veloxquant::weights_simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant {
namespace weights_simd {
HWY_EXPORT(RowsQ2_K);
HWY_EXPORT(RowsQ3_K);
HWY_EXPORT(RowsQ4_K);
HWY_EXPORT(RowsQ5_K);
HWY_EXPORT(RowsQ6_K);
HWY_EXPORT(RowsIQ4_XS);
}  // namespace weights_simd

namespace dot_simd {
VELOXQUANT_DISPATCHED_ROWS(q2_K, RowsQ2_K)
VELOXQUANT_DISPATCHED_ROWS(q3_K, RowsQ3_K)
VELOXQUANT_DISPATCHED_ROWS(q4_K, RowsQ4_K)
VELOXQUANT_DISPATCHED_ROWS(q5_K, RowsQ5_K)
VELOXQUANT_DISPATCHED_ROWS(q6_K, RowsQ6_K)
VELOXQUANT_DISPATCHED_ROWS(iq4_xs, RowsIQ4_XS)
}  // namespace dot_simd
}  // namespace veloxquant
#endif
