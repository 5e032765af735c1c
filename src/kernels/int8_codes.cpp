#include "kernels/int8_codes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "pack/bitplane.h"
#include "pack/plane_blocks.h"
#include "util/half.h"

namespace veloxquant::kernels {

namespace {

// The fp16 scales of n records as floats (all 1 without scales), converted with SIMD.
void record_scales_of(const PlaneCodes& codes, std::size_t n, std::vector<float>& out) {
  out.assign(n, 1.0f);
  if (codes.scale_offset < 0) return;
  thread_local std::vector<std::uint16_t> halves;
  halves.resize(n);
  for (std::size_t t = 0; t < n; ++t) {
    const std::uint8_t* rec = codes.records + t * codes.stride;
    __builtin_prefetch(rec + 4096);  // this is the first touch of a block of records streaming from DRAM
    halves[t] = load_u16(rec + codes.scale_offset);
  }
  halves_to_floats(n, halves.data(), out.data());
}

// The fp16 scales at scale_offset of n_blocks blocks' records as floats.
void block_scales_of(const PlaneBlocks& codes, std::size_t scale_offset, std::size_t n_blocks,
                     std::vector<float>& out) {
  thread_local std::vector<std::uint16_t> halves;
  const std::size_t n = kBlockRecords * n_blocks;
  halves.resize(n);
  for (std::size_t b = 0; b < n_blocks; ++b)
    std::memcpy(halves.data() + kBlockRecords * b, codes.blocks + b * codes.block_bytes + scale_offset,
                2 * kBlockRecords);
  out.resize(n);
  halves_to_floats(n, halves.data(), out.data());
}

// The records of n_blocks value blocks copied out as plain records [scale][planes], for the float
// path of rows that integers cannot take.
PlaneCodes unblocked_values(const PlaneBlocks& codes, std::size_t scale_offset, const float* centroids,
                            std::size_t n_blocks, std::vector<std::uint8_t>& buf) {
  const std::size_t pb = plane_bytes(codes.dim), stride = 2 + codes.bits * pb;
  buf.resize(kBlockRecords * n_blocks * stride);
  for (std::size_t t = 0; t < kBlockRecords * n_blocks; ++t) {
    const std::uint8_t* block = codes.blocks + t / kBlockRecords * codes.block_bytes;
    get_block_scale(block + scale_offset, t % kBlockRecords, buf.data() + t * stride);
    get_block_planes(BlockOrder::kValues, block + codes.offset, codes.bits, pb, t % kBlockRecords,
                     buf.data() + t * stride + 2);
  }
  return PlaneCodes{buf.data(), stride, 2, codes.dim, codes.bits, centroids, 0};
}

// Weights rounded to 16 bits relative to the largest of a run of records, so that the int32
// sums of up to kIntChunk records times int8 values stay exact. factor: the float value of one
// unit (0 for an all-zero row); false where the row must take the float path: non-finite
// weights, or weights so small (below ~1e-34) that 32767/max overflows.
constexpr std::size_t kIntChunk = 512;
bool round_weights(std::size_t m, const float* w, const float* record_scales, float codebook_scale,
                   std::vector<float>& scaled, std::int16_t* w16, float& factor) {
  scaled.resize(m);
  factor = 0.0f;
  const float wmax = scale_max_abs(m, w, record_scales, scaled.data());
  if (!std::isfinite(wmax) || !std::isfinite(32767.0f / wmax)) return false;
  if (wmax == 0.0f) return true;
  round_to_i16(m, scaled.data(), 32767.0f / wmax, w16);
  factor = wmax / 32767.0f * codebook_scale;
  return true;
}

}  // namespace

Int8Codebook make_int8_codebook(const float* centroids, int bits) {
  if (bits < 1 || bits > kMaxInt8Bits)
    throw std::invalid_argument("int8 codebook: " + std::to_string(bits) + " bits (need 1.." +
                                std::to_string(kMaxInt8Bits) + ")");
  Int8Codebook cb;
  float cmax = 0.0f;
  for (int k = 0; k < (1 << bits); ++k) cmax = std::max(cmax, std::fabs(centroids[k]));
  cb.scale = cmax / 127.0f;
  for (int k = 0; k < (1 << bits); ++k) {
    const long v = cmax > 0 ? std::lround(centroids[k] / cb.scale) : 0;
    cb.table[k] = static_cast<std::uint8_t>(128 + v);
    cb.values[k] = static_cast<std::int8_t>(v);
  }
  return cb;
}

namespace {

// Queries rounded to int8 rows: value j ≈ q_j·127/max|q|.
struct Int8Queries {
  std::vector<std::int8_t> q8;          // [n_q][row], zero past dim
  std::vector<float> scale;             // per query: max|q|/127
  std::vector<std::int32_t> sum;        // per query: Σ_j q8_j (the table's +128 bias times this is removed)
  std::vector<std::size_t> float_rows;  // queries that cannot be rounded (scale 0, q8 zero)
};

bool roundable(float qmax) { return std::isfinite(qmax) && (qmax == 0.0f || std::isfinite(127.0f / qmax)); }

void round_queries(std::size_t dim, std::size_t row, std::size_t n_q, const float* q, std::size_t q_stride,
                   Int8Queries& out) {
  thread_local std::vector<std::int16_t> rounded;
  rounded.resize(dim);
  out.q8.assign(n_q * row, 0);
  out.scale.assign(n_q, 0.0f);
  out.sum.assign(n_q, 0);
  out.float_rows.clear();
  for (std::size_t i = 0; i < n_q; ++i) {
    const float* qi = q + i * q_stride;
    const float qmax = max_abs(dim, qi);
    if (!roundable(qmax)) {  // NaN/Inf, or so small that 127/max overflows: rounding would be undefined
      out.float_rows.push_back(i);
      continue;
    }
    const float inv = qmax > 0 ? 127.0f / qmax : 0.0f;
    round_to_i16(dim, qi, inv, rounded.data());  // in [−127, 127], half away from zero
    const std::int16_t* r16 = rounded.data();
    std::int8_t* qo = out.q8.data() + i * row;  // a local pointer: no thread-local lookup per element
    std::int32_t sum = 0;
    for (std::size_t j = 0; j < dim; ++j) {
      qo[j] = static_cast<std::int8_t>(r16[j]);
      sum += r16[j];
    }
    out.scale[i] = qmax / 127.0f;
    out.sum[i] = sum;
  }
}

// Attention scores one set of queries against many runs of records in turn, so the last few
// roundings on this thread are kept with the values they came from and reused when the values
// match bit for bit (comparing costs a fraction of rounding again). Four entries: an outlier
// split quantizer alternates between up to four (core, part) query slices.
const Int8Queries& rounded_queries(std::size_t dim, std::size_t row, std::size_t n_q, const float* q,
                                   std::size_t q_stride) {
  struct Entry {
    std::size_t dim = 0, row = 0, n_q = 0;
    std::vector<float> source;  // [n_q][dim]
    Int8Queries queries;
  };
  thread_local Entry entries[4];
  thread_local std::size_t next = 0;
  for (Entry& e : entries) {
    if (e.dim != dim || e.row != row || e.n_q != n_q || e.source.empty()) continue;
    std::size_t i = 0;
    while (i < n_q && std::memcmp(e.source.data() + i * dim, q + i * q_stride, dim * sizeof(float)) == 0) ++i;
    if (i == n_q) return e.queries;
  }
  Entry& e = entries[next];
  next = (next + 1) % 4;
  e.dim = dim;
  e.row = row;
  e.n_q = n_q;
  e.source.resize(n_q * dim);
  for (std::size_t i = 0; i < n_q; ++i) std::memcpy(e.source.data() + i * dim, q + i * q_stride, dim * sizeof(float));
  round_queries(dim, row, n_q, q, q_stride, e.queries);
  return e.queries;
}

// out[i·n + t] = record_scale[t]·scale_i·codebook_scale·(raw[i·n + t] − 128·sum_i).
void finish_scores(const Int8Queries& queries, float codebook_scale, const std::int32_t* raw,
                   const float* record_scales, std::size_t n, std::size_t n_q, float* out) {
  for (std::size_t i = 0; i < n_q; ++i) {
    scale_ints(n, raw + i * n, 128 * queries.sum[i], record_scales, queries.scale[i] * codebook_scale, out + i * n);
  }
}

}  // namespace

void score_planes_int8(const PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n, std::size_t n_q,
                       const float* q, std::size_t q_stride, float* out) {
  thread_local std::vector<std::int32_t> raw;
  thread_local std::vector<float> record_scales;
  const Int8Queries& queries = rounded_queries(codes.dim, codes.dim, n_q, q, q_stride);
  raw.resize(n_q * n);
  score_planes_u8(codes, codebook.table, n, n_q, queries.q8.data(), raw.data());
  record_scales_of(codes, n, record_scales);  // after the kernel, which streamed the records in
  finish_scores(queries, codebook.scale, raw.data(), record_scales.data(), n, n_q, out);
  for (std::size_t i : queries.float_rows) score_planes(codes, n, 1, q + i * q_stride, q_stride, out + i * n);
}

bool score_blocks_int8(const PlaneBlocks& codes, std::size_t scale_offset, const Int8Codebook& codebook,
                       std::size_t n_blocks, std::size_t n_q, const float* q, std::size_t q_stride, float* out) {
  thread_local std::vector<std::int32_t> raw;
  thread_local std::vector<float> record_scales;
  const std::size_t n = kBlockRecords * n_blocks;
  const Int8Queries& queries = rounded_queries(codes.dim, 8 * plane_bytes(codes.dim), n_q, q, q_stride);
  if (!queries.float_rows.empty()) return false;
  raw.resize(n_q * n);
  score_blocks_u8(codes, codebook.table, n_blocks, n_q, queries.q8.data(), raw.data());
  block_scales_of(codes, scale_offset, n_blocks, record_scales);
  finish_scores(queries, codebook.scale, raw.data(), record_scales.data(), n, n_q, out);
  return true;
}

void accumulate_planes_int16(const PlaneCodes& codes, const Int8Codebook& codebook, std::size_t n, std::size_t n_q,
                             const float* w, float* acc, std::size_t acc_stride) {
  const std::size_t dim = codes.dim;
  thread_local std::vector<std::int16_t> w16;
  thread_local std::vector<std::int32_t> sums;
  thread_local std::vector<float> scaled, record_scales, factor;
  for (std::size_t c0 = 0; c0 < n; c0 += kIntChunk) {
    const std::size_t m = std::min(kIntChunk, n - c0), m2 = (m + 1) / 2 * 2;
    PlaneCodes part = codes;
    part.records += c0 * codes.stride;
    record_scales_of(part, m, record_scales);
    w16.assign(n_q * m2, 0);
    sums.assign(n_q * dim, 0);
    factor.assign(n_q, 0.0f);
    for (std::size_t i = 0; i < n_q; ++i) {
      const float* wi = w + i * n + c0;
      if (!round_weights(m, wi, record_scales.data(), codebook.scale, scaled, w16.data() + i * m2, factor[i]))
        accumulate_planes(part, m, 1, wi, acc + i * acc_stride, acc_stride);  // NaN/Inf propagate
    }
    accumulate_planes_i16(part, codebook.values, m, n_q, w16.data(), sums.data(), dim);
    for (std::size_t i = 0; i < n_q; ++i)
      if (factor[i] != 0.0f) add_scaled_ints(dim, sums.data() + i * dim, factor[i], acc + i * acc_stride);
  }
}

void accumulate_blocks_int16(const PlaneBlocks& codes, std::size_t scale_offset, const float* centroids,
                             const Int8Codebook& codebook, std::size_t n_blocks, std::size_t n_q, const float* w,
                             float* acc, std::size_t acc_stride) {
  constexpr std::size_t kChunkBlocks = kIntChunk / kBlockRecords;
  const std::size_t dim = codes.dim, n = kBlockRecords * n_blocks;
  thread_local std::vector<std::int16_t> w16;
  thread_local std::vector<std::uint8_t> plain;
  thread_local std::vector<std::int32_t> sums;
  thread_local std::vector<float> scaled, record_scales, factor;
  for (std::size_t b0 = 0; b0 < n_blocks; b0 += kChunkBlocks) {
    const std::size_t nb = std::min(kChunkBlocks, n_blocks - b0), m = kBlockRecords * nb;
    PlaneBlocks part = codes;
    part.blocks += b0 * codes.block_bytes;
    block_scales_of(part, scale_offset, nb, record_scales);
    w16.assign(n_q * m, 0);
    sums.assign(n_q * dim, 0);
    factor.assign(n_q, 0.0f);
    for (std::size_t i = 0; i < n_q; ++i) {
      const float* wi = w + i * n + kBlockRecords * b0;
      if (!round_weights(m, wi, record_scales.data(), codebook.scale, scaled, w16.data() + i * m, factor[i]))
        accumulate_planes(unblocked_values(part, scale_offset, centroids, nb, plain), m, 1, wi, acc + i * acc_stride,
                          acc_stride);
    }
    accumulate_blocks_i16(part, codebook.values, nb, n_q, w16.data(), sums.data(), dim);
    for (std::size_t i = 0; i < n_q; ++i)
      if (factor[i] != 0.0f) add_scaled_ints(dim, sums.data() + i * dim, factor[i], acc + i * acc_stride);
  }
}

}  // namespace veloxquant::kernels
