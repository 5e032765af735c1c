// AVX2 kernels for record blocks, written with intrinsics: the decode below relies on pshufb's
// exact index semantics (bits 4-6 ignored) and on vpmaddwd, which Highway 1.0.3 does not expose
// as such, and the AVX2 build of this one file is the only one it needs (the AVX-512 kernels are
// in planes_avx512.cpp). Two plane bytes j, j + 1 of a block are decoded at once, one per 128-bit
// lane: three rounds of delta swaps transpose the bits of the planes' 16-byte chunks into 4-bit
// codes, pshufb maps the codes to table bytes and the bytes are widened to 16 bits, arranged so
// that each 32-bit lane holds two products of one vpmaddwd that belong to the same sum: two
// coordinates of one record for keys, two records of one coordinate for values. Every sum is an
// exact int32 sum (vpmaddwd of a 0..255 byte by an int8 or int16 never saturates), so the results
// are those of the scalar references bit for bit. A fifth plane is transposed the same way on its
// own and selects the upper half of a 32-entry table.
#include "kernels/blocks_avx2.h"

#include <immintrin.h>

#include <cstring>
#include <vector>

#include "kernels/bit_dispatch.h"
#include "pack/plane_blocks.h"

namespace veloxquant::kernels::avx2 {

#define VQ_AVX2 __attribute__((target("avx2")))

namespace {

// As in planes_avx512.cpp: the lines past the block being read, into L2 far ahead and into L1 a
// little ahead.
constexpr std::size_t kPrefetchL1 = 1024, kPrefetchL2 = 8192;
VQ_AVX2 inline void prefetch_ahead(const std::uint8_t* from, std::size_t bytes) {
  for (std::size_t b = 0; b < bytes; b += 64)
    _mm_prefetch(reinterpret_cast<const char*>(from + kPrefetchL1 + b), _MM_HINT_T0);
  for (std::size_t b = 0; b < bytes; b += 64)
    _mm_prefetch(reinterpret_cast<const char*>(from + kPrefetchL2 + b), _MM_HINT_T1);
}

// Plane p's chunk of plane byte j in the low lane and of j + 1 in the high lane (zero if !kTwo).
template <int kBits, bool kTwo>
VQ_AVX2 inline __m256i load_plane(const std::uint8_t* seg, std::size_t j, int p) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(seg + 16 * (j * kBits + p)));
  if constexpr (!kTwo) return _mm256_zextsi128_si256(lo);
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(seg + 16 * ((j + 1) * kBits + p)));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

// Bit transpose of four planes' chunks (p[0..3]) into four code registers. In a chunk byte, bit
// i (0..7) belongs to one code; after two delta swaps between the planes, e holds the codes of the
// bits 0 (low nibble) and 4 (high nibble) of each byte, g of bits 1 and 5, f of 2 and 6, h of 3
// and 7. A third swap of 16-bit halves pairs e with g and f with h:
//   r[0] 32-bit lane m: bytes 4m, 4m+1 of e, then bytes 4m, 4m+1 of g;
//   r[1]: bytes 4m+2, 4m+3 of e, then of g;  r[2], r[3]: the same of f and h.
VQ_AVX2 inline void transpose_planes(const __m256i (&p)[4], __m256i (&r)[4]) {
  const __m256i m55 = _mm256_set1_epi8(0x55), mAA = _mm256_set1_epi8(static_cast<char>(0xAA));
  const __m256i m33 = _mm256_set1_epi8(0x33), mCC = _mm256_set1_epi8(static_cast<char>(0xCC));
  // 2-bit fields (planes 0, 1 / 2, 3) of the even bits (a, c) and of the odd bits (b, d)
  const __m256i a = _mm256_or_si256(_mm256_and_si256(p[0], m55), _mm256_and_si256(_mm256_slli_epi16(p[1], 1), mAA));
  const __m256i b = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(p[0], 1), m55), _mm256_and_si256(p[1], mAA));
  const __m256i c = _mm256_or_si256(_mm256_and_si256(p[2], m55), _mm256_and_si256(_mm256_slli_epi16(p[3], 1), mAA));
  const __m256i d = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(p[2], 1), m55), _mm256_and_si256(p[3], mAA));
  const __m256i e = _mm256_or_si256(_mm256_and_si256(a, m33), _mm256_and_si256(_mm256_slli_epi16(c, 2), mCC));
  const __m256i f = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 2), m33), _mm256_and_si256(c, mCC));
  const __m256i g = _mm256_or_si256(_mm256_and_si256(b, m33), _mm256_and_si256(_mm256_slli_epi16(d, 2), mCC));
  const __m256i h = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 2), m33), _mm256_and_si256(d, mCC));
  r[0] = _mm256_blend_epi16(e, _mm256_slli_epi32(g, 16), 0xAA);
  r[1] = _mm256_blend_epi16(_mm256_srli_epi32(e, 16), g, 0xAA);
  r[2] = _mm256_blend_epi16(f, _mm256_slli_epi32(h, 16), 0xAA);
  r[3] = _mm256_blend_epi16(_mm256_srli_epi32(f, 16), h, 0xAA);
}

// The codes of plane bytes j (low lane) and j + 1 (high lane): low[k] their bits 0–3 as above;
// for 5 bits, top[k] bit 4 at bit 0 of the same nibbles.
template <int kBits>
struct Codes {
  __m256i low[4], top[4];
};

template <int kBits, bool kTwo>
VQ_AVX2 inline void decode_codes(const std::uint8_t* seg, std::size_t j, Codes<kBits>& out) {
  __m256i p[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) p[i] = i < kBits ? load_plane<kBits, kTwo>(seg, j, i) : _mm256_setzero_si256();
  transpose_planes(p, out.low);
  if constexpr (kBits == 5) {
    const __m256i zero = _mm256_setzero_si256();
    const __m256i fifth[4] = {load_plane<kBits, kTwo>(seg, j, 4), zero, zero, zero};
    transpose_planes(fifth, out.top);
  }
}

// A table of 2^bits bytes: entries 0..15 and, for 5 bits, 16..31, each in both 128-bit lanes.
struct Table {
  __m256i low, high;
};

VQ_AVX2 inline __m256i table_lanes(const std::uint8_t* t, char bias) {
  return _mm256_xor_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t))),
                          _mm256_set1_epi8(bias));
}
VQ_AVX2 inline Table load_table(const void* table, int bits, char bias) {
  const auto* t = static_cast<const std::uint8_t*>(table);
  const __m256i low = table_lanes(t, bias);
  return {low, bits > 4 ? table_lanes(t + 16, bias) : low};
}

// Table bytes of the low (k = 0, 2) or high (k = 1, 3) nibbles of code register R, as 16-bit
// words: k = 0, 1 from the lanes' bytes 0 and 2, k = 2, 3 from bytes 1 and 3.
template <int kBits, bool kHigh>
VQ_AVX2 inline __m256i lookup(const Codes<kBits>& c, int R, const Table& tbl) {
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i idx = _mm256_and_si256(kHigh ? _mm256_srli_epi16(c.low[R], 4) : c.low[R], nibble);
  const __m256i v = _mm256_shuffle_epi8(tbl.low, idx);
  if constexpr (kBits < 5) return v;
  const __m256i bit = _mm256_set1_epi8(kHigh ? 0x10 : 0x01);
  const __m256i upper = _mm256_cmpeq_epi8(_mm256_and_si256(c.top[R], bit), bit);
  return _mm256_blendv_epi8(v, _mm256_shuffle_epi8(tbl.high, idx), upper);
}
VQ_AVX2 inline __m256i even_bytes(__m256i x) { return _mm256_and_si256(x, _mm256_set1_epi16(0xFF)); }
VQ_AVX2 inline __m256i odd_bytes(__m256i x) { return _mm256_srli_epi16(x, 8); }

// The 16 word registers v[4R + k] of plane bytes j, j + 1 (k as in lookup).
template <int kBits, bool kTwo>
VQ_AVX2 inline void decode_words(const std::uint8_t* seg, std::size_t j, const Table& tbl, std::int16_t* out) {
  Codes<kBits> codes;
  decode_codes<kBits, kTwo>(seg, j, codes);
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m256i lo = lookup<kBits, false>(codes, k, tbl), hi = lookup<kBits, true>(codes, k, tbl);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * (4 * k + 0)), even_bytes(lo));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * (4 * k + 1)), even_bytes(hi));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * (4 * k + 2)), odd_bytes(lo));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * (4 * k + 3)), odd_bytes(hi));
  }
}

VQ_AVX2 inline __m256i load(const std::int16_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Keys: word register v[4R + k] lane (L, m) holds, for plane byte j + L, record 8·(m % 2) + k
// (+ 4 for R = 1, 3) at coordinates cb, cb + 1 with cb = 4·(m ≥ 2) (+ 2 for R = 2, 3): one
// vpmaddwd with the matching query words adds two products of one record. The decoded words of a
// block are kept (L1) and read once per query; 8 accumulators per query, folded at the block's end.
template <int kBits>
VQ_AVX2 void score_blocks_bits(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks,
                               std::size_t n_q, const std::int8_t* q8, std::int32_t* out) {
  const std::size_t pb = (codes.dim + 7) / 8, pairs = (pb + 1) / 2, q_row = 8 * pb, n = 16 * n_blocks;
  thread_local std::vector<std::int16_t> words, qw;
  words.resize(pairs * 16 * 16);
  qw.resize(n_q * pairs * 2 * 16);
  for (std::size_t i = 0; i < n_q; ++i)
    for (std::size_t jp = 0; jp < pairs; ++jp)
      for (int z = 0; z < 2; ++z)
        for (int w = 0; w < 16; ++w) {
          const std::size_t lane = w / 8, m = (w % 8) / 2, byte = 2 * jp + lane;
          const std::size_t c = 8 * byte + (m >= 2 ? 4 : 0) + 2 * z + w % 2;
          qw[((i * pairs + jp) * 2 + z) * 16 + w] = byte < pb ? q8[i * q_row + c] : 0;
        }
  const Table tbl = load_table(table, kBits, 0);
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const std::uint8_t* block = codes.blocks + b * codes.block_bytes;
    prefetch_ahead(block, codes.block_bytes);
    const std::uint8_t* seg = block + codes.offset;
    for (std::size_t jp = 0; jp < pb / 2; ++jp) decode_words<kBits, true>(seg, 2 * jp, tbl, &words[jp * 256]);
    if (pb % 2) decode_words<kBits, false>(seg, pb - 1, tbl, &words[(pairs - 1) * 256]);
    for (std::size_t i = 0; i < n_q; ++i) {
      __m256i x[4], y[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) x[k] = y[k] = _mm256_setzero_si256();
      const std::int16_t* qi = &qw[i * pairs * 32];
      for (std::size_t jp = 0; jp < pairs; ++jp) {
        const std::int16_t* v = &words[jp * 256];
        const __m256i qx = load(qi + 32 * jp), qz = load(qi + 32 * jp + 16);
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          x[k] = _mm256_add_epi32(x[k], _mm256_add_epi32(_mm256_madd_epi16(load(v + 16 * k), qx),
                                                         _mm256_madd_epi16(load(v + 16 * (8 + k)), qz)));
          y[k] = _mm256_add_epi32(y[k], _mm256_add_epi32(_mm256_madd_epi16(load(v + 16 * (4 + k)), qx),
                                                         _mm256_madd_epi16(load(v + 16 * (12 + k)), qz)));
        }
      }
      // x[k]: lanes (L, m) hold record 8·(m % 2) + k: the sum of the lanes L and of m, m + 2.
      __m128i hx[4], hy[4];
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) {
        const __m128i sx = _mm_add_epi32(_mm256_castsi256_si128(x[k]), _mm256_extracti128_si256(x[k], 1));
        const __m128i sy = _mm_add_epi32(_mm256_castsi256_si128(y[k]), _mm256_extracti128_si256(y[k], 1));
        hx[k] = _mm_add_epi32(sx, _mm_shuffle_epi32(sx, _MM_SHUFFLE(1, 0, 3, 2)));  // [k, 8 + k, ..]
        hy[k] = _mm_add_epi32(sy, _mm_shuffle_epi32(sy, _MM_SHUFFLE(1, 0, 3, 2)));  // [4 + k, 12 + k, ..]
      }
      std::int32_t* o = out + i * n + 16 * b;
      const auto store4 = [](std::int32_t* dst, __m128i h0, __m128i h1, __m128i h2, __m128i h3, bool second) {
        const __m128 a = _mm_castsi128_ps(_mm_unpacklo_epi64(h0, h1)), c = _mm_castsi128_ps(_mm_unpacklo_epi64(h2, h3));
        const __m128 r =
            second ? _mm_shuffle_ps(a, c, _MM_SHUFFLE(3, 1, 3, 1)) : _mm_shuffle_ps(a, c, _MM_SHUFFLE(2, 0, 2, 0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_castps_si128(r));
      };
      store4(o, hx[0], hx[1], hx[2], hx[3], false);
      store4(o + 8, hx[0], hx[1], hx[2], hx[3], true);
      store4(o + 4, hy[0], hy[1], hy[2], hy[3], false);
      store4(o + 12, hy[0], hy[1], hy[2], hy[3], true);
    }
  }
}

// Values: word register v[4R + k] lane (L, m) holds, for plane byte j + L, coordinate 2m (+ 1 for
// R = 1, 3) of records 4k, 4k + 1 (+ 2 for R = 2, 3): one vpmaddwd with those records' weights
// broadcast adds two products of one coordinate. The table is biased to bytes v + 128 (the words
// must be zero-extended bytes); each accumulator starts at −128·Σ w of the range, so the sum is
// Σ w·v modulo 2^32, which is the exact sum. Plane byte pairs are the outer loop over a range of
// blocks that stays in L1/L2, two accumulators per query.
constexpr std::size_t kValueRange = 32;  // at most 512 records: −128·Σ w fits in int32

template <int kBits, int kGroup, bool kTwo>
VQ_AVX2 inline void accumulate_pair(const PlaneBlocks& codes, const Table& tbl, std::size_t b0, std::size_t b1,
                                    std::size_t jp, std::size_t n, const std::int16_t* w16, const std::uint32_t* bias,
                                    std::int32_t* acc, std::size_t acc_stride) {
  __m256i ev[kGroup], od[kGroup];
#pragma GCC unroll 4
  for (int i = 0; i < kGroup; ++i) ev[i] = od[i] = _mm256_set1_epi32(static_cast<int>(bias[i]));
  for (std::size_t b = b0; b < b1; ++b) {
    const std::uint8_t* block = codes.blocks + b * codes.block_bytes;
    if (jp == 0) prefetch_ahead(block, codes.block_bytes);
    Codes<kBits> r;
    decode_codes<kBits, kTwo>(block + codes.offset, 2 * jp, r);
#pragma GCC unroll 2
    for (int half = 0; half < 2; ++half) {  // low nibbles (k = 0, 2), then high nibbles (k = 1, 3)
      __m256i t[4];
#pragma GCC unroll 4
      for (int R = 0; R < 4; ++R) t[R] = half ? lookup<kBits, true>(r, R, tbl) : lookup<kBits, false>(r, R, tbl);
#pragma GCC unroll 2
      for (int odd = 0; odd < 2; ++odd) {
        const int k = 2 * odd + half;
        __m256i v[4];
#pragma GCC unroll 4
        for (int R = 0; R < 4; ++R) v[R] = odd ? odd_bytes(t[R]) : even_bytes(t[R]);
#pragma GCC unroll 4
        for (int i = 0; i < kGroup; ++i) {
          const std::int16_t* w = w16 + i * n + 16 * b + 4 * k;
          std::int32_t w01, w23;
          std::memcpy(&w01, w, 4);
          std::memcpy(&w23, w + 2, 4);
          const __m256i a = _mm256_set1_epi32(w01), c = _mm256_set1_epi32(w23);
          ev[i] = _mm256_add_epi32(ev[i], _mm256_add_epi32(_mm256_madd_epi16(v[0], a), _mm256_madd_epi16(v[2], c)));
          od[i] = _mm256_add_epi32(od[i], _mm256_add_epi32(_mm256_madd_epi16(v[1], a), _mm256_madd_epi16(v[3], c)));
        }
      }
    }
  }
  // ev lane (L, m): coordinate 2m of plane byte 2jp + L; od: 2m + 1.
  const std::size_t dim = codes.dim;
#pragma GCC unroll 4
  for (int i = 0; i < kGroup; ++i) {
    const __m256i lo = _mm256_unpacklo_epi32(ev[i], od[i]), hi = _mm256_unpackhi_epi32(ev[i], od[i]);
    const __m256i sums[2] = {_mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31)};
    for (int L = 0; L < (kTwo ? 2 : 1); ++L) {
      const std::size_t j0 = 8 * (2 * jp + L);
      std::int32_t* a = acc + i * acc_stride + j0;
      if (dim - j0 >= 8) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(a),
                            _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)), sums[L]));
      } else {
        alignas(32) std::uint32_t s[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(s), sums[L]);
        for (std::size_t c = 0; c < dim - j0; ++c)
          a[c] = static_cast<std::int32_t>(static_cast<std::uint32_t>(a[c]) + s[c]);
      }
    }
  }
}

template <int kBits, int kGroup>
VQ_AVX2 void accumulate_group(const PlaneBlocks& codes, const Table& tbl, std::size_t n_blocks, std::size_t n,
                              const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  const std::size_t pb = (codes.dim + 7) / 8;
  for (std::size_t b0 = 0; b0 < n_blocks; b0 += kValueRange) {
    const std::size_t b1 = b0 + kValueRange < n_blocks ? b0 + kValueRange : n_blocks;
    std::uint32_t bias[kGroup];
    for (int i = 0; i < kGroup; ++i) {
      std::uint32_t s = 0;
      for (std::size_t t = 16 * b0; t < 16 * b1; ++t) s += static_cast<std::uint32_t>(w16[i * n + t]);
      bias[i] = 0u - 128u * s;
    }
    for (std::size_t jp = 0; jp < pb / 2; ++jp)
      accumulate_pair<kBits, kGroup, true>(codes, tbl, b0, b1, jp, n, w16, bias, acc, acc_stride);
    if (pb % 2) accumulate_pair<kBits, kGroup, false>(codes, tbl, b0, b1, pb / 2, n, w16, bias, acc, acc_stride);
  }
}

template <int kBits>
VQ_AVX2 void accumulate_blocks_bits(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks,
                                    std::size_t n_q, const std::int16_t* w16, std::int32_t* acc,
                                    std::size_t acc_stride) {
  const Table tbl = load_table(table, kBits, static_cast<char>(0x80));
  const std::size_t n = 16 * n_blocks;
  for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
    const std::int16_t* w = w16 + i0 * n;
    std::int32_t* a = acc + i0 * acc_stride;
    switch (n_q - i0) {
      case 1:
        accumulate_group<kBits, 1>(codes, tbl, n_blocks, n, w, a, acc_stride);
        break;
      case 2:
        accumulate_group<kBits, 2>(codes, tbl, n_blocks, n, w, a, acc_stride);
        break;
      case 3:
        accumulate_group<kBits, 3>(codes, tbl, n_blocks, n, w, a, acc_stride);
        break;
      default:
        accumulate_group<kBits, 4>(codes, tbl, n_blocks, n, w, a, acc_stride);
    }
  }
}

}  // namespace

bool available() {
  static const bool ok = __builtin_cpu_supports("avx2");
  return ok;
}

void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  with_bits<5>(codes.bits, [&](auto bits) { score_blocks_bits<bits>(codes, table, n_blocks, n_q, q8, out); });
}

void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  with_bits<5>(codes.bits,
               [&](auto bits) { accumulate_blocks_bits<bits>(codes, table, n_blocks, n_q, w16, acc, acc_stride); });
}

}  // namespace veloxquant::kernels::avx2
