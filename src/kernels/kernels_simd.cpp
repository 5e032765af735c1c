// SIMD kernels (Google Highway, compiled once per target and dispatched at run time): scores and
// sums of plane codes, f32 and f16 rows, softmax rows, the vector helpers of the integer paths,
// quantization to planes and dense matrix rows (fp16 conversion and the Hadamard rotation are in
// transforms_simd.cpp). Scalar definitions of each are in reference.cpp; tails and narrow targets
// fall back to them.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/canonical_sums-inl.h"

#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "kernels/canonical.h"
#include "kernels/code_kernels.h"
#include "kernels/kernels.h"
#include "pack/bitplane.h"
#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DI = hn::RebindToSigned<DF>;

// Turns the bit planes of coordinates [j, j+kLanes) into centroid values.
struct PlaneDecoder {
  const PlaneCodes& codes;
  std::size_t plane_bytes;
  bool in_register;  // the codebook fits in one vector: permute instead of gather
  VF table;

  explicit PlaneDecoder(const PlaneCodes& c)
      : codes(c), plane_bytes((c.dim + 7) / 8), in_register((std::size_t{1} << c.bits) <= kLanes) {
    HWY_ALIGN float padded[kLanes] = {};
    if (in_register && c.centroids) std::memcpy(padded, c.centroids, sizeof(float) << c.bits);
    table = hn::Load(DF(), padded);
  }

  // The codes of coordinates [j, j+kLanes) as integer lanes.
  HWY_INLINE hn::Vec<DI> indices(const std::uint8_t* planes, std::size_t j) const {
    const DF df;
    const DI di;
    auto idx = hn::Zero(di);
    for (int p = 0; p < codes.bits; ++p) {
      const auto m = hn::LoadMaskBits(df, planes + p * plane_bytes + j / 8);
      idx = hn::Or(idx, hn::IfThenElseZero(hn::RebindMask(di, m), hn::Set(di, 1 << p)));
    }
    return idx;
  }

  HWY_INLINE VF decode(const std::uint8_t* planes, std::size_t j) const {
    const auto idx = indices(planes, j);
    if (in_register) return hn::TableLookupLanes(table, hn::IndicesFromVec(DF(), idx));
    return hn::GatherIndex(DF(), codes.centroids, idx);
  }

  float record_scale(std::size_t t) const { return kernels::record_scale(codes, t); }

  unsigned code(const std::uint8_t* planes, std::size_t j) const {
    unsigned c = 0;
    for (int p = 0; p < codes.bits; ++p) c |= ((planes[p * plane_bytes + j / 8] >> (j % 8)) & 1u) << p;
    return c;
  }
  float scalar(const std::uint8_t* planes, std::size_t j) const { return codes.centroids[code(planes, j)]; }
};

// Rows of floats or halves: the same interface as PlaneDecoder, `planes` being the row.
template <typename T>
struct RowDecoder {
  float record_scale(std::size_t) const { return 1.0f; }
  HWY_INLINE VF decode(const T* row, std::size_t j) const {
    if constexpr (std::is_same_v<T, float>) {
      return hn::LoadU(DF(), row + j);
    } else {
      const hn::Rebind<hwy::float16_t, DF> dh;
      return hn::PromoteTo(DF(), hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(row + j)));
    }
  }
  float scalar(const T* row, std::size_t j) const {
    if constexpr (std::is_same_v<T, float>) {
      return row[j];
    } else {
      return half_to_float(row[j]);
    }
  }
};

// G query rows (qk, their zero-padded tails in q_tail) against records [0, n); out[k·n + t].
template <std::size_t G, class Decoder, class RowAt>
HWY_INLINE void score_rows_group(const Decoder& dec, RowAt row_at, std::size_t dim, std::size_t n,
                                 const float* const (&qk)[4], const float (&q_tail)[4][kSumLanes], float* out) {
  const DF df;
  const std::size_t full = dim / kSumLanes * kSumLanes, rest = dim - full;
  HWY_ALIGN float x_tail[kSumLanes];
  for (std::size_t t = 0; t < n; ++t) {
    const auto* row = row_at(t);
    VF a[4][kNV];
    for (std::size_t k = 0; k < G; ++k)
      for (VF& v : a[k]) v = hn::Zero(df);
    for (std::size_t j = 0; j < full; j += kSumLanes)
      for (std::size_t v = 0; v < kNV; ++v) {
        const VF c = dec.decode(row, j + v * kLanes);
        for (std::size_t k = 0; k < G; ++k) a[k][v] = hn::MulAdd(c, hn::LoadU(df, qk[k] + j + v * kLanes), a[k][v]);
      }
    if (rest > 0) {
      for (std::size_t l = 0; l < kSumLanes; ++l) x_tail[l] = l < rest ? dec.scalar(row, full + l) : 0.0f;
      for (std::size_t v = 0; v < kNV; ++v) {
        const VF c = hn::Load(df, x_tail + v * kLanes);
        for (std::size_t k = 0; k < G; ++k) a[k][v] = hn::MulAdd(c, hn::Load(df, q_tail[k] + v * kLanes), a[k][v]);
      }
    }
    const float scale = dec.record_scale(t);
    float sums[4];
    if constexpr (G == 4) {
      Sum16x4(a, sums);
    } else {
      for (std::size_t k = 0; k < G; ++k) sums[k] = Sum16(a[k]);
    }
    for (std::size_t k = 0; k < G; ++k) out[k * n + t] = sums[k] * scale;
  }
}

// Scores up to four queries per pass over the records, so the GQA group shares the decoding.
// Canonical dot products (canonical.h): 16 lanes of fused multiply-adds, the last partial chunk
// zero-padded, the lanes added as the fixed tree, then the record's scale.
template <class Decoder, class RowAt>
void score_rows(const Decoder& dec, RowAt row_at, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
                std::size_t q_stride, float* out) {
  const std::size_t full = dim / kSumLanes * kSumLanes, rest = dim - full;
  HWY_ALIGN float q_tail[4][kSumLanes];
  for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
    const std::size_t g = n_q - i0 < 4 ? n_q - i0 : 4;
    const float* qk[4];
    for (std::size_t k = 0; k < 4; ++k) {
      qk[k] = q + (i0 + (k < g ? k : 0)) * q_stride;
      for (std::size_t l = 0; l < kSumLanes && rest > 0; ++l) q_tail[k][l] = l < rest ? qk[k][full + l] : 0.0f;
    }
    float* o = out + i0 * n;
    switch (g) {  // only the rows there are: a single query (a matrix row, a norm) costs one chain
      case 1:
        score_rows_group<1>(dec, row_at, dim, n, qk, q_tail, o);
        break;
      case 2:
        score_rows_group<2>(dec, row_at, dim, n, qk, q_tail, o);
        break;
      case 3:
        score_rows_group<3>(dec, row_at, dim, n, qk, q_tail, o);
        break;
      default:
        score_rows_group<4>(dec, row_at, dim, n, qk, q_tail, o);
        break;
    }
  }
}

// acc_i += Σ_t w_it · x_t, with each accumulator chunk held in registers across a block of
// records (blocks keep the records in L1 while the chunks of d are swept). Canonical:
// acc_j = fma(x_j, w·scale, acc_j) record after record.
template <class Decoder, class RowAt>
void accumulate_rows(const Decoder& dec, RowAt row_at, std::size_t dim, std::size_t n, std::size_t n_q, const float* w,
                     float* acc, std::size_t acc_stride) {
  constexpr std::size_t kRecordBlock = 32;
  const DF df;
  const std::size_t full = dim / kLanes * kLanes;
  for (std::size_t t0 = 0; t0 < n; t0 += kRecordBlock) {
    const std::size_t t1 = t0 + kRecordBlock < n ? t0 + kRecordBlock : n;
    for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
      const std::size_t g = n_q - i0 < 4 ? n_q - i0 : 4;
      const float* w0 = w + i0 * n;
      for (std::size_t j = 0; j < full; j += kLanes) {
        float* r0 = acc + i0 * acc_stride + j;
        VF a0 = hn::LoadU(df, r0);
        VF a1 = g > 1 ? hn::LoadU(df, r0 + acc_stride) : hn::Zero(df);
        VF a2 = g > 2 ? hn::LoadU(df, r0 + 2 * acc_stride) : hn::Zero(df);
        VF a3 = g > 3 ? hn::LoadU(df, r0 + 3 * acc_stride) : hn::Zero(df);
        for (std::size_t t = t0; t < t1; ++t) {
          const VF c = dec.decode(row_at(t), j);
          const float scale = dec.record_scale(t);
          a0 = hn::MulAdd(c, hn::Set(df, w0[t] * scale), a0);
          if (g > 1) a1 = hn::MulAdd(c, hn::Set(df, w0[n + t] * scale), a1);
          if (g > 2) a2 = hn::MulAdd(c, hn::Set(df, w0[2 * n + t] * scale), a2);
          if (g > 3) a3 = hn::MulAdd(c, hn::Set(df, w0[3 * n + t] * scale), a3);
        }
        hn::StoreU(a0, df, r0);
        if (g > 1) hn::StoreU(a1, df, r0 + acc_stride);
        if (g > 2) hn::StoreU(a2, df, r0 + 2 * acc_stride);
        if (g > 3) hn::StoreU(a3, df, r0 + 3 * acc_stride);
      }
      for (std::size_t t = t0; t < t1; ++t)
        for (std::size_t j = full; j < dim; ++j) {
          const float c = dec.scalar(row_at(t), j), scale = dec.record_scale(t);
          for (std::size_t k = 0; k < g; ++k) {
            float& a = acc[(i0 + k) * acc_stride + j];
            a = std::fma(c, w0[k * n + t] * scale, a);
          }
        }
    }
  }
}

void ScorePlanes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* q, std::size_t q_stride,
                 float* out) {
  if constexpr (!kWide) return ref::score_planes(codes, n, n_q, q, q_stride, out);
  const PlaneDecoder dec(codes);
  auto row_at = [&](std::size_t t) { return codes.records + t * codes.stride + codes.offset; };
  score_rows(dec, row_at, codes.dim, n, n_q, q, q_stride, out);
}

// Integer lanes of table[code] for coordinates [j, j+kLanes): a permute when the table fits a vector.
struct IntTable {
  HWY_ALIGN std::int32_t wide[kLanes > 32 ? kLanes : 32] = {};  // up to 5 bits
  hn::Vec<DI> vec;

  template <typename T>
  IntTable(const T* table, int bits) {
    // T is std::int8_t or std::uint8_t: numbers whose sign is meant to carry over.
    for (int k = 0; k < (1 << bits); ++k) wide[k] = table[k];  // NOLINT(bugprone-signed-char-misuse)
    vec = hn::Load(DI(), wide);
  }
  HWY_INLINE hn::Vec<DI> lookup(const PlaneDecoder& dec, const std::uint8_t* planes, std::size_t j) const {
    const auto idx = dec.indices(planes, j);
    return dec.in_register ? hn::TableLookupLanes(vec, hn::IndicesFromVec(DI(), idx))
                           : hn::GatherIndex(DI(), wide, idx);
  }
};

void ScorePlanesU8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                   const std::int8_t* q8, std::int32_t* out) {
  if constexpr (!kWide) return ref::score_planes_u8(codes, table, n, n_q, q8, out);
  const DI di;
  const hn::Rebind<std::int8_t, DI> d8;
  const PlaneDecoder dec(codes);
  const IntTable lut(table, codes.bits);
  const std::size_t dim = codes.dim, full = dim / kLanes * kLanes;
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint8_t* planes = codes.records + t * codes.stride + codes.offset;
    for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
      const std::size_t g = n_q - i0 < 4 ? n_q - i0 : 4;
      hn::Vec<DI> a[4] = {hn::Zero(di), hn::Zero(di), hn::Zero(di), hn::Zero(di)};
      for (std::size_t j = 0; j < full; j += kLanes) {
        const auto c = lut.lookup(dec, planes, j);
        for (std::size_t k = 0; k < g; ++k)
          a[k] = hn::Add(a[k], hn::Mul(c, hn::PromoteTo(di, hn::LoadU(d8, q8 + (i0 + k) * dim + j))));
      }
      for (std::size_t k = 0; k < g; ++k) {
        std::int32_t sum = hn::GetLane(hn::SumOfLanes(di, a[k]));
        for (std::size_t j = full; j < dim; ++j) sum += table[dec.code(planes, j)] * q8[(i0 + k) * dim + j];
        out[(i0 + k) * n + t] = sum;
      }
    }
  }
}

void AccumulatePlanes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                      std::size_t acc_stride) {
  if constexpr (!kWide) return ref::accumulate_planes(codes, n, n_q, w, acc, acc_stride);
  const PlaneDecoder dec(codes);
  auto row_at = [&](std::size_t t) { return codes.records + t * codes.stride + codes.offset; };
  accumulate_rows(dec, row_at, codes.dim, n, n_q, w, acc, acc_stride);
}

// The target whose code Highway's dispatch runs now (code_dispatch.cpp follows it). Cheap: unlike
// hwy::SupportedTargets(), which runs CPUID on every call in Highway 1.0.3.
std::int64_t DispatchedTarget() { return HWY_TARGET; }

// The integer accumulation (kernels.h) on any target.
void AccumulatePlanesI16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                         const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  if constexpr (!kWide) return ref::accumulate_planes_i16(codes, table, n, n_q, w16, acc, acc_stride);
  const DI di;
  const PlaneDecoder dec(codes);
  const IntTable lut(table, codes.bits);
  const std::size_t dim = codes.dim, full = dim / kLanes * kLanes, n2 = (n + 1) / 2 * 2;
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint8_t* planes = codes.records + t * codes.stride + codes.offset;
    for (std::size_t j = 0; j < full; j += kLanes) {
      const auto c = lut.lookup(dec, planes, j);
      for (std::size_t i = 0; i < n_q; ++i) {
        std::int32_t* a = acc + i * acc_stride + j;
        hn::StoreU(hn::Add(hn::LoadU(di, a), hn::Mul(c, hn::Set(di, w16[i * n2 + t]))), di, a);
      }
    }
    for (std::size_t j = full; j < dim; ++j) {
      const std::int32_t c = table[dec.code(planes, j)];
      for (std::size_t i = 0; i < n_q; ++i) acc[i * acc_stride + j] += w16[i * n2 + t] * c;
    }
  }
}

float RowMax(const float* s, std::size_t n) {
  const DF df;
  VF m = hn::Set(df, -std::numeric_limits<float>::infinity());
  std::size_t t = 0;
  for (; t + kLanes <= n; t += kLanes) m = hn::Max(m, hn::LoadU(df, s + t));
  float best = hn::GetLane(hn::MaxOfLanes(df, m));
  for (; t < n; ++t) best = s[t] > best ? s[t] : best;  // max is exact: a scalar tail is fine
  return best;
}

// exp_nonpositive of canonical.h, lane by lane with the same operations.
HWY_INLINE VF ExpNonpositive(VF x) {
  const DF df;
  const DI di;
  const auto valid = hn::Ge(x, hn::Set(df, kExpFloor));  // false for NaN
  const VF k = hn::Round(hn::Mul(x, hn::Set(df, kLog2e)));
  VF r = hn::MulAdd(k, hn::Set(df, -kLn2Hi), x);
  r = hn::MulAdd(k, hn::Set(df, -kLn2Lo), r);
  VF p = hn::Set(df, kExpPoly[0]);
  for (std::size_t i = 1; i < std::size(kExpPoly); ++i) p = hn::MulAdd(p, r, hn::Set(df, kExpPoly[i]));
  const VF two_k = hn::BitCast(df, hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, k), hn::Set(di, 127))));
  return hn::IfThenElseZero(valid, hn::Mul(p, two_k));
}

// Chunks of 16 scores (the canonical sum lanes); the tail is padded with −∞, whose exp is 0.
float ExpRow(float* s, std::size_t n, float scale, float shift) {
  if constexpr (!kWide) return ref::exp_row(s, n, scale, shift);
  const DF df;
  const VF vscale = hn::Set(df, scale), vshift = hn::Set(df, shift);
  VF sum[kNV];
  for (VF& v : sum) v = hn::Zero(df);
  HWY_ALIGN float pad[kSumLanes];
  std::size_t t0 = 0;
  if constexpr (kNV == 1) {
    // Four chunks per step: each exp is a chain of dependent multiply-adds, and four independent
    // chains keep the FMA units busy. Adding them to the lane sums in chunk order keeps the
    // canonical sums.
    for (; t0 + 4 * kSumLanes <= n; t0 += 4 * kSumLanes) {
      VF e[4];
      for (std::size_t c = 0; c < 4; ++c)
        e[c] = ExpNonpositive(hn::Sub(hn::Mul(hn::LoadU(df, s + t0 + c * kLanes), vscale), vshift));
      for (std::size_t c = 0; c < 4; ++c) {
        hn::StoreU(e[c], df, s + t0 + c * kLanes);
        sum[0] = hn::Add(sum[0], e[c]);
      }
    }
  }
  for (std::size_t t = t0; t < n; t += kSumLanes) {
    const bool whole = t + kSumLanes <= n;
    float* chunk = whole ? s + t : pad;
    if (!whole)
      for (std::size_t l = 0; l < kSumLanes; ++l)
        pad[l] = t + l < n ? s[t + l] : -std::numeric_limits<float>::infinity();
    for (std::size_t v = 0; v < kNV; ++v) {
      const VF e = ExpNonpositive(hn::Sub(hn::Mul(hn::LoadU(df, chunk + v * kLanes), vscale), vshift));
      hn::StoreU(e, df, chunk + v * kLanes);
      sum[v] = hn::Add(sum[v], e);
    }
    if (!whole)
      for (std::size_t l = 0; t + l < n; ++l) s[t + l] = pad[l];
  }
  return Sum16(sum);
}

float MaxAbs(std::size_t n, const float* x) {
  const DF df;
  std::size_t t = 0;
  VF m = hn::Zero(df);
  for (; t + kLanes <= n; t += kLanes) m = hn::Max(m, hn::Abs(hn::LoadU(df, x + t)));
  float r = hn::GetLane(hn::MaxOfLanes(df, m));
  for (; t < n; ++t) r = std::fmax(r, std::fabs(x[t]));
  return r;
}

// One row of score_rows: the 16 canonical lanes, the tail chunk zero-padded. A loop of its own:
// for a single dot product score_rows's per-pass setup cost about as much again (perf of
// `bench encode --formats tq3`: its one-row calls took 1.9x Dot's share against the rotation's).
float Dot(std::size_t n, const float* a, const float* b) {
  if constexpr (!kWide) return ref::dot(n, a, b);
  const DF df;
  VF sum[kNV];
  for (VF& v : sum) v = hn::Zero(df);
  HWY_ALIGN float a_tail[kSumLanes], b_tail[kSumLanes];
  for (std::size_t t = 0; t < n; t += kSumLanes) {
    const bool whole = t + kSumLanes <= n;
    const float* ac = a + t;
    const float* bc = b + t;
    if (!whole) {
      for (std::size_t l = 0; l < kSumLanes; ++l) {
        a_tail[l] = t + l < n ? a[t + l] : 0.0f;
        b_tail[l] = t + l < n ? b[t + l] : 0.0f;
      }
      ac = a_tail;
      bc = b_tail;
    }
    for (std::size_t v = 0; v < kNV; ++v)
      sum[v] = hn::MulAdd(hn::LoadU(df, ac + v * kLanes), hn::LoadU(df, bc + v * kLanes), sum[v]);
  }
  return Sum16(sum);
}

void Multiply(std::size_t n, const float* x, float f, float* out) {
  const DF df;
  std::size_t t = 0;
  for (; t + kLanes <= n; t += kLanes) hn::StoreU(hn::Mul(hn::LoadU(df, x + t), hn::Set(df, f)), df, out + t);
  ref::multiply(n - t, x + t, f, out + t);
}

// On the bits: |x| as an integer orders like |x|, and NaN lies above +∞ (bound ≥ 0 and finite).
bool AnyAbsAbove(std::size_t n, const float* x, float bound) {
  const DF df;
  const DI di;
  std::uint32_t bound_bits;
  std::memcpy(&bound_bits, &bound, sizeof bound_bits);
  const auto limit = hn::Set(di, static_cast<std::int32_t>(bound_bits)), magnitude = hn::Set(di, 0x7FFFFFFF);
  auto above = hn::Zero(di);
  std::size_t t = 0;
  for (; t + kLanes <= n; t += kLanes) {
    const auto bits = hn::And(hn::BitCast(di, hn::LoadU(df, x + t)), magnitude);
    above = hn::Or(above, hn::VecFromMask(di, hn::Gt(bits, limit)));
  }
  return !hn::AllTrue(di, hn::Eq(above, hn::Zero(di))) || ref::any_abs_above(n - t, x + t, bound);
}

float ScaleMaxAbs(std::size_t n, const float* w, const float* s, float* out) {
  const DF df;
  std::size_t t = 0;
  VF m = hn::Zero(df);
  VF bad = hn::Zero(df);  // all-ones lanes where a product is not finite
  for (; t + kLanes <= n; t += kLanes) {
    const VF v = hn::Mul(hn::LoadU(df, w + t), hn::LoadU(df, s + t));
    hn::StoreU(v, df, out + t);
    bad = hn::Or(bad, hn::VecFromMask(df, hn::Not(hn::IsFinite(v))));
    m = hn::Max(m, hn::Abs(v));
  }
  float r = hn::GetLane(hn::MaxOfLanes(df, m));
  if (!hn::AllFalse(df, hn::MaskFromVec(bad))) r = std::numeric_limits<float>::infinity();
  return std::fmax(r, ref::scale_max_abs(n - t, w + t, s + t, out + t));
}

void AddScaledInts(std::size_t n, const std::int32_t* x, float f, float* acc) {
  const DF df;
  const DI di;
  std::size_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    hn::StoreU(hn::Add(hn::LoadU(df, acc + j), hn::Mul(hn::Set(df, f), hn::ConvertTo(df, hn::LoadU(di, x + j)))), df,
               acc + j);
  ref::add_scaled_ints(n - j, x + j, f, acc + j);
}

void ScaleInts(std::size_t n, const std::int32_t* x, std::int32_t offset, const float* s, float f, float* out) {
  const DF df;
  const DI di;
  std::size_t t = 0;
  for (; t + kLanes <= n; t += kLanes) {
    const VF ints = hn::ConvertTo(df, hn::Sub(hn::LoadU(di, x + t), hn::Set(di, offset)));
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, s + t), hn::Set(df, f)), ints), df, out + t);
  }
  ref::scale_ints(n - t, x + t, offset, s + t, f, out + t);
}

void RoundToI16(std::size_t n, const float* x, float factor, std::int16_t* out) {
  const DF df;
  const DI di;
  const hn::Rebind<std::int16_t, DF> d16;
  std::size_t t = 0;
  for (; t + kLanes <= n; t += kLanes) {
    const VF v = hn::Mul(hn::LoadU(df, x + t), hn::Set(df, factor));
    const VF half = hn::IfThenElse(hn::Ge(v, hn::Zero(df)), hn::Set(df, 0.5f), hn::Set(df, -0.5f));
    hn::StoreU(hn::DemoteTo(d16, hn::ConvertTo(di, hn::Add(v, half))), d16, out + t);
  }
  ref::round_to_i16(n - t, x + t, factor, out + t);
}

template <typename T>
void ScoreRowsT(const T* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
                std::size_t q_stride, float* out) {
  const RowDecoder<T> dec;
  score_rows(
      dec, [&](std::size_t t) { return x + t * stride; }, dim, n, n_q, q, q_stride, out);
}

template <typename T>
void AccumulateRowsT(const T* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* w,
                     float* acc, std::size_t acc_stride) {
  const RowDecoder<T> dec;
  accumulate_rows(
      dec, [&](std::size_t t) { return x + t * stride; }, dim, n, n_q, w, acc, acc_stride);
}

void ScoreF32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
              std::size_t q_stride, float* out) {
  if constexpr (!kWide) return ref::score_f32(x, stride, dim, n, n_q, q, q_stride, out);
  ScoreRowsT(x, stride, dim, n, n_q, q, q_stride, out);
}
void AccumulateF32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* w,
                   float* acc, std::size_t acc_stride) {
  if constexpr (!kWide) return ref::accumulate_f32(x, stride, dim, n, n_q, w, acc, acc_stride);
  AccumulateRowsT(x, stride, dim, n, n_q, w, acc, acc_stride);
}
void ScoreF16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out) {
  if constexpr (!kWide) return ref::score_f16(x, stride, dim, n, n_q, q, q_stride, out);
  ScoreRowsT(x, stride, dim, n, n_q, q, q_stride, out);
}
void AccumulateF16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride) {
  if constexpr (!kWide) return ref::accumulate_f16(x, stride, dim, n, n_q, w, acc, acc_stride);
  AccumulateRowsT(x, stride, dim, n, n_q, w, acc, acc_stride);
}

void QuantizeToPlanes(std::size_t dim, const float* y, const float* boundaries, int bits, std::uint8_t* planes,
                      const float* centroids, float* dots) {
  if constexpr (!kWide) return ref::quantize_to_planes(dim, y, boundaries, bits, planes, centroids, dots);
  const DF df;
  const DI di;
  const std::size_t pb = (dim + 7) / 8;
  const int n_boundaries = (1 << bits) - 1;
  const std::size_t full = dim / kLanes * kLanes;
  // The chosen centroids, for the two canonical dot products at the end.
  thread_local std::vector<float> chosen_buffer;
  if (centroids) chosen_buffer.resize(dim);
  float* chosen = chosen_buffer.data();  // a local pointer: no thread-local lookup per vector
  // Centroid lookup by an in-register permute where the codebook fits one vector (gathers are slow).
  const bool in_register = (std::size_t{1} << bits) <= kLanes;
  HWY_ALIGN float padded[kLanes] = {};
  if (centroids && in_register) std::memcpy(padded, centroids, sizeof(float) << bits);
  const VF table = hn::Load(df, padded);
  for (std::size_t j = 0; j < full; j += kLanes) {
    const VF v = hn::LoadU(df, y + j);
    auto idx = hn::Zero(di);
    for (int k = 0; k < n_boundaries; ++k)  // count of boundaries below y_j
      idx = hn::Sub(idx, hn::VecFromMask(di, hn::RebindMask(di, hn::Gt(v, hn::Set(df, boundaries[k])))));
    for (int p = 0; p < bits; ++p) {
      const auto bit = hn::TestBit(idx, hn::Set(di, 1 << p));
      hn::StoreMaskBits(di, bit, planes + p * pb + j / 8);
    }
    if (centroids) {
      const VF c =
          in_register ? hn::TableLookupLanes(table, hn::IndicesFromVec(df, idx)) : hn::GatherIndex(df, centroids, idx);
      hn::StoreU(c, df, chosen + j);
    }
  }
  if (full < dim) {
    // Tail codes through the reference into a scratch block, then merged bit by bit.
    std::uint8_t tail[8 * 64];
    const std::size_t rest = dim - full;
    ref::quantize_to_planes(rest, y + full, boundaries, bits, tail, nullptr, nullptr);
    const std::size_t tail_pb = (rest + 7) / 8;
    for (int p = 0; p < bits; ++p) {
      for (std::size_t b = 0; b < pb - full / 8; ++b) planes[p * pb + full / 8 + b] = 0;
      for (std::size_t j = 0; j < rest; ++j) {
        const unsigned bit = (tail[p * tail_pb + j / 8] >> (j % 8)) & 1u;
        planes[p * pb + (full + j) / 8] |= static_cast<std::uint8_t>(bit << ((full + j) % 8));
      }
    }
    if (centroids)
      for (std::size_t j = 0; j < rest; ++j) chosen[full + j] = centroids[plane_code(tail, rest, bits, j)];
  }
  if (centroids) {
    dots[0] = Dot(dim, chosen, y);
    dots[1] = Dot(dim, chosen, chosen);
  }
}

void MatmulRows(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x, float* y) {
  if constexpr (!kWide) return ref::matmul_rows(n, rows, cols, m, x, y);
  // y_t[r] = ⟨M_r, x_t⟩: the score kernel with x_t as the one record and the matrix rows as
  // queries, four rows per pass (independent chains, one shared reduction tree). Through tmp: y
  // may be x.
  HWY_ALIGN float tmp[4096];
  if (rows > 4096) return ref::matmul_rows(n, rows, cols, m, x, y);
  const RowDecoder<float> dec;
  for (std::size_t t = 0; t < n; ++t) {
    score_rows(
        dec, [&](std::size_t) { return x + t * cols; }, cols, 1, rows, m, cols, tmp);
    std::memcpy(y + t * rows, tmp, rows * sizeof(float));
  }
}

void MatmulRowsTransposed(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x, float* y) {
  if constexpr (!kWide) return ref::matmul_rows_transposed(n, rows, cols, m, x, y);
  // y_t = Σ_r x_t[r] · M_r: the accumulate kernel with the matrix rows as records.
  HWY_ALIGN float tmp[4096];
  const RowDecoder<float> dec;
  if (cols > 4096) return ref::matmul_rows_transposed(n, rows, cols, m, x, y);
  for (std::size_t t = 0; t < n; ++t) {
    std::memset(tmp, 0, cols * sizeof(float));
    accumulate_rows(
        dec, [&](std::size_t r) { return m + r * cols; }, cols, rows, 1, x + t * rows, tmp, cols);
    std::memcpy(y + t * cols, tmp, cols * sizeof(float));
  }
}

}  // namespace veloxquant::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant::kernels {

HWY_EXPORT(ScorePlanes);
HWY_EXPORT(AccumulatePlanes);
HWY_EXPORT(ScorePlanesU8);
HWY_EXPORT(AccumulatePlanesI16);
HWY_EXPORT(DispatchedTarget);
HWY_EXPORT(MaxAbs);
HWY_EXPORT(Dot);
HWY_EXPORT(Multiply);
HWY_EXPORT(AnyAbsAbove);
HWY_EXPORT(ScaleMaxAbs);
HWY_EXPORT(AddScaledInts);
HWY_EXPORT(ScaleInts);
HWY_EXPORT(RowMax);
HWY_EXPORT(ExpRow);
HWY_EXPORT(RoundToI16);
HWY_EXPORT(ScoreF32);
HWY_EXPORT(AccumulateF32);
HWY_EXPORT(ScoreF16);
HWY_EXPORT(AccumulateF16);
HWY_EXPORT(QuantizeToPlanes);
HWY_EXPORT(MatmulRows);
HWY_EXPORT(MatmulRowsTransposed);

void score_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* q, std::size_t q_stride,
                  float* out) {
  HWY_DYNAMIC_DISPATCH(ScorePlanes)(codes, n, n_q, q, q_stride, out);
}
// The code kernels' Highway versions (code_kernels.h); code_dispatch.cpp chooses.
namespace highway {
std::int64_t dispatched_target() { return HWY_DYNAMIC_DISPATCH(DispatchedTarget)(); }
void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride) {
  HWY_DYNAMIC_DISPATCH(AccumulatePlanes)(codes, n, n_q, w, acc, acc_stride);
}
void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  HWY_DYNAMIC_DISPATCH(ScorePlanesU8)(codes, table, n, n_q, q8, out);
}
void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  HWY_DYNAMIC_DISPATCH(AccumulatePlanesI16)(codes, table, n, n_q, w16, acc, acc_stride);
}
}  // namespace highway
float max_abs(std::size_t n, const float* x) { return HWY_DYNAMIC_DISPATCH(MaxAbs)(n, x); }
float dot(std::size_t n, const float* a, const float* b) { return HWY_DYNAMIC_DISPATCH(Dot)(n, a, b); }
void multiply(std::size_t n, const float* x, float f, float* out) { HWY_DYNAMIC_DISPATCH(Multiply)(n, x, f, out); }
bool any_abs_above(std::size_t n, const float* x, float bound) {
  return HWY_DYNAMIC_DISPATCH(AnyAbsAbove)(n, x, bound);
}
float scale_max_abs(std::size_t n, const float* w, const float* s, float* out) {
  return HWY_DYNAMIC_DISPATCH(ScaleMaxAbs)(n, w, s, out);
}
void add_scaled_ints(std::size_t n, const std::int32_t* x, float f, float* acc) {
  HWY_DYNAMIC_DISPATCH(AddScaledInts)(n, x, f, acc);
}
void scale_ints(std::size_t n, const std::int32_t* x, std::int32_t offset, const float* s, float f, float* out) {
  HWY_DYNAMIC_DISPATCH(ScaleInts)(n, x, offset, s, f, out);
}
float row_max(const float* s, std::size_t n) { return HWY_DYNAMIC_DISPATCH(RowMax)(s, n); }
float exp_row(float* s, std::size_t n, float scale, float shift) {
  return HWY_DYNAMIC_DISPATCH(ExpRow)(s, n, scale, shift);
}
void round_to_i16(std::size_t n, const float* x, float factor, std::int16_t* out) {
  HWY_DYNAMIC_DISPATCH(RoundToI16)(n, x, factor, out);
}
void score_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* q,
               std::size_t q_stride, float* out) {
  HWY_DYNAMIC_DISPATCH(ScoreF32)(x, stride, dim, n, n_q, q, q_stride, out);
}
void accumulate_f32(const float* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q, const float* w,
                    float* acc, std::size_t acc_stride) {
  HWY_DYNAMIC_DISPATCH(AccumulateF32)(x, stride, dim, n, n_q, w, acc, acc_stride);
}
void score_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
               const float* q, std::size_t q_stride, float* out) {
  HWY_DYNAMIC_DISPATCH(ScoreF16)(x, stride, dim, n, n_q, q, q_stride, out);
}
void accumulate_f16(const std::uint16_t* x, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                    const float* w, float* acc, std::size_t acc_stride) {
  HWY_DYNAMIC_DISPATCH(AccumulateF16)(x, stride, dim, n, n_q, w, acc, acc_stride);
}
void quantize_to_planes(std::size_t dim, const float* y, const float* boundaries, int bits, std::uint8_t* planes,
                        const float* centroids, float* dots) {
  HWY_DYNAMIC_DISPATCH(QuantizeToPlanes)(dim, y, boundaries, bits, planes, centroids, dots);
}
void matmul_rows(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x, float* y) {
  HWY_DYNAMIC_DISPATCH(MatmulRows)(n, rows, cols, m, x, y);
}
void matmul_rows_transposed(std::size_t n, std::size_t rows, std::size_t cols, const float* m, const float* x,
                            float* y) {
  HWY_DYNAMIC_DISPATCH(MatmulRowsTransposed)(n, rows, cols, m, x, y);
}

}  // namespace veloxquant::kernels
#endif  // HWY_ONCE
