// SIMD score and accumulate on q8 and q4 records (Google Highway, dispatched at run time); the
// scalar definitions are in reference_baseline.cpp. q8/q4 values are made in registers (int →
// float, times the fp16 scale: exact) and go straight into the canonical fma lanes (canonical.h),
// so every target gives the bits of the reference; targets under 8 float lanes run the reference.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/kernels_baseline_simd.cpp"
#include "hwy/cache_control.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/canonical_sums-inl.h"

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/canonical.h"
#include "kernels/kernels.h"
#include "util/half.h"

HWY_BEFORE_NAMESPACE();
namespace veloxquant::kernels::HWY_NAMESPACE {
namespace {  // internal linkage: kernels_simd.cpp has helpers of the same names per target
namespace hn = hwy::HWY_NAMESPACE;

using DI = hn::RebindToSigned<DF>;
using VI = hn::Vec<DI>;
using DU8 = hn::Rebind<std::uint8_t, DI>;  // one byte per float lane
using DS8 = hn::Rebind<std::int8_t, DI>;

// A chunk is 16 coordinates [j, j+16) of a record (j a multiple of 16, j + 16 ≤ dim); `scale`
// is the fp16 scale j / kScaleSpan of the record (scale_offset(s) bytes from its start), which
// the caller converts for a block of records at once (a scalar conversion per chunk would cost as
// much as decoding it).
struct Q8Chunk {
  static constexpr std::size_t kScaleSpan = ~std::size_t{0};  // one scale per record
  static std::size_t scales(std::size_t) { return 1; }
  static std::size_t scale_offset(std::size_t) { return 0; }
  static float value(const std::uint8_t* rec, std::size_t j) { return q8_value(rec, j); }
  HWY_INLINE static void decode(const std::uint8_t* rec, std::size_t j, float scale, VF (&x)[kNV]) {
    const VF s = hn::Set(DF(), scale);
    const auto* v = reinterpret_cast<const std::int8_t*>(rec + 2 + j);
    for (std::size_t k = 0; k < kNV; ++k)
      x[k] = hn::Mul(hn::ConvertTo(DF(), hn::PromoteTo(DI(), hn::LoadU(DS8(), v + k * kLanes))), s);
  }
};

// A q4 chunk is one half of a group: the low nibbles of its 16 bytes, or the high ones.
struct Q4Chunk {
  static constexpr std::size_t kScaleSpan = kQ4Group;
  static std::size_t scales(std::size_t dim) { return (dim + kQ4Group - 1) / kQ4Group; }
  static std::size_t scale_offset(std::size_t s) { return s * kQ4GroupBytes; }
  static float value(const std::uint8_t* rec, std::size_t j) { return q4_value(rec, j); }
  HWY_INLINE static void decode(const std::uint8_t* rec, std::size_t j, float scale, VF (&x)[kNV]) {
    const std::uint8_t* bytes = rec + j / kQ4Group * kQ4GroupBytes + 2;
    const int shift = j % kQ4Group ? 4 : 0;
    const VF s = hn::Set(DF(), scale);
    if constexpr (kLanes == 16) {
      // (i − 8)·scale for the 16 nibble values i, looked up by a permute: the same exact products.
      const VF table = hn::Mul(hn::Sub(hn::Iota(DF(), 0.0f), hn::Set(DF(), 8.0f)), s);
      const VI b = hn::PromoteTo(DI(), hn::LoadU(DU8(), bytes));
      const VI nib = shift ? hn::ShiftRight<4>(b) : hn::And(b, hn::Set(DI(), 15));
      x[0] = hn::TableLookupLanes(table, hn::IndicesFromVec(DF(), nib));
    } else {
      for (std::size_t k = 0; k < kNV; ++k) {
        const VI b = hn::PromoteTo(DI(), hn::LoadU(DU8(), bytes + k * kLanes));
        const VI q = hn::Sub(hn::And(hn::ShiftRightSame(b, shift), hn::Set(DI(), 15)), hn::Set(DI(), 8));
        x[k] = hn::Mul(hn::ConvertTo(DF(), q), s);
      }
    }
  }
};

// At long context records stream from DRAM and the hardware prefetchers do not run far enough
// ahead: the first touch of a record also prefetches the lines this far past it.
constexpr std::size_t kPrefetchAhead = 4096;
HWY_INLINE void PrefetchAhead(const std::uint8_t* rec, std::size_t stride) {
  for (std::size_t b = 0; b < stride; b += 64) hwy::Prefetch(rec + kPrefetchAhead + b);
}

// Records per block: the block's scales are converted together and its records stay in L1
// while the accumulation sweeps the chunks.
constexpr std::size_t kRecordBlock = 32;

// scales[(t − t0)·Chunk::scales(dim) + s] = scale s of record t, t in [t0, t1), converted by
// F16C (every kWide target has it; the same values as half_to_float, as in HalvesToFloats).
template <class Chunk>
float* BlockScales(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t t0, std::size_t t1) {
  thread_local std::vector<std::uint16_t> bits;  // grow once; no allocation in steady state
  thread_local std::vector<float> scales;
  const std::size_t per = Chunk::scales(dim), count = (t1 - t0) * per, padded = (count + kLanes - 1) / kLanes * kLanes;
  if (bits.size() < padded) {
    bits.resize(padded);
    scales.resize(padded);
  }
  std::uint16_t* b = bits.data();  // local pointers: no thread-local lookup per element
  float* out = scales.data();
  std::size_t i = 0;
  for (std::size_t t = t0; t < t1; ++t) {
    PrefetchAhead(records + t * stride, stride);  // the block's first touch of each record
    for (std::size_t s = 0; s < per; ++s) b[i++] = load_u16(records + t * stride + Chunk::scale_offset(s));
  }
  const DF df;
  const hn::Rebind<hwy::float16_t, DF> dh;
  for (i = 0; i < padded; i += kLanes)
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(b + i))), df, out + i);
  return out;
}

// G ≤ 4 query rows per pass over records [t0, t1) (a GQA group shares each decoded chunk);
// canonical dot products: chunk after chunk of fma into 16 lanes, the partial last chunk
// zero-padded, then the fixed tree. Unused rows of the four stay zero and are dropped (one
// reduction tree serves four).
template <class Chunk, std::size_t G>
void ScoreGroup(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t t0, std::size_t t1,
                std::size_t n, const float* scales, const float* q, std::size_t q_stride, float* out) {
  const DF df;
  const std::size_t full = dim / kSumLanes * kSumLanes, rest = dim - full, per = Chunk::scales(dim);
  HWY_ALIGN float q_tail[G][kSumLanes];
  HWY_ALIGN float x_tail[kSumLanes];
  for (std::size_t k = 0; k < G; ++k)
    for (std::size_t l = 0; l < kSumLanes; ++l) q_tail[k][l] = l < rest ? q[k * q_stride + full + l] : 0.0f;
  for (std::size_t t = t0; t < t1; ++t) {
    const std::uint8_t* rec = records + t * stride;
    const float* rec_scales = scales + (t - t0) * per;
    VF a[4][kNV];
    for (auto& ak : a)
      for (VF& v : ak) v = hn::Zero(df);
    for (std::size_t j = 0; j < full; j += kSumLanes) {
      VF x[kNV];
      Chunk::decode(rec, j, rec_scales[j / Chunk::kScaleSpan], x);
      for (std::size_t v = 0; v < kNV; ++v)
        for (std::size_t k = 0; k < G; ++k)
          a[k][v] = hn::MulAdd(x[v], hn::LoadU(df, q + k * q_stride + j + v * kLanes), a[k][v]);
    }
    if (rest > 0) {
      for (std::size_t l = 0; l < kSumLanes; ++l) x_tail[l] = l < rest ? Chunk::value(rec, full + l) : 0.0f;
      for (std::size_t v = 0; v < kNV; ++v) {
        const VF x = hn::Load(df, x_tail + v * kLanes);
        for (std::size_t k = 0; k < G; ++k) a[k][v] = hn::MulAdd(x, hn::Load(df, q_tail[k] + v * kLanes), a[k][v]);
      }
    }
    float sums[4];
    if constexpr (G == 4) {
      Sum16x4(a, sums);
    } else {
      for (std::size_t k = 0; k < G; ++k) sums[k] = Sum16(a[k]);
    }
    for (std::size_t k = 0; k < G; ++k) out[k * n + t] = sums[k];
  }
}

// acc_i += Σ_t w_it · x_t for G ≤ 4 rows and records [t0, t1), canonical: acc_j = fma(x_j, w,
// acc_j) record after record. Each chunk of the G accumulator rows stays in registers across the
// block of records.
template <class Chunk, std::size_t G>
void AccumulateGroup(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t t0, std::size_t t1,
                     std::size_t n, const float* scales, const float* w, float* acc, std::size_t acc_stride) {
  const DF df;
  const std::size_t full = dim / kSumLanes * kSumLanes, per = Chunk::scales(dim);
  for (std::size_t j = 0; j < full; j += kSumLanes) {
    VF a[G][kNV];
    for (std::size_t k = 0; k < G; ++k)
      for (std::size_t v = 0; v < kNV; ++v) a[k][v] = hn::LoadU(df, acc + k * acc_stride + j + v * kLanes);
    const float* chunk_scales = scales + j / Chunk::kScaleSpan;
    for (std::size_t t = t0; t < t1; ++t) {
      VF x[kNV];
      Chunk::decode(records + t * stride, j, chunk_scales[(t - t0) * per], x);
      for (std::size_t k = 0; k < G; ++k) {
        const VF wk = hn::Set(df, w[k * n + t]);
        for (std::size_t v = 0; v < kNV; ++v) a[k][v] = hn::MulAdd(x[v], wk, a[k][v]);
      }
    }
    for (std::size_t k = 0; k < G; ++k)
      for (std::size_t v = 0; v < kNV; ++v) hn::StoreU(a[k][v], df, acc + k * acc_stride + j + v * kLanes);
  }
  for (std::size_t t = t0; t < t1; ++t)
    for (std::size_t j = full; j < dim; ++j) {
      const float x = Chunk::value(records + t * stride, j);
      for (std::size_t k = 0; k < G; ++k) {
        float& a = acc[k * acc_stride + j];
        a = std::fma(x, w[k * n + t], a);
      }
    }
}

// Blocks of records, and in each the query rows four at a time.
template <class Chunk, bool kScore>
void RunRecords(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                const float* in, std::size_t in_stride, float* out, std::size_t out_stride) {
  for (std::size_t t0 = 0; t0 < n; t0 += kRecordBlock) {
    const std::size_t t1 = t0 + kRecordBlock < n ? t0 + kRecordBlock : n;
    const float* scales = BlockScales<Chunk>(records, stride, dim, t0, t1);
    for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
      const std::size_t g = n_q - i0 < 4 ? n_q - i0 : 4;
      const float* in_i = in + i0 * in_stride;
      float* out_i = out + i0 * out_stride;
      auto run = [&](auto group) {
        constexpr std::size_t G = decltype(group)::value;
        if constexpr (kScore) {
          ScoreGroup<Chunk, G>(records, stride, dim, t0, t1, n, scales, in_i, in_stride, out_i);
        } else {
          AccumulateGroup<Chunk, G>(records, stride, dim, t0, t1, n, scales, in_i, out_i, out_stride);
        }
      };
      if (g == 1)
        run(std::integral_constant<std::size_t, 1>());
      else if (g == 2)
        run(std::integral_constant<std::size_t, 2>());
      else if (g == 3)
        run(std::integral_constant<std::size_t, 3>());
      else
        run(std::integral_constant<std::size_t, 4>());
    }
  }
}

// Scores: `in` are the query rows (q_stride), `out` rows of n scores. Accumulation: `in` are
// rows of n weights, `out` the accumulator rows (acc_stride).
template <class Chunk>
void ScoreRecords(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                  const float* q, std::size_t q_stride, float* out) {
  RunRecords<Chunk, true>(records, stride, dim, n, n_q, q, q_stride, out, n);
}
template <class Chunk>
void AccumulateRecords(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                       const float* w, float* acc, std::size_t acc_stride) {
  RunRecords<Chunk, false>(records, stride, dim, n, n_q, w, n, acc, acc_stride);
}

}  // namespace

void ScoreQ8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
             const float* q, std::size_t q_stride, float* out) {
  if constexpr (!kWide) return ref::score_q8(records, stride, dim, n, n_q, q, q_stride, out);
  ScoreRecords<Q8Chunk>(records, stride, dim, n, n_q, q, q_stride, out);
}

void AccumulateQ8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                  const float* w, float* acc, std::size_t acc_stride) {
  if constexpr (!kWide) return ref::accumulate_q8(records, stride, dim, n, n_q, w, acc, acc_stride);
  AccumulateRecords<Q8Chunk>(records, stride, dim, n, n_q, w, acc, acc_stride);
}

void ScoreQ4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
             const float* q, std::size_t q_stride, float* out) {
  if constexpr (!kWide) return ref::score_q4(records, stride, dim, n, n_q, q, q_stride, out);
  ScoreRecords<Q4Chunk>(records, stride, dim, n, n_q, q, q_stride, out);
}

void AccumulateQ4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                  const float* w, float* acc, std::size_t acc_stride) {
  if constexpr (!kWide) return ref::accumulate_q4(records, stride, dim, n, n_q, w, acc, acc_stride);
  AccumulateRecords<Q4Chunk>(records, stride, dim, n, n_q, w, acc, acc_stride);
}

}  // namespace veloxquant::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace veloxquant::kernels {

HWY_EXPORT(ScoreQ8);
HWY_EXPORT(AccumulateQ8);
HWY_EXPORT(ScoreQ4);
HWY_EXPORT(AccumulateQ4);

void score_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out) {
  HWY_DYNAMIC_DISPATCH(ScoreQ8)(records, stride, dim, n, n_q, q, q_stride, out);
}
void accumulate_q8(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride) {
  HWY_DYNAMIC_DISPATCH(AccumulateQ8)(records, stride, dim, n, n_q, w, acc, acc_stride);
}
void score_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
              const float* q, std::size_t q_stride, float* out) {
  HWY_DYNAMIC_DISPATCH(ScoreQ4)(records, stride, dim, n, n_q, q, q_stride, out);
}
void accumulate_q4(const std::uint8_t* records, std::size_t stride, std::size_t dim, std::size_t n, std::size_t n_q,
                   const float* w, float* acc, std::size_t acc_stride) {
  HWY_DYNAMIC_DISPATCH(AccumulateQ4)(records, stride, dim, n, n_q, w, acc, acc_stride);
}

}  // namespace veloxquant::kernels
#endif  // HWY_ONCE
