// AVX-512 kernels for ≤ 4-bit plane codes, written with intrinsics because they need
// instructions Highway 1.0.3 does not expose (VNNI dot products, byte permutes, GF(2) affine).
// 64 coordinates are decoded at once into code bytes (ChunkDecoder); a 16-entry table then maps
// codes to values (pshufb for int8 key centroids, vpermw for int16 value centroids, vpermps
// for float centroids). Keys are scored with vpdpbusd; values are accumulated with vpdpwssd on
// plain records and with vpdpbusd on record blocks (pack/plane_blocks.h).
// GCC 12 reports -W(maybe-)uninitialized inside its own avx512fintrin.h for the undefined
// pass-through operands of extract/convert/broadcast intrinsics (a known false positive).
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/bit_dispatch.h"
#include "kernels/kernels.h"
#include "kernels/planes_avx512.h"
#include "kernels/prefetch_stream.h"

namespace veloxquant::kernels::avx512 {

#define VQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
// Ice Lake / Zen 4 and later add byte permutes (VBMI) and GF(2) affine transforms (GFNI).
#define VQ_AVX512_ICL __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,gfni")))

namespace {

// Calls f(std::integral_constant<int, k>{}) with k = count for 1..3, else 4: the kernels are
// templates over the query heads per pass (up to 4), and over the bits per code (bit_dispatch.h).
// f is a lambda without the AVX-512 target, so vectors cross it by reference only: by value, their
// calling convention differs between the two sides (it works only where everything inlines).
template <class F>
inline void with_count(std::size_t count, F&& f) {
  switch (count) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    default:
      return f(std::integral_constant<int, 4>{});
  }
}

// vpdpwssd / vpdpbusd updating the accumulator register in place. GCC 12 compiles the intrinsics
// with a copy of every loop-carried accumulator per iteration (and spills when 16 are live),
// which costs more than the dot products; the "+v" constraint ties input and output.
VQ_AVX512 inline __m512i dpwssd(__m512i acc, __m512i a, __m512i b) {
  asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}
VQ_AVX512 inline __m512i dpbusd(__m512i acc, __m512i u8, __m512i s8) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8));
  return acc;
}
// The same with the four signed bytes at s8 broadcast to every 32-bit lane from memory.
VQ_AVX512 inline __m512i dpbusd_broadcast(__m512i acc, __m512i u8, const std::int8_t* s8) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u8), "m"(*reinterpret_cast<const std::int8_t(*)[4]>(s8)));
  return acc;
}

// A 16-byte table repeated in each 128-bit lane, for pshufb.
VQ_AVX512 inline __m512i lane_table(const void* table) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128(static_cast<const __m128i*>(table)));
}

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

// Code bytes of 64 coordinates from one load: a byte permute gathers, for each group of 8
// coordinates, its byte of every plane into one 64-bit word (plane p at byte 7 − p), and a GF(2)
// affine transform with the identity-like selector transposes each word's 8×8 bit matrix, so
// byte i of the word becomes the code of coordinate i of the group. Used when a chunk's planes
// span at most 64 bytes (dim ≤ 144 at 4 bits, ≤ 224 at 3); otherwise the mask adds above. In a
// last, partial chunk the lanes past the dimension get arbitrary codes: callers zero their query
// lanes or do not store those accumulators.
template <int kBits>
struct ChunkDecoder {
  std::size_t plane_bytes;
  bool one_load;
  std::size_t span_bytes;  // bytes of one chunk's load: plane p's 8 bytes at p·plane_bytes
  __mmask64 gathered;
  __m512i gather;

  VQ_AVX512_ICL explicit ChunkDecoder(std::size_t pb)
      : plane_bytes(pb), one_load((kBits - 1) * pb + 8 <= 64), span_bytes((kBits - 1) * pb + 8) {
    alignas(64) std::uint8_t idx[64] = {};
    std::uint64_t used = 0;
    for (int g = 0; g < 8; ++g)
      for (int p = 0; p < kBits; ++p) {
        const int byte = 8 * g + 7 - p;
        idx[byte] = static_cast<std::uint8_t>(one_load ? p * pb + g : 0);
        used |= 1ull << byte;
      }
    gather = _mm512_load_si512(idx);
    gathered = _cvtu64_mask64(used);
  }

  // The bytes the chunk at j may load: its span, cut at the end of the record's planes.
  VQ_AVX512_ICL __mmask64 load_mask(std::size_t j) const {
    const std::size_t left = kBits * plane_bytes - j / 8, bytes = left < span_bytes ? left : span_bytes;
    return _cvtu64_mask64(~0ull >> (64 - bytes));
  }

  // One chunk when one_load holds; `mask` = load_mask(j).
  VQ_AVX512_ICL __m512i one_load_at(const std::uint8_t* planes, std::size_t j, __mmask64 mask) const {
    const __m512i raw = _mm512_maskz_loadu_epi8(mask, planes + j / 8);
    const __m512i words = _mm512_maskz_permutexvar_epi8(gathered, gather, raw);
    return _mm512_gf2p8affine_epi64_epi8(_mm512_set1_epi64(0x8040201008040201ll), words, 0);
  }

  VQ_AVX512_ICL __m512i at(const std::uint8_t* planes, std::size_t j, std::size_t valid) const {
    if (one_load) return one_load_at(planes, j, load_mask(j));
    if (valid < 64) return load_codes_partial<kBits>(planes, plane_bytes, j, valid);
    return load_codes<kBits>(planes, plane_bytes, j);
  }
};

// Lane masks of the four 16-lane quarters of a 64-coordinate chunk holding `valid` coordinates.
inline void quarter_masks(std::size_t valid, __mmask16 (&m)[4]) {
  for (int k = 0; k < 4; ++k) {
    const std::size_t lo = 16 * k;
    const std::size_t v = valid > lo ? (valid - lo < 16 ? valid - lo : 16) : 0;
    m[k] = static_cast<__mmask16>(v == 16 ? 0xFFFF : ((1u << v) - 1));
  }
}

// Records stream from DRAM at long context; the masked loads do not keep the hardware prefetchers
// far enough ahead, so each step prefetches the lines past the records it reads in two stages:
// into L2 far ahead (prefetcht1: Zen 4 and Intel fill L2 only, so the few L1 miss buffers are not
// held for a whole DRAM latency) and from there into L1 a little ahead. Measured at 32 768 tokens
// (docs/kv_cache.md): about 6 % faster than one T0 prefetch 4 KB ahead.
constexpr std::size_t kPrefetchL1 = 1024, kPrefetchL2 = 8192;
VQ_AVX512 inline void prefetch_ahead(const std::uint8_t* from, std::size_t bytes) {
  for (std::size_t b = 0; b < bytes; b += 64)
    _mm_prefetch(reinterpret_cast<const char*>(from + kPrefetchL1 + b), _MM_HINT_T0);
  for (std::size_t b = 0; b < bytes; b += 64)
    _mm_prefetch(reinterpret_cast<const char*>(from + kPrefetchL2 + b), _MM_HINT_T1);
}

// x[i][r] summed over its lanes, for 4 queries i × 4 records r: lane 4i + r of the result (so the
// 128-bit lane i holds query i's four records). Unused queries are zero vectors. Always inlined
// into the scoring loop (out of line, GCC 12 also warns falsely about the unpack intrinsics).
VQ_AVX512 __attribute__((always_inline)) inline __m512i reduce16(const __m512i (&x)[4][4]) {
  __m512i b[4];
  for (int i = 0; i < 4; ++i) {
    const __m512i a01 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(x[i][0], x[i][1]), _mm512_unpackhi_epi32(x[i][0], x[i][1]));
    const __m512i a23 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(x[i][2], x[i][3]), _mm512_unpackhi_epi32(x[i][2], x[i][3]));
    b[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(a01, a23), _mm512_unpackhi_epi64(a01, a23));  // lane L: [r0..r3]
  }
  const __m512i r01 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[0], b[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                       _mm512_shuffle_i32x4(b[0], b[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512i r23 = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2], b[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                       _mm512_shuffle_i32x4(b[2], b[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(r01, r23, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(r01, r23, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Integer scores of up to four queries (kGroup) against records four at a time: one decode of a
// record chunk serves every query, and one reduction tree finishes 16 scores.
template <int kBits, int kGroup, bool kOneLoad>
VQ_AVX512_ICL void score_u8_group(const PlaneCodes& codes, const __m512i& table, std::size_t n, const std::int8_t* q8,
                                  std::int32_t* out) {
  const __m512i tbl = table;  // a register copy: stores through `out` may alias the reference
  const std::size_t dim = codes.dim;
  const ChunkDecoder<kBits> dec((dim + 7) / 8);
  const std::uint8_t* base = codes.records + codes.offset;
  for (std::size_t t = 0; t < n; t += 4) {
    const std::size_t count = n - t < 4 ? n - t : 4;
    const std::uint8_t* rec[4];
    for (std::size_t r = 0; r < 4; ++r) rec[r] = base + (t + (r < count ? r : count - 1)) * codes.stride;
    prefetch_ahead(rec[0], 4 * codes.stride);
    __m512i x[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) x[i][r] = _mm512_setzero_si512();
    for (std::size_t j = 0; j < dim; j += 64) {
      const std::size_t valid = dim - j < 64 ? dim - j : 64;
      const __mmask64 lanes = _cvtu64_mask64(~0ull >> (64 - valid));  // query lanes past dim load as zero
      const __mmask64 load = kOneLoad ? dec.load_mask(j) : 0;
      __m512i q[kGroup];
#pragma GCC unroll 4
      for (int i = 0; i < kGroup; ++i) q[i] = _mm512_maskz_loadu_epi8(lanes, q8 + i * dim + j);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        const __m512i codes_r = kOneLoad ? dec.one_load_at(rec[r], j, load) : dec.at(rec[r], j, valid);
        const __m512i c = _mm512_shuffle_epi8(tbl, codes_r);
#pragma GCC unroll 4
        for (int i = 0; i < kGroup; ++i) x[i][r] = dpbusd(x[i][r], c, q[i]);
      }
    }
    // Stored from registers: reloading a spilled vector as scalars stalls store forwarding.
    const __m512i sums = reduce16(x);
    const __mmask8 keep = static_cast<__mmask8>((1u << count) - 1);
    _mm_mask_storeu_epi32(out + t, keep, _mm512_castsi512_si128(sums));
    if (kGroup > 1) _mm_mask_storeu_epi32(out + n + t, keep, _mm512_extracti32x4_epi32(sums, 1));
    if (kGroup > 2) _mm_mask_storeu_epi32(out + 2 * n + t, keep, _mm512_extracti32x4_epi32(sums, 2));
    if (kGroup > 3) _mm_mask_storeu_epi32(out + 3 * n + t, keep, _mm512_extracti32x4_epi32(sums, 3));
  }
}

template <int kBits>
VQ_AVX512_ICL void score_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                            const std::int8_t* q8, std::int32_t* out) {
  const __m512i tbl = lane_table(table);
  const std::size_t dim = codes.dim;
  const bool one_load = ChunkDecoder<kBits>((dim + 7) / 8).one_load;
  for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
    const std::int8_t* q = q8 + i0 * dim;
    std::int32_t* o = out + i0 * n;
    const std::size_t g = n_q - i0 < 4 ? n_q - i0 : 4;
    if (one_load) {
      with_count(g, [&](auto k) { score_u8_group<kBits, k, true>(codes, tbl, n, q, o); });
    } else {
      with_count(g, [&](auto k) { score_u8_group<kBits, k, false>(codes, tbl, n, q, o); });
    }
  }
}

// Blocks (pack/plane_blocks.h): one load holds a plane byte's 16-byte chunks of up to four planes,
// i.e. bit p of 8 coordinates of 16 records; two byte permutes and GF(2) transposes (as in
// ChunkDecoder) turn each 8-byte half into 64 code bytes, which a 16-entry table maps to bytes. In
// keys order a 32-bit lane then holds one record's 4 coordinates, in values order one coordinate's
// 4 records. A fifth plane's 8-byte half has one bit per code byte, in the same order: it selects
// the upper 16 entries of a 32-entry table (a masked pshufb).
struct BlockTable {
  __m512i low, high;  // entries 0..15 and 16..31, each repeated in every 128-bit lane
};

VQ_AVX512 inline BlockTable block_table(const void* table, int bits) {
  const __m512i low = lane_table(table);
  return {low, bits > 4 ? lane_table(static_cast<const std::uint8_t*>(table) + 16) : low};
}

VQ_AVX512 inline BlockTable negated(const BlockTable& t) {
  const __m512i zero = _mm512_setzero_si512();
  return {_mm512_sub_epi8(zero, t.low), _mm512_sub_epi8(zero, t.high)};
}

template <int kBits>
struct BlockDecoder {
  static constexpr int kGathered = std::min(kBits, 4);  // planes of the one load
  __m512i gather_low, gather_high;
  __mmask64 planes, load;

  VQ_AVX512_ICL BlockDecoder() {
    alignas(64) std::uint8_t low[64] = {}, high[64] = {};
    std::uint64_t used = 0;
    for (int k = 0; k < 8; ++k)  // word k: byte k of each half; plane p at byte 7 − p, as in ChunkDecoder
      for (int p = 0; p < kGathered; ++p) {
        low[8 * k + 7 - p] = static_cast<std::uint8_t>(16 * p + k);
        high[8 * k + 7 - p] = static_cast<std::uint8_t>(16 * p + 8 + k);
        used |= 1ull << (8 * k + 7 - p);
      }
    gather_low = _mm512_load_si512(low);
    gather_high = _mm512_load_si512(high);
    planes = _cvtu64_mask64(used);
    load = _cvtu64_mask64(~0ull >> (64 - 16 * kGathered));
  }

  // table[code] of the chunks of plane byte j in a block's planes segment `seg`: c0 from the low
  // halves, c1 from the high halves.
  VQ_AVX512_ICL void decode(const std::uint8_t* seg, std::size_t j, const BlockTable& table, __m512i& c0,
                            __m512i& c1) const {
    const __m512i transpose = _mm512_set1_epi64(0x8040201008040201ll);
    const std::uint8_t* chunks = seg + 16 * kBits * j;
    const __m512i raw = _mm512_maskz_loadu_epi8(load, chunks);
    const __m512i low = _mm512_maskz_permutexvar_epi8(planes, gather_low, raw);
    const __m512i high = _mm512_maskz_permutexvar_epi8(planes, gather_high, raw);
    const __m512i i0 = _mm512_gf2p8affine_epi64_epi8(transpose, low, 0);
    const __m512i i1 = _mm512_gf2p8affine_epi64_epi8(transpose, high, 0);
    c0 = _mm512_shuffle_epi8(table.low, i0);
    c1 = _mm512_shuffle_epi8(table.low, i1);
    if constexpr (kBits == 5) {
      std::uint64_t top[2];
      std::memcpy(top, chunks + 64, 16);
      c0 = _mm512_mask_shuffle_epi8(c0, _cvtu64_mask64(top[0]), table.high, i0);
      c1 = _mm512_mask_shuffle_epi8(c1, _cvtu64_mask64(top[1]), table.high, i1);
    }
  }
};

// Adds plane byte j's products of a block to acc[i][0] (c0) and acc[i][1] (c1) of each query.
template <int kBits, int kGroup>
VQ_AVX512_ICL inline __attribute__((always_inline)) void score_plane_byte(const BlockDecoder<kBits>& dec,
                                                                          const std::uint8_t* seg, std::size_t j,
                                                                          const BlockTable& tbl, const std::int8_t* q8,
                                                                          std::size_t q_row,
                                                                          __m512i (&acc)[kGroup][2]) {
  __m512i c0, c1;
  dec.decode(seg, j, tbl, c0, c1);
#pragma GCC unroll 4
  for (int i = 0; i < kGroup; ++i) {
    acc[i][0] = dpbusd_broadcast(acc[i][0], c0, q8 + i * q_row + 8 * j);
    acc[i][1] = dpbusd_broadcast(acc[i][1], c1, q8 + i * q_row + 8 * j + 4);
  }
}

// Key blocks: vpdpbusd adds 4 products per lane with the query's 4 bytes broadcast, so each lane
// sums one record's score and no reduction across lanes is needed (the record-major kernel above
// spends as much on its reduction tree as on its dot products). Four accumulators per query (c0
// and c1 of even and odd plane bytes): with one, its chain of 2·plane_bytes dependent vpdpbusd
// set the pace, not their throughput (1.15x slower).
template <int kBits, int kGroup>
VQ_AVX512_ICL void score_blocks_group(const PlaneBlocks& codes, const BlockTable& table, std::size_t n_blocks,
                                      const std::int8_t* q8, std::size_t q_row, std::int32_t* out) {
  const BlockTable tbl = table;  // a register copy: stores through `out` may alias the reference
  const BlockDecoder<kBits> dec;
  const std::size_t plane_bytes = (codes.dim + 7) / 8, n = 16 * n_blocks;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    const std::uint8_t* block = codes.blocks + b * codes.block_bytes;
    prefetch_ahead(block, codes.block_bytes);
    const std::uint8_t* seg = block + codes.offset;
    __m512i even[kGroup][2], odd[kGroup][2];
#pragma GCC unroll 4
    for (int i = 0; i < kGroup; ++i) even[i][0] = even[i][1] = odd[i][0] = odd[i][1] = _mm512_setzero_si512();
    std::size_t j = 0;
    for (; j + 1 < plane_bytes; j += 2) {
      score_plane_byte<kBits, kGroup>(dec, seg, j, tbl, q8, q_row, even);
      score_plane_byte<kBits, kGroup>(dec, seg, j + 1, tbl, q8, q_row, odd);
    }
    if (j < plane_bytes) score_plane_byte<kBits, kGroup>(dec, seg, j, tbl, q8, q_row, even);
#pragma GCC unroll 4
    for (int i = 0; i < kGroup; ++i) {
      const __m512i sum =
          _mm512_add_epi32(_mm512_add_epi32(even[i][0], even[i][1]), _mm512_add_epi32(odd[i][0], odd[i][1]));
      _mm512_storeu_si512(out + i * n + 16 * b, sum);
    }
  }
}

template <int kBits>
VQ_AVX512_ICL void score_blocks(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks,
                                std::size_t n_q, const std::int8_t* q8, std::int32_t* out) {
  const BlockTable tbl = block_table(table, kBits);
  const std::size_t q_row = 8 * ((codes.dim + 7) / 8), n = 16 * n_blocks;
  for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
    const std::int8_t* q = q8 + i0 * q_row;
    std::int32_t* o = out + i0 * n;
    with_count(n_q - i0, [&](auto k) { score_blocks_group<kBits, k>(codes, tbl, n_blocks, q, q_row, o); });
  }
}

// Value blocks: lane 4c + g of c0 (c1) holds coordinate 8j + c (8j + 4 + c) of records 4g..4g+3,
// so vpdpbusd with the 16 records' weight bytes repeated in each 128-bit lane adds 4 weighted
// codes per lane. vpdpbusd multiplies unsigned by signed bytes: 15-bit weights w ≥ 0 are split
// into bytes, w = 256·high + low, the low bytes always used and the high bytes only for blocks
// where some query has one (softmax weights are mostly far below the maximum). Coordinates are
// the outer loop (two accumulators per query and byte stay in registers) over a range of blocks
// that stays in L1/L2; each range ends with one sum over the 4 groups.
constexpr std::size_t kValueRange = 32;  // blocks per pass over the coordinates: 16·32 records ≈ 26 KB at tq3

// Weight bytes of one range: [query][16·kValueRange] low and high bytes of max(±w, 0).
struct WeightBytes {
  alignas(64) std::uint8_t low[4][16 * kValueRange], high[4][16 * kValueRange];
};

// Splits m (a multiple of 16) weights max(w, 0) — or max(−w, 0) when `negate` — into bytes;
// returns whether any w < 0.
VQ_AVX512 inline bool split_weights(const std::int16_t* w, std::size_t m, bool negate, std::uint8_t* low,
                                    std::uint8_t* high) {
  const __m512i zero = _mm512_setzero_si512();
  __mmask32 negative = 0;
  for (std::size_t k = 0; k < m; k += 32) {
    const __mmask32 lanes = m - k >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << (m - k)) - 1);
    __m512i x = _mm512_maskz_loadu_epi16(lanes, w + k);
    negative |= _mm512_movepi16_mask(x);
    x = _mm512_max_epi16(negate ? _mm512_sub_epi16(zero, x) : x, zero);
    _mm256_mask_storeu_epi8(low + k, lanes, _mm512_cvtepi16_epi8(x));
    _mm256_mask_storeu_epi8(high + k, lanes, _mm512_cvtepi16_epi8(_mm512_srli_epi16(x, 8)));
  }
  return negative != 0;
}

// Blocks [b0, b1) for kGroup queries whose weight bytes `wb` start at block b0.
template <int kBits, int kGroup>
VQ_AVX512_ICL void accumulate_blocks_range(const PlaneBlocks& codes, const BlockDecoder<kBits>& dec,
                                           const BlockTable& tbl, std::size_t b0, std::size_t b1, const WeightBytes& wb,
                                           std::int32_t* acc, std::size_t acc_stride) {
  std::uint64_t high_used = 0;  // bit b − b0: some query has a high weight byte in block b
  for (std::size_t b = b0; b < b1; ++b)
    for (int i = 0; i < kGroup; ++i) {
      std::uint64_t h[2];
      std::memcpy(h, wb.high[i] + 16 * (b - b0), 16);
      if (h[0] | h[1]) high_used |= 1ull << (b - b0);
    }
  const __m512i gather_coords = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  const std::size_t plane_bytes = (codes.dim + 7) / 8;
  for (std::size_t j = 0; j < plane_bytes; ++j) {
    prefetch_stream_part(j, plane_bytes);  // the caller's next reads, spread over this compute-bound pass
    __m512i a_lo[kGroup][2], a_hi[kGroup][2];
#pragma GCC unroll 4
    for (int i = 0; i < kGroup; ++i)
      for (int v = 0; v < 2; ++v) a_lo[i][v] = a_hi[i][v] = _mm512_setzero_si512();
    for (std::size_t b = b0; b < b1; ++b) {
      const std::uint8_t* block = codes.blocks + b * codes.block_bytes;
      if (j == 0) prefetch_ahead(block, codes.block_bytes);
      __m512i c0, c1;
      dec.decode(block + codes.offset, j, tbl, c0, c1);
#pragma GCC unroll 4
      for (int i = 0; i < kGroup; ++i) {
        const __m512i w = lane_table(wb.low[i] + 16 * (b - b0));
        a_lo[i][0] = dpbusd(a_lo[i][0], w, c0);
        a_lo[i][1] = dpbusd(a_lo[i][1], w, c1);
      }
      if (high_used >> (b - b0) & 1) {
#pragma GCC unroll 4
        for (int i = 0; i < kGroup; ++i) {
          const __m512i w = lane_table(wb.high[i] + 16 * (b - b0));
          a_hi[i][0] = dpbusd(a_hi[i][0], w, c0);
          a_hi[i][1] = dpbusd(a_hi[i][1], w, c1);
        }
      }
    }
    // Per query: 256·high + low, the 4 groups of each 128-bit lane summed (lane c: coordinates
    // c and 4 + c), and the 8 sums gathered into coordinate order.
    const std::size_t valid = codes.dim - 8 * j < 8 ? codes.dim - 8 * j : 8;
    const __mmask8 keep = static_cast<__mmask8>((1u << valid) - 1);
#pragma GCC unroll 4
    for (int i = 0; i < kGroup; ++i) {
      const __m512i s0 = _mm512_add_epi32(a_lo[i][0], _mm512_slli_epi32(a_hi[i][0], 8));
      const __m512i s1 = _mm512_add_epi32(a_lo[i][1], _mm512_slli_epi32(a_hi[i][1], 8));
      const __m512i pairs = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1), _mm512_unpackhi_epi32(s0, s1));
      const __m512i sums = _mm512_add_epi32(pairs, _mm512_shuffle_epi32(pairs, _MM_PERM_BADC));
      const __m256i coords = _mm512_castsi512_si256(_mm512_permutexvar_epi32(gather_coords, sums));
      std::int32_t* a = acc + i * acc_stride + 8 * j;
      _mm256_mask_storeu_epi32(a, keep, _mm256_add_epi32(_mm256_maskz_loadu_epi32(keep, a), coords));
    }
  }
}

template <int kBits, int kGroup>
VQ_AVX512_ICL void accumulate_blocks_group(const PlaneBlocks& codes, const BlockDecoder<kBits>& dec,
                                           const BlockTable& table, const BlockTable& negated_table,
                                           std::size_t n_blocks, const std::int16_t* w16, std::int32_t* acc,
                                           std::size_t acc_stride) {
  const BlockTable tbl = table, negated_tbl = negated_table;  // register copies (see score_blocks_group)
  const std::size_t n = 16 * n_blocks;
  WeightBytes wb;
  for (std::size_t b0 = 0; b0 < n_blocks; b0 += kValueRange) {
    const std::size_t b1 = b0 + kValueRange < n_blocks ? b0 + kValueRange : n_blocks, m = 16 * (b1 - b0);
    bool negative = false;
    for (int i = 0; i < kGroup; ++i) negative |= split_weights(w16 + i * n + 16 * b0, m, false, wb.low[i], wb.high[i]);
    accumulate_blocks_range<kBits, kGroup>(codes, dec, tbl, b0, b1, wb, acc, acc_stride);
    if (!negative) continue;
    // Σ w·v = Σ max(w, 0)·v + Σ max(−w, 0)·(−v)
    for (int i = 0; i < kGroup; ++i) split_weights(w16 + i * n + 16 * b0, m, true, wb.low[i], wb.high[i]);
    accumulate_blocks_range<kBits, kGroup>(codes, dec, negated_tbl, b0, b1, wb, acc, acc_stride);
  }
}

template <int kBits>
VQ_AVX512_ICL void accumulate_blocks(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks,
                                     std::size_t n_q, const std::int16_t* w16, std::int32_t* acc,
                                     std::size_t acc_stride) {
  const BlockDecoder<kBits> dec;
  const BlockTable tbl = block_table(table, kBits), negated_tbl = negated(tbl);
  const std::size_t n = 16 * n_blocks;
  for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
    const std::int16_t* w = w16 + i0 * n;
    std::int32_t* a = acc + i0 * acc_stride;
    with_count(n_q - i0, [&](auto k) {
      accumulate_blocks_group<kBits, k>(codes, dec, tbl, negated_tbl, n_blocks, w, a, acc_stride);
    });
  }
}

// acc_i += Σ_t w_it·centroid(t, ·) for up to four queries, 64 coordinates of accumulators per
// head held in registers while a block of records streams through.
template <int kBits, int kGroup>
VQ_AVX512_ICL void accumulate_group(const PlaneCodes& codes, const ChunkDecoder<kBits>& dec, std::size_t t0,
                                    std::size_t t1, std::size_t n, const float* w, float* acc, std::size_t acc_stride) {
  const std::size_t dim = codes.dim;
  alignas(64) float padded[16] = {};
  std::memcpy(padded, codes.centroids, sizeof(float) << kBits);
  const __m512 table = _mm512_load_ps(padded);
  for (std::size_t j = 0; j < dim; j += 64) {
    const std::size_t valid = dim - j < 64 ? dim - j : 64;
    __mmask16 m[4];
    quarter_masks(valid, m);
    __m512 a[kGroup][4];
    for (int h = 0; h < kGroup; ++h)
      for (int k = 0; k < 4; ++k) a[h][k] = _mm512_maskz_loadu_ps(m[k], acc + h * acc_stride + j + 16 * k);
    for (std::size_t t = t0; t < t1; ++t) {
      const __m512i idx = dec.at(codes.records + t * codes.stride + codes.offset, j, valid);
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
VQ_AVX512_ICL void accumulate(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                              std::size_t acc_stride) {
  constexpr std::size_t kRecordBlock = 32;
  const ChunkDecoder<kBits> dec((codes.dim + 7) / 8);
  for (std::size_t t0 = 0; t0 < n; t0 += kRecordBlock) {
    const std::size_t t1 = t0 + kRecordBlock < n ? t0 + kRecordBlock : n;
    for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
      const float* wi = w + i0 * n;
      float* ai = acc + i0 * acc_stride;
      with_count(n_q - i0, [&](auto k) { accumulate_group<kBits, k>(codes, dec, t0, t1, n, wi, ai, acc_stride); });
    }
  }
}

// Byte indices that interleave the codes of two records a, b as 16-bit lanes (a_c, b_c) for the 16
// coordinates c of quarter k of a 64-coordinate chunk; odd bytes are zeroed by the caller's mask.
VQ_AVX512 inline __m512i pair_index(int k) {
  alignas(64) std::uint8_t idx[64];
  for (int b = 0; b < 64; ++b) {
    const int word = b / 2, c = 16 * k + word / 2;
    idx[b] = static_cast<std::uint8_t>(b % 2 ? 0 : (word % 2 ? 64 + c : c));
  }
  return _mm512_load_si512(idx);
}

template <int kBits, bool kOneLoad>
VQ_AVX512_ICL inline __m512i decode_chunk(const ChunkDecoder<kBits>& dec, const std::uint8_t* rec, std::size_t j,
                                          std::size_t valid, __mmask64 load) {
  if constexpr (kOneLoad) return dec.one_load_at(rec, j, load);
  return dec.at(rec, j, valid);
}

// a_h += w_h,t·value(ca) + w_h,t+1·value(cb) for the 64 coordinates of a chunk: each 32-bit lane
// holds the int16 values of records t and t+1 at one coordinate, so one vpdpwssd adds both.
template <int kGroup>
VQ_AVX512_ICL inline void add_pair(__m512i ca, __m512i cb, const __m512i (&pairs)[4], __m512i table16,
                                   const std::int16_t* w, std::size_t n2, __m512i (&a)[kGroup][4]) {
  const __mmask64 even_bytes = _cvtu64_mask64(0x5555555555555555ull);
  __m512i v[4];
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k)
    v[k] = _mm512_permutexvar_epi16(_mm512_maskz_permutex2var_epi8(even_bytes, ca, pairs[k], cb), table16);
#pragma GCC unroll 4
  for (int h = 0; h < kGroup; ++h) {
    std::int32_t wp;
    std::memcpy(&wp, w + h * n2, 4);
    const __m512i wv = _mm512_set1_epi32(wp);
#pragma GCC unroll 4
    for (int k = 0; k < 4; ++k) a[h][k] = dpwssd(a[h][k], v[k], wv);
  }
}

template <int kBits, int kGroup, bool kOneLoad>
VQ_AVX512_ICL inline void accumulate_i16_records(const ChunkDecoder<kBits>& dec, const PlaneCodes& codes, std::size_t j,
                                                 std::size_t valid, std::size_t t0, std::size_t t1, std::size_t n2,
                                                 const std::int16_t* w16, __m512i table16, const __m512i (&pairs)[4],
                                                 __m512i (&a)[kGroup][4]) {
  const std::uint8_t* base = codes.records + codes.offset;
  const __mmask64 load = kOneLoad ? dec.load_mask(j) : 0;
  std::size_t t = t0;
  for (; t + 1 < t1; t += 2) {
    const std::uint8_t* rec = base + t * codes.stride;
    if (j == 0) prefetch_ahead(rec, 2 * codes.stride);
    add_pair<kGroup>(decode_chunk<kBits, kOneLoad>(dec, rec, j, valid, load),
                     decode_chunk<kBits, kOneLoad>(dec, rec + codes.stride, j, valid, load), pairs, table16, w16 + t,
                     n2, a);
  }
  if (t < t1) {  // the last of an odd count, paired with itself under the zero pad weight
    const __m512i c = decode_chunk<kBits, kOneLoad>(dec, base + t * codes.stride, j, valid, load);
    add_pair<kGroup>(c, c, pairs, table16, w16 + t, n2, a);
  }
}

// acc_i += Σ_t w_it·table[code(t, ·)] in int32 for up to four queries, 64 coordinates of
// accumulators per query held in registers while a block of records streams through.
template <int kBits, int kGroup>
VQ_AVX512_ICL void accumulate_i16_group(const PlaneCodes& codes, const ChunkDecoder<kBits>& dec, const __m512i& table,
                                        std::size_t t0, std::size_t t1, std::size_t n2, const std::int16_t* w16,
                                        std::int32_t* acc, std::size_t acc_stride) {
  const __m512i table16 = table;  // a register copy (see score_blocks_group)
  const std::size_t dim = codes.dim;
  const __m512i pairs[4] = {pair_index(0), pair_index(1), pair_index(2), pair_index(3)};
  for (std::size_t j = 0; j < dim; j += 64) {
    const std::size_t valid = dim - j < 64 ? dim - j : 64;
    __mmask16 m[4];
    quarter_masks(valid, m);
    __m512i a[kGroup][4];
    for (int h = 0; h < kGroup; ++h)
      for (int k = 0; k < 4; ++k) a[h][k] = _mm512_maskz_loadu_epi32(m[k], acc + h * acc_stride + j + 16 * k);
    if (dec.one_load)
      accumulate_i16_records<kBits, kGroup, true>(dec, codes, j, valid, t0, t1, n2, w16, table16, pairs, a);
    else
      accumulate_i16_records<kBits, kGroup, false>(dec, codes, j, valid, t0, t1, n2, w16, table16, pairs, a);
    for (int h = 0; h < kGroup; ++h)
      for (int k = 0; k < 4; ++k) _mm512_mask_storeu_epi32(acc + h * acc_stride + j + 16 * k, m[k], a[h][k]);
  }
}

template <int kBits>
VQ_AVX512_ICL void accumulate_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                                  const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  constexpr std::size_t kRecordBlock = 32;  // even: pairs never straddle blocks
  alignas(64) std::int16_t words[32] = {};
  for (int k = 0; k < (1 << kBits); ++k) words[k] = table[k];
  const __m512i table16 = _mm512_load_si512(words);
  const ChunkDecoder<kBits> dec((codes.dim + 7) / 8);
  const std::size_t n2 = (n + 1) / 2 * 2;
  for (std::size_t t0 = 0; t0 < n; t0 += kRecordBlock) {
    const std::size_t t1 = t0 + kRecordBlock < n ? t0 + kRecordBlock : n;
    for (std::size_t i0 = 0; i0 < n_q; i0 += 4) {
      const std::int16_t* wi = w16 + i0 * n2;
      std::int32_t* ai = acc + i0 * acc_stride;
      with_count(n_q - i0,
                 [&](auto k) { accumulate_i16_group<kBits, k>(codes, dec, table16, t0, t1, n2, wi, ai, acc_stride); });
    }
  }
}

}  // namespace

void accumulate_planes_i16(const PlaneCodes& codes, const std::int8_t* table, std::size_t n, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  with_bits<4>(codes.bits, [&](auto bits) { accumulate_i16<bits>(codes, table, n, n_q, w16, acc, acc_stride); });
}

bool available() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi") &&
                         __builtin_cpu_supports("gfni");
  return ok;
}

void score_planes_u8(const PlaneCodes& codes, const std::uint8_t* table, std::size_t n, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  with_bits<4>(codes.bits, [&](auto bits) { score_u8<bits>(codes, table, n, n_q, q8, out); });
}

void score_blocks_u8(const PlaneBlocks& codes, const std::uint8_t* table, std::size_t n_blocks, std::size_t n_q,
                     const std::int8_t* q8, std::int32_t* out) {
  with_bits<5>(codes.bits, [&](auto bits) { score_blocks<bits>(codes, table, n_blocks, n_q, q8, out); });
}

void accumulate_blocks_i16(const PlaneBlocks& codes, const std::int8_t* table, std::size_t n_blocks, std::size_t n_q,
                           const std::int16_t* w16, std::int32_t* acc, std::size_t acc_stride) {
  with_bits<5>(codes.bits,
               [&](auto bits) { accumulate_blocks<bits>(codes, table, n_blocks, n_q, w16, acc, acc_stride); });
}

void accumulate_planes(const PlaneCodes& codes, std::size_t n, std::size_t n_q, const float* w, float* acc,
                       std::size_t acc_stride) {
  with_bits<4>(codes.bits, [&](auto bits) { accumulate<bits>(codes, n, n_q, w, acc, acc_stride); });
}

}  // namespace veloxquant::kernels::avx512

#pragma GCC diagnostic pop
