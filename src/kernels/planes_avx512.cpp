// AVX-512 kernels for ≤ 4-bit plane codes, written with intrinsics because they need
// instructions Highway 1.0.3 does not expose (VNNI dot products, masked byte adds).
// 64 coordinates are decoded at once: each plane's 8 bytes are a 64-bit lane mask, so the code
// bytes are built with one masked add per plane; a 16-entry table then maps codes to values
// (pshufb for integer centroids, vpermps for float centroids).
// GCC 12 reports -Wmaybe-uninitialized inside its own avx512fintrin.h for the undefined
// pass-through operands of extract/convert intrinsics (a known false positive).
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "kernels/kernels.h"
#include "kernels/planes_avx512.h"

namespace veloxquant::kernels::avx512 {

#define VQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

namespace {

// Code bytes of the 64 coordinates at j: one 8-byte load per plane (a 64-lane mask) and a masked
// byte add of the plane's bit value.
template <int kBits>
VQ_AVX512 inline __m512i load_codes(const std::uint8_t* planes, std::size_t plane_bytes, std::size_t j) {
  __m512i idx = _mm512_setzero_si512();
#pragma GCC unroll 8
  for (int p = 0; p < kBits; ++p) {
    std::uint64_t m;
    std::memcpy(&m, planes + p * plane_bytes + j / 8, 8);
    idx = _mm512_mask_add_epi8(idx, _cvtu64_mask64(m), idx, _mm512_set1_epi8(static_cast<char>(1 << p)));
  }
  return idx;
}

// The same for a last, partial chunk of `valid` < 64 coordinates; lanes past `valid` are zero.
template <int kBits>
VQ_AVX512 inline __m512i load_codes_partial(const std::uint8_t* planes, std::size_t plane_bytes, std::size_t j,
                                            std::size_t valid) {
  __m512i idx = _mm512_setzero_si512();
  for (int p = 0; p < kBits; ++p) {
    const std::uint8_t* src = planes + p * plane_bytes + j / 8;
    std::uint64_t m = 0;
    for (std::size_t b = 0; b < (valid + 7) / 8; ++b) m |= std::uint64_t{src[b]} << (8 * b);  // stays in the plane
    m &= ~0ull >> (64 - valid);
    idx = _mm512_mask_add_epi8(idx, _cvtu64_mask64(m), idx, _mm512_set1_epi8(static_cast<char>(1 << p)));
  }
  return idx;
}

template <int kBits>
VQ_AVX512 inline __m512i codes_at(const std::uint8_t* planes, std::size_t plane_bytes, std::size_t j,
                                  std::size_t valid) {
  return valid == 64 ? load_codes<kBits>(planes, plane_bytes, j) : load_codes_partial<kBits>(planes, plane_bytes, j, valid);
}

// Sums of four int32 vectors: lane k of the result is the sum of all lanes of a_k.
VQ_AVX512 inline __m128i reduce4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
  const __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

template <int kBits>
VQ_AVX512 void score_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                        const std::int8_t* q8, std::int32_t* out) {
  const std::size_t dim = codes.dim, pb = (dim + 7) / 8;
  alignas(64) std::uint8_t replicated[64];  // pshufb looks up within each 128-bit lane
  for (int lane = 0; lane < 4; ++lane) std::memcpy(replicated + 16 * lane, table, 16);
  const __m512i tbl = _mm512_load_si512(replicated);
  for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
    const std::size_t g = n_q - i0 < 4 ? n_q - i0 : 4;
    const std::int8_t* q[4];
    for (std::size_t k = 0; k < 4; ++k) q[k] = q8 + (i0 + (k < g ? k : g - 1)) * dim;
    for (std::size_t t = 0; t < n; ++t) {
      const std::uint8_t* planes = codes.records + t * codes.stride + codes.offset;
      __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
      std::size_t j = 0;
      for (; j + 64 <= dim; j += 64) {
        const __m512i c = _mm512_shuffle_epi8(tbl, load_codes<kBits>(planes, pb, j));
        a0 = _mm512_dpbusd_epi32(a0, c, _mm512_loadu_si512(q[0] + j));
        a1 = _mm512_dpbusd_epi32(a1, c, _mm512_loadu_si512(q[1] + j));
        a2 = _mm512_dpbusd_epi32(a2, c, _mm512_loadu_si512(q[2] + j));
        a3 = _mm512_dpbusd_epi32(a3, c, _mm512_loadu_si512(q[3] + j));
      }
      if (j < dim) {  // the query lanes past the end load as zero, so the codes there do not count
        const std::size_t valid = dim - j;
        const __mmask64 lanes = _cvtu64_mask64(~0ull >> (64 - valid));
        const __m512i c = _mm512_shuffle_epi8(tbl, load_codes_partial<kBits>(planes, pb, j, valid));
        a0 = _mm512_dpbusd_epi32(a0, c, _mm512_maskz_loadu_epi8(lanes, q[0] + j));
        a1 = _mm512_dpbusd_epi32(a1, c, _mm512_maskz_loadu_epi8(lanes, q[1] + j));
        a2 = _mm512_dpbusd_epi32(a2, c, _mm512_maskz_loadu_epi8(lanes, q[2] + j));
        a3 = _mm512_dpbusd_epi32(a3, c, _mm512_maskz_loadu_epi8(lanes, q[3] + j));
      }
      alignas(16) std::int32_t sums[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(sums), reduce4(a0, a1, a2, a3));
      for (std::size_t k = 0; k < g; ++k) out[(i0 + k) * n + t] = sums[k];
    }
  }
}

// acc_i += Σ_t w_it·centroid(t, ·) for up to four queries, 64 coordinates of accumulators per
// head held in registers while a block of records streams through.
template <int kBits, int kGroup>
VQ_AVX512 void accumulate_group(const PlaneCodes& codes, std::size_t t0, std::size_t t1, std::size_t n,
                                const float* w, float* acc, std::size_t acc_stride) {
  const std::size_t dim = codes.dim, pb = (dim + 7) / 8;
  alignas(64) float padded[16] = {};
  std::memcpy(padded, codes.centroids, sizeof(float) << kBits);
  const __m512 table = _mm512_load_ps(padded);
  for (std::size_t j = 0; j < dim; j += 64) {
    const std::size_t valid = dim - j < 64 ? dim - j : 64;
    __mmask16 m[4];
    for (int k = 0; k < 4; ++k) {
      const std::size_t lo = 16 * k;
      const std::size_t v = valid > lo ? (valid - lo < 16 ? valid - lo : 16) : 0;
      m[k] = static_cast<__mmask16>(v == 16 ? 0xFFFF : ((1u << v) - 1));
    }
    __m512 a[kGroup][4];
    for (int h = 0; h < kGroup; ++h)
      for (int k = 0; k < 4; ++k) a[h][k] = _mm512_maskz_loadu_ps(m[k], acc + h * acc_stride + j + 16 * k);
    for (std::size_t t = t0; t < t1; ++t) {
      const __m512i idx = codes_at<kBits>(codes.records + t * codes.stride + codes.offset, pb, j, valid);
      const float scale = record_scale(codes, t);
      __m512 c[4];
      c[0] = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(idx)), table);
      c[1] = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(idx, 1)), table);
      c[2] = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(idx, 2)), table);
      c[3] = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(idx, 3)), table);
      for (int h = 0; h < kGroup; ++h) {
        const __m512 wv = _mm512_set1_ps(w[h * n + t] * scale);
        for (int k = 0; k < 4; ++k) a[h][k] = _mm512_fmadd_ps(c[k], wv, a[h][k]);
      }
    }
    for (int h = 0; h < kGroup; ++h)
      for (int k = 0; k < 4; ++k) _mm512_mask_storeu_ps(acc + h * acc_stride + j + 16 * k, m[k], a[h][k]);
  }
}

template <int kBits>
VQ_AVX512 void accumulate(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                          std::size_t acc_stride) {
  constexpr std::size_t kRecordBlock = 32;
  for (std::size_t t0 = 0; t0 < n; t0 += kRecordBlock) {
    const std::size_t t1 = t0 + kRecordBlock < n ? t0 + kRecordBlock : n;
    for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
      const float* wi = w + i0 * n;
      float* ai = acc + i0 * acc_stride;
      switch (n_q - i0 < 4 ? n_q - i0 : 4) {
        case 1: accumulate_group<kBits, 1>(codes, t0, t1, n, wi, ai, acc_stride); break;
        case 2: accumulate_group<kBits, 2>(codes, t0, t1, n, wi, ai, acc_stride); break;
        case 3: accumulate_group<kBits, 3>(codes, t0, t1, n, wi, ai, acc_stride); break;
        default: accumulate_group<kBits, 4>(codes, t0, t1, n, wi, ai, acc_stride); break;
      }
    }
  }
}

}  // namespace

bool available() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512vnni");
  return ok;
}

void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  switch (codes.bits) {
    case 1: return score_u8<1>(codes, table, n, n_q, q8, out);
    case 2: return score_u8<2>(codes, table, n, n_q, q8, out);
    case 3: return score_u8<3>(codes, table, n, n_q, q8, out);
    default: return score_u8<4>(codes, table, n, n_q, q8, out);
  }
}

void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride) {
  switch (codes.bits) {
    case 1: return accumulate<1>(codes, n, n_q, w, acc, acc_stride);
    case 2: return accumulate<2>(codes, n, n_q, w, acc, acc_stride);
    case 3: return accumulate<3>(codes, n, n_q, w, acc, acc_stride);
    default: return accumulate<4>(codes, n, n_q, w, acc, acc_stride);
  }
}

}  // namespace veloxquant::kernels::avx512

#pragma GCC diagnostic pop
