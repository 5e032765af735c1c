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

// The activations of NT tokens and their accumulators.
template <std::size_t NT>
struct Tokens {
  const std::int8_t* x[NT];
  const float* d[NT];
  const std::int16_t* sums[NT];    // per 16
  const std::int16_t* sums32[NT];  // per 32
  VF acc[NT];                      // Σ d_x·(d·isum − d_min·msum), per lane

  Tokens(const ActivationBatch& a, std::size_t t0) {
    for (std::size_t t = 0; t < NT; ++t) {
      x[t] = a.q_of(t0 + t);
      d[t] = a.d_of(t0 + t);
      sums[t] = a.sums_of(t0 + t);
      sums32[t] = a.sums32_of(t0 + t);
      acc[t] = hn::Zero(DF());
    }
  }
  void store(float* out, std::size_t out_stride) const {
    for (std::size_t t = 0; t < NT; ++t) out[t * out_stride] = SumLanes(acc[t]);
  }
  // acc += d_x·d·isum for super-block b (d broadcast)
  HWY_INLINE void add(std::size_t t, std::size_t b, VF d_w, VI32 isum) {
    acc[t] = hn::MulAdd(hn::Set(DF(), d[t][b]), hn::Mul(d_w, hn::ConvertTo(DF(), isum)), acc[t]);
  }
  // acc += d_x·(d·isum − d_min·msum): msum's four lanes hold Σ_j min_j·Σx_j
  HWY_INLINE void add(std::size_t t, std::size_t b, VF d_w, VI32 isum, VF dmin_w, hn::Vec<D32x4> msum) {
#if VELOXQUANT_WEIGHTS_X86_256
    const VF m = hn::ZeroExtendVector(DF(), hn::ConvertTo(DF4(), msum));
#else
    const VF m = hn::ConvertTo(DF(), msum);
#endif
    const VF v = hn::NegMulAdd(dmin_w, m, hn::Mul(d_w, hn::ConvertTo(DF(), isum)));
    acc[t] = hn::MulAdd(hn::Set(DF(), d[t][b]), v, acc[t]);
  }
};

// Σ_j scale_j · sums_j over 16 groups into the int32 lanes of a vector (the offsets of q3_K, q6_K).
HWY_INLINE VI32 ScaledSums16(V16x8 scales_lo, V16x8 scales_hi, const std::int16_t* sums) {
  const D16x8 d8;
  const auto lo = Dot8(scales_lo, hn::LoadU(d8, sums)), hi = Dot8(scales_hi, hn::LoadU(d8, sums + 8));
  const hn::Vec<D32x4> both = hn::Add(lo, hi);
#if VELOXQUANT_WEIGHTS_X86_256
  return hn::ZeroExtendVector(DI32(), both);
#else
  return both;
#endif
}

// --- the super-block types with unsigned levels ---------------------------------------------------
//
// A Block decodes one super-block: its fp16 scale `d`; offset(tk, t, b) starts token t's integer
// sum with the part that comes from the activations' sums (and adds the mins to tk); chunks(f)
// calls f(e, levels, scales) for the vectors of elements [e, e + kBytes) of the super-block.

// q4_K / q5_K: the eight six-bit scales and mins of the 12 packed bytes (blocks::k4_scale_min) as
// bytes: scales 0..7 in out[0..7], mins in out[8..15].
HWY_INLINE void K4ScalesMins(const std::uint8_t* s12, std::uint8_t* out) {
  std::uint32_t w[3];
  std::memcpy(w, s12, 12);
  const std::uint32_t v[4] = {w[0] & 0x3F3F3F3Fu, (w[2] & 0x0F0F0F0Fu) | (((w[0] >> 6) & 0x03030303u) << 4),
                              w[1] & 0x3F3F3F3Fu, ((w[2] >> 4) & 0x0F0F0F0Fu) | (((w[1] >> 6) & 0x03030303u) << 4)};
  std::memcpy(out, v, 16);
}

template <bool kFive>
struct K4Block {           // q4_K, q5_K
  using L = blocks::Q5_K;  // q4_K has the same fields up to qs (at 16 instead of 48)
  static constexpr std::size_t kBytesPerBlock = kFive ? blocks::Q5_K::kBytes : blocks::Q4_K::kBytes;
  static constexpr std::size_t kQs = kFive ? blocks::Q5_K::kQs : blocks::Q4_K::kQs;
  const std::uint8_t* row;
  float d, dmin;
  VI16 scales;
  V16x8 mins;

  explicit K4Block(const std::uint8_t* r) : row(r) {
    alignas(16) std::uint8_t sm[16];
    K4ScalesMins(row + L::kScales, sm);
    scales = InEveryHalf(Widen8(sm));
    mins = Widen8(sm + 8);
    d = HalfToFloat(load_u16(row + L::kD));
    dmin = HalfToFloat(load_u16(row + L::kDmin));
  }
  static constexpr bool kMins = true;
  template <std::size_t NT>
  HWY_INLINE VI32 offset(const Tokens<NT>&, std::size_t, std::size_t) const {
    return hn::Zero(DI32());
  }
  template <std::size_t NT>
  HWY_INLINE hn::Vec<D32x4> min_sums(const Tokens<NT>& tk, std::size_t t, std::size_t b) const {
    return Dot8(mins, hn::LoadU(D16x8(), tk.sums32[t] + 8 * b));
  }
  template <class F>
  HWY_INLINE void chunks(const F& f) const {
    const DU8 du8;
    for (std::size_t j = 0; j < 4; ++j) {
      const VI16 s_lo = ScaleOf(scales, 64 * j, 32), s_hi = ScaleOf(scales, 64 * j + 32, 32);
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
        f(64 * j + kBytes * v, lo, s_lo);
        f(64 * j + 32 + kBytes * v, hi, s_hi);
      }
    }
  }
};

struct Q6KBlock {
  using L = blocks::Q6_K;
  static constexpr std::size_t kBytesPerBlock = L::kBytes;
  const std::uint8_t* row;
  float d, dmin = 0.0f;
  V16x8 sc_lo, sc_hi;
  VI16 eight[2];

  explicit Q6KBlock(const std::uint8_t* r) : row(r) {
    const auto* sc = reinterpret_cast<const std::int8_t*>(row + L::kScales);
    sc_lo = Widen8(sc);
    sc_hi = Widen8(sc + 8);
    eight[0] = InEveryHalf(sc_lo);
    eight[1] = InEveryHalf(sc_hi);
    d = HalfToFloat(load_u16(row + L::kD));
  }
  static constexpr bool kMins = false;
  // The −32 of every level: −32·Σ_j scale_j·Σx_j.
  template <std::size_t NT>
  HWY_INLINE VI32 offset(const Tokens<NT>& tk, std::size_t t, std::size_t b) const {
    return hn::Neg(hn::ShiftLeft<5>(ScaledSums16(sc_lo, sc_hi, tk.sums[t] + 16 * b)));
  }
  template <class F>
  HWY_INLINE void chunks(const F& f) const {
    const DU8 du8;
    const VU8 three = hn::Set(du8, std::uint8_t{3});
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
          f(e, level[k], ScaleOf(eight[h], e, 16));
        }
      }
  }
};

// q3_K's sixteen six-bit scales (blocks::q3k_scale) minus 32, as int8.
HWY_INLINE void Q3KScales(const std::uint8_t* s12, std::int8_t* out) {
  std::uint32_t w[3];
  std::memcpy(w, s12, 12);
  const std::uint32_t v[4] = {(w[0] & 0x0F0F0F0Fu) | (((w[2] >> 0) & 0x03030303u) << 4),
                              (w[1] & 0x0F0F0F0Fu) | (((w[2] >> 2) & 0x03030303u) << 4),
                              ((w[0] >> 4) & 0x0F0F0F0Fu) | (((w[2] >> 4) & 0x03030303u) << 4),
                              ((w[1] >> 4) & 0x0F0F0F0Fu) | (((w[2] >> 6) & 0x03030303u) << 4)};
  std::memcpy(out, v, 16);
  for (std::size_t j = 0; j < 16; ++j) out[j] = static_cast<std::int8_t>(out[j] - 32);
}

// q2_K (kThree false) and q3_K: two-bit levels, four per byte; q3_K adds the hmask bit as +4 and
// subtracts 4 (−4·Σ_j scale_j·Σx_j in the integer sum); q2_K has a four-bit min per 16.
template <bool kThree>
struct Q23KBlock {
  static constexpr std::size_t kBytesPerBlock = kThree ? blocks::Q3_K::kBytes : blocks::Q2_K::kBytes;
  static constexpr std::size_t kQs = kThree ? blocks::Q3_K::kQs : blocks::Q2_K::kQs;
  const std::uint8_t* row;
  float d, dmin = 0.0f;
  V16x8 sc_lo, sc_hi, m_lo, m_hi;
  VI16 eight[2];

  explicit Q23KBlock(const std::uint8_t* r) : row(r) {
    alignas(16) std::int8_t scale8[16];
    alignas(16) std::uint8_t min8[16] = {};
    if constexpr (kThree) {
      Q3KScales(row + blocks::Q3_K::kScales, scale8);
      d = HalfToFloat(load_u16(row + blocks::Q3_K::kD));
    } else {
      for (std::size_t j = 0; j < 16; ++j) {
        scale8[j] = static_cast<std::int8_t>(row[blocks::Q2_K::kScales + j] & 0xF);
        min8[j] = static_cast<std::uint8_t>(row[blocks::Q2_K::kScales + j] >> 4);
      }
      d = HalfToFloat(load_u16(row + blocks::Q2_K::kD));
      dmin = HalfToFloat(load_u16(row + blocks::Q2_K::kDmin));
    }
    sc_lo = Widen8(scale8);
    sc_hi = Widen8(scale8 + 8);
    m_lo = Widen8(min8);
    m_hi = Widen8(min8 + 8);
    eight[0] = InEveryHalf(sc_lo);
    eight[1] = InEveryHalf(sc_hi);
  }
  static constexpr bool kMins = !kThree;
  template <std::size_t NT>
  HWY_INLINE VI32 offset(const Tokens<NT>& tk, std::size_t t, std::size_t b) const {
    if constexpr (kThree) return hn::Neg(hn::ShiftLeft<2>(ScaledSums16(sc_lo, sc_hi, tk.sums[t] + 16 * b)));
    return hn::Zero(DI32());
  }
  template <std::size_t NT>
  HWY_INLINE hn::Vec<D32x4> min_sums(const Tokens<NT>& tk, std::size_t t, std::size_t b) const {
    const D16x8 d8;
    const std::int16_t* s16 = tk.sums[t] + 16 * b;
    return hn::Add(Dot8(m_lo, hn::LoadU(d8, s16)), Dot8(m_hi, hn::LoadU(d8, s16 + 8)));
  }
  template <class F>
  HWY_INLINE void chunks(const F& f) const {
    const DU8 du8;
    const VU8 three = hn::Set(du8, std::uint8_t{3});
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
          f(e, level, ScaleOf(eight[h], e, 16));
        }
      }
  }
};

// One row of a super-block type with NT tokens. One token: the levels go straight into the
// products. More: a super-block's levels and scales are unpacked once into a 768-byte buffer (L1)
// and each token's products read them back, so that every token's sum is a single short chain
// (keeping all tokens' sums in registers at once made the compiler spill them).
template <class Block, std::size_t NT>
HWY_INLINE void SuperBlockRow(const std::uint8_t* HWY_RESTRICT row, const ActivationBatch& a, std::size_t t0,
                              float* HWY_RESTRICT out, std::size_t out_stride) {
  const DU8 du8;
  const DI8 di8;
  const DI16 d16;
  Tokens<NT> tk(a, t0);
  for (std::size_t b = 0; b < a.cols / 256; ++b, row += Block::kBytesPerBlock) {
    const Block blk(row);
    const VF d_w = hn::Set(DF(), blk.d);
    [[maybe_unused]] const VF dmin_w = hn::Set(DF(), blk.dmin);
    const auto finish = [&](std::size_t t, VI32 isum) {
      if constexpr (Block::kMins)
        tk.add(t, b, d_w, isum, dmin_w, blk.min_sums(tk, t, b));
      else
        tk.add(t, b, d_w, isum);
    };
    if constexpr (NT == 1) {
      VI32 isum = blk.offset(tk, 0, b);
      const std::int8_t* x = tk.x[0] + 256 * b;
      blk.chunks(
          [&](std::size_t e, VU8 level, VI16 scale) { isum = MulAddPairs(isum, level, hn::LoadU(di8, x + e), scale); });
      finish(0, isum);
    } else {
      alignas(32) std::uint8_t levels[256];
      alignas(32) std::int16_t scales[256];  // kBytes/2 per vector of levels
      blk.chunks([&](std::size_t e, VU8 level, VI16 scale) {
        hn::Store(level, du8, levels + e);
        hn::Store(scale, d16, scales + e);
      });
      for (std::size_t t = 0; t < NT; ++t) {
        VI32 isum = blk.offset(tk, t, b);
        const std::int8_t* x = tk.x[t] + 256 * b;
        for (std::size_t e = 0; e < 256; e += kBytes)
          isum = MulAddPairs(isum, hn::Load(du8, levels + e), hn::LoadU(di8, x + e), hn::Load(d16, scales + e));
        finish(t, isum);
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
    const VF d = hn::Set(DF(), HalfToFloat(load_u16(row + L::kD)));
    for (std::size_t t = 0; t < NT; ++t) tk.add(t, b, d, isum[t]);
  }
  tk.store(out, out_stride);
}

template <class Block>
struct SuperBlockKernel {
  // 4 tokens a group: with 8 the compiler spills the tokens' pointers and sums (callgrind: 66
  // instructions per 256 weights and token with 4, 70 with 8, 83 with 4 and the token loop kept)
  static constexpr std::size_t kTokens = 4;
  template <std::size_t NT>
  static HWY_INLINE void Row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t0, float* out,
                             std::size_t out_stride) {
    SuperBlockRow<Block, NT>(row, a, t0, out, out_stride);
  }
};
struct IQ4XSKernel {
  static constexpr std::size_t kTokens = 4;  // all tokens' sums in registers
  template <std::size_t NT>
  static HWY_INLINE void Row(const std::uint8_t* row, const ActivationBatch& a, std::size_t t0, float* out,
                             std::size_t out_stride) {
    IQ4XSRow<NT>(row, a, t0, out, out_stride);
  }
};

#define VELOXQUANT_KQUANT_ROWS(Name, Kernel)                                                                        \
  void Name(const std::uint8_t* w, std::size_t row_bytes, std::size_t r0, std::size_t r1, const ActivationBatch& a, \
            std::size_t t0, std::size_t nt, float* y, std::size_t y_stride) {                                       \
    ForRowsAndTokens<Kernel>(w, row_bytes, r0, r1, a, t0, nt, y, y_stride);                                         \
  }
VELOXQUANT_KQUANT_ROWS(RowsQ2_K, SuperBlockKernel<Q23KBlock<false>>)
VELOXQUANT_KQUANT_ROWS(RowsQ3_K, SuperBlockKernel<Q23KBlock<true>>)
VELOXQUANT_KQUANT_ROWS(RowsQ4_K, SuperBlockKernel<K4Block<false>>)
VELOXQUANT_KQUANT_ROWS(RowsQ5_K, SuperBlockKernel<K4Block<true>>)
VELOXQUANT_KQUANT_ROWS(RowsQ6_K, SuperBlockKernel<Q6KBlock>)
VELOXQUANT_KQUANT_ROWS(RowsIQ4_XS, IQ4XSKernel)
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
VELOXQUANT_EXPORT_ROWS(RowsQ2_K)
VELOXQUANT_EXPORT_ROWS(RowsQ3_K)
VELOXQUANT_EXPORT_ROWS(RowsQ4_K)
VELOXQUANT_EXPORT_ROWS(RowsQ5_K)
VELOXQUANT_EXPORT_ROWS(RowsQ6_K)
VELOXQUANT_EXPORT_ROWS(RowsIQ4_XS)
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
