// Record blocks (pack/plane_blocks.h), in keys and values order: the layout against the record
// layout, the AVX-512 and AVX2 kernels against their scalar references, quantizers' block scoring and
// accumulation against theirs on records, and caches whose pages hold blocks against caches of
// plain records.
#include <gtest/gtest.h>
#include <hwy/base.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "cache/persist.h"
#include "kernels/blocks_avx2.h"
#include "kernels/kernels.h"
#include "math/prng.h"
#include "pack/bitplane.h"
#include "pack/plane_blocks.h"
#include "test_util.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

std::vector<std::uint8_t> random_bytes(std::size_t n, SplitMix64& rng) {
  std::vector<std::uint8_t> b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng.next());
  return b;
}

std::vector<std::int8_t> random_q8(std::size_t n, SplitMix64& rng) {
  std::vector<std::int8_t> q(n);
  for (auto& v : q) v = static_cast<std::int8_t>(static_cast<int>(rng.next() % 255) - 127);
  return q;
}

std::vector<std::int16_t> random_w16(std::size_t n, SplitMix64& rng) {
  std::vector<std::int16_t> w(n);
  for (auto& v : w) v = static_cast<std::int16_t>(static_cast<int>(rng.next() % 65535) - 32767);
  return w;
}

const std::size_t kDims[] = {1, 3, 8, 31, 64, 96, 100, 128, 129, 256};

TEST(RecordBlocks, PlanesRoundTripAndReadAsTheRecordLayout) {
  SplitMix64 rng(3);
  for (BlockOrder order : {BlockOrder::kKeys, BlockOrder::kValues})
    for (int bits = 1; bits <= 5; ++bits)
      for (std::size_t dim : kDims) {
        const std::size_t pb = plane_bytes(dim), rec_bytes = packed_bytes(dim, bits);
        const std::vector<std::uint8_t> recs = random_bytes(kBlockRecords * rec_bytes, rng);
        std::vector<std::uint8_t> block = random_bytes(kBlockRecords * rec_bytes, rng);  // put overwrites all bits
        for (std::size_t r = 0; r < kBlockRecords; ++r)
          put_block_planes(order, &recs[r * rec_bytes], bits, pb, block.data(), r);
        for (std::size_t r = 0; r < kBlockRecords; ++r) {
          std::vector<std::uint8_t> back(rec_bytes);
          get_block_planes(order, block.data(), bits, pb, r, back.data());
          ASSERT_EQ(0, std::memcmp(back.data(), &recs[r * rec_bytes], rec_bytes)) << "bits=" << bits << " dim=" << dim;
          for (std::size_t j = 0; j < dim; ++j)
            ASSERT_EQ(block_plane_code(order, block.data(), bits, r, j),
                      plane_code(&recs[r * rec_bytes], dim, bits, j));
        }
        const std::vector<std::uint8_t> table = random_bytes(32, rng);
        const kernels::PlaneCodes codes{recs.data(), rec_bytes, 0, dim, bits, nullptr};
        const kernels::PlaneBlocks blocks{block.data(), block.size(), 0, dim, bits};
        const std::size_t nq = 3;
        if (order == BlockOrder::kKeys) {
          // Integer scores of the block equal those of the records (query rows padded to whole bytes).
          const std::size_t q_row = 8 * pb;
          std::vector<std::int8_t> q8 = random_q8(nq * q_row, rng), q8_dense(nq * dim);
          for (std::size_t i = 0; i < nq; ++i) {
            std::fill(q8.begin() + static_cast<std::ptrdiff_t>(i * q_row + dim),
                      q8.begin() + static_cast<std::ptrdiff_t>((i + 1) * q_row), 0);
            std::memcpy(&q8_dense[i * dim], &q8[i * q_row], dim);
          }
          std::vector<std::int32_t> from_records(nq * kBlockRecords), from_block(nq * kBlockRecords);
          kernels::ref::score_planes_u8(codes, table.data(), kBlockRecords, nq, q8_dense.data(), from_records.data());
          kernels::ref::score_blocks_u8(blocks, table.data(), 1, nq, q8.data(), from_block.data());
          ASSERT_EQ(from_records, from_block) << "bits=" << bits << " dim=" << dim;
        } else {
          // Integer sums of the block equal those of the records.
          const std::vector<std::int8_t> values = random_q8(32, rng);
          const std::vector<std::int16_t> w16 = random_w16(nq * kBlockRecords, rng);
          std::vector<std::int32_t> from_records(nq * dim, 5), from_block(nq * dim, 5);
          kernels::ref::accumulate_planes_i16(codes, values.data(), kBlockRecords, nq, w16.data(), from_records.data(),
                                              dim);
          kernels::ref::accumulate_blocks_i16(blocks, values.data(), 1, nq, w16.data(), from_block.data(), dim);
          ASSERT_EQ(from_records, from_block) << "bits=" << bits << " dim=" << dim;
        }
      }
}

using ScoreBlocks = void (*)(const kernels::PlaneBlocks&, const std::uint8_t*, std::size_t, std::size_t,
                             const std::int8_t*, std::int32_t*);
using AccumulateBlocks = void (*)(const kernels::PlaneBlocks&, const std::int8_t*, std::size_t, std::size_t,
                                  const std::int16_t*, std::int32_t*, std::size_t);

// score / accumulate against the references on random blocks of every bit width, dimension, query
// count and size.
void expect_block_kernels_exact(ScoreBlocks score, AccumulateBlocks accumulate) {
  SplitMix64 rng(4);
  for (int bits = 1; bits <= 5; ++bits)
    for (std::size_t dim : kDims)
      for (std::size_t nq : {1u, 2u, 3u, 4u, 5u, 9u})
        for (std::size_t n_blocks : {1u, 3u, 40u}) {  // 40: more than one range of the value kernel
          const std::size_t offset = 32 + 5,
                            block_bytes = offset + 16 * packed_bytes(dim, bits) + 3;  // odd: misaligned
          const std::vector<std::uint8_t> blocks = random_bytes(n_blocks * block_bytes, rng),
                                          table = random_bytes(32, rng);
          const std::size_t q_row = 8 * plane_bytes(dim);
          std::vector<std::int8_t> q8 = random_q8(nq * q_row, rng);
          for (std::size_t i = 0; i < nq; ++i)
            for (std::size_t j = dim; j < q_row; ++j) q8[i * q_row + j] = 0;
          const kernels::PlaneBlocks codes{blocks.data(), block_bytes, offset, dim, bits};
          std::vector<std::int32_t> got(nq * 16 * n_blocks), want(got.size());
          score(codes, table.data(), n_blocks, nq, q8.data(), got.data());
          kernels::ref::score_blocks_u8(codes, table.data(), n_blocks, nq, q8.data(), want.data());
          ASSERT_EQ(got, want) << "bits=" << bits << " dim=" << dim << " nq=" << nq << " blocks=" << n_blocks;
          // Values: weights of both signs and every size, and blocks where no weight needs its high
          // byte (the kernel skips those products) or none is negative.
          const std::vector<std::int8_t> values = random_q8(32, rng);
          std::vector<std::int16_t> w16 = random_w16(nq * 16 * n_blocks, rng);
          for (std::size_t k = 0; k < w16.size(); ++k) {
            if ((k / 16) % 3 == 1) w16[k] = static_cast<std::int16_t>(w16[k] % 256);
            if ((k / 16) % 3 == 2) w16[k] = static_cast<std::int16_t>(std::abs(w16[k]));
            if (n_blocks > 32)
              w16[k] = static_cast<std::int16_t>(w16[k] / 2);  // int32 sums stay exact past 512 records
          }
          const std::size_t acc_stride = dim + 3;
          std::vector<std::int32_t> acc_got(nq * acc_stride, 7), acc_want(acc_got);
          accumulate(codes, values.data(), n_blocks, nq, w16.data(), acc_got.data(), acc_stride);
          kernels::ref::accumulate_blocks_i16(codes, values.data(), n_blocks, nq, w16.data(), acc_want.data(),
                                              acc_stride);
          ASSERT_EQ(acc_got, acc_want) << "values: bits=" << bits << " dim=" << dim << " nq=" << nq;
        }
}

TEST(RecordBlocks, KernelsMatchReferencesExactly) {
  if (!kernels::score_blocks_fast()) GTEST_SKIP() << "no AVX2: score_blocks_u8 is the reference";
  expect_block_kernels_exact(kernels::score_blocks_u8, kernels::accumulate_blocks_i16);
}

#if HWY_ARCH_X86
// The AVX2 kernels themselves, which AVX-512 CPUs do not dispatch to (--target avx2 does).
TEST(RecordBlocks, Avx2KernelsMatchReferencesExactly) {
  if (!kernels::avx2::available()) GTEST_SKIP() << "no AVX2 on this CPU";
  expect_block_kernels_exact(kernels::avx2::score_blocks_u8, kernels::avx2::accumulate_blocks_i16);
}
#endif

// Block scoring and accumulation give score()'s and accumulate()'s values bit for bit, also for
// queries and weights that take the float path, and for weights of either sign.
TEST(RecordBlocks, QuantizersReadBlocksAsRecords) {
  for (const char* format :
       {"tq1", "tq2", "tq3", "tq4", "tq2.5", "tq3.5", "tq5", "tq4:extra=48", "tq6", "tqp3", "q8", "f16"})
    for (std::size_t dim : {64u, 96u, 100u, 128u}) {
      const auto q = make_quantizer(format, dim, 9);
      const std::size_t block = q->block_records(), cs = q->code_size();
      const std::string name = format;  // TurboQuant-MSE of ≤ 5 bits: integer kernels on blocks
      const bool int8_format = name.rfind("tq", 0) == 0 && name != "tq6" && name != "tqp3";
      EXPECT_EQ(block, int8_format && kernels::score_blocks_fast() ? kBlockRecords : 1u) << format;
      const std::size_t n_blocks = 3, n = n_blocks * block;
      std::vector<std::uint8_t> recs(n * cs), key_blocks(n * cs), value_blocks(n * cs), back(cs);
      q->encode(n, test::gaussian(n * dim, dim).data(), recs.data());
      for (std::size_t t = 0; t < n; ++t) {
        q->put_block_record(BlockOrder::kKeys, &recs[t * cs], &key_blocks[t / block * block * cs], t % block);
        q->put_block_record(BlockOrder::kValues, &recs[t * cs], &value_blocks[t / block * block * cs], t % block);
      }
      for (std::size_t t = 0; t < n; ++t) {
        q->get_block_record(BlockOrder::kKeys, &key_blocks[t / block * block * cs], t % block, back.data());
        ASSERT_EQ(0, std::memcmp(back.data(), &recs[t * cs], cs)) << format << " key record " << t;
        q->get_block_record(BlockOrder::kValues, &value_blocks[t / block * block * cs], t % block, back.data());
        ASSERT_EQ(0, std::memcmp(back.data(), &recs[t * cs], cs)) << format << " value record " << t;
      }
      std::vector<float> queries = test::gaussian(5 * dim, dim + 1);
      for (std::size_t j = 0; j < dim; ++j) queries[3 * dim + j] *= 1e-40f;  // tiny: the float path
      queries[4 * dim + 1] = std::numeric_limits<float>::quiet_NaN();
      // Weights: positive (softmax-like, a few large), mixed signs, tiny, and one NaN.
      std::vector<float> weights = test::gaussian(5 * n, dim + 2);
      for (std::size_t t = 0; t < n; ++t) {
        weights[t] = std::exp(3.0f * weights[t]);
        weights[3 * n + t] *= 1e-39f;
      }
      weights[4 * n + 2] = std::numeric_limits<float>::quiet_NaN();
      for (std::size_t nq : {1u, 3u, 5u}) {
        std::vector<float> prepared(nq * q->query_size());
        for (std::size_t i = 0; i < nq; ++i) q->prepare_query(&queries[i * dim], &prepared[i * q->query_size()]);
        std::vector<float> want(nq * n), got(nq * n, -1.0f);
        q->score(nq, prepared.data(), n, recs.data(), want.data());
        q->score_blocks(nq, prepared.data(), n_blocks, key_blocks.data(), got.data());
        ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float)))
            << format << " dim=" << dim << " nq=" << nq;
        std::vector<float> acc_want(nq * q->accumulator_size(), 0.5f), acc_got(acc_want);
        q->accumulate(nq, weights.data(), n, recs.data(), acc_want.data());
        q->accumulate_blocks(nq, weights.data(), n_blocks, value_blocks.data(), acc_got.data());
        ASSERT_EQ(0, std::memcmp(acc_got.data(), acc_want.data(), acc_got.size() * sizeof(float)))
            << format << " accumulate dim=" << dim << " nq=" << nq;
      }
    }
}

// Rounded queries are reused while their values stay the same (kernels/int8_codes.cpp): a query buffer
// rewritten in place between calls, one value at a time, must be rounded again each time.
TEST(RecordBlocks, QueriesRewrittenInPlaceAreRoundedAgain) {
  for (const char* format : {"tq3", "tq2.5"}) {
    const std::size_t dim = 128, nq = 4;
    const auto q = make_quantizer(format, dim, 5);
    const std::size_t block = q->block_records(), cs = q->code_size(), n_blocks = 2, n = n_blocks * block;
    std::vector<std::uint8_t> recs(n * cs), blocks(n * cs);
    q->encode(n, test::gaussian(n * dim, 3).data(), recs.data());
    for (std::size_t t = 0; t < n; ++t)
      q->put_block_record(BlockOrder::kKeys, &recs[t * cs], &blocks[t / block * block * cs], t % block);
    std::vector<float> prepared(nq * q->query_size());
    const std::vector<float> queries = test::gaussian(nq * dim, 4);
    for (std::size_t i = 0; i < nq; ++i) q->prepare_query(&queries[i * dim], &prepared[i * q->query_size()]);
    std::vector<float> previous;
    for (std::size_t change = 0; change < 4; ++change) {
      if (change > 0) prepared[(change * 37) % prepared.size()] += 0.5f;  // one value of one query
      if (change == 3) prepared[prepared.size() - 1] = std::numeric_limits<float>::infinity();  // the float path
      std::vector<float> want(nq * n), got(nq * n);
      q->score(nq, prepared.data(), n, recs.data(), want.data());
      q->score_blocks(nq, prepared.data(), n_blocks, blocks.data(), got.data());
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * sizeof(float))) << format << " change " << change;
      // score() shares the kept roundings, so also: the changed query's scores changed.
      if (change > 0) {
        ASSERT_NE(0, std::memcmp(got.data(), previous.data(), got.size() * sizeof(float))) << format;
      }
      previous = got;
    }
  }
}

// Caches whose pages hold blocks (pages of 16 and 48 tokens) against plain records (pages of 8):
// the same attention to rounding, through eviction, truncation inside blocks and a save/load.
TEST(RecordBlocks, CachePagesOfBlocksAttendAsPlainRecords) {
  for (const char* format : {"tq3", "tq2.5"}) {
    const std::size_t d = 128, kv_heads = 2, q_heads = 8, tokens = 230;
    std::vector<std::vector<float>> outputs;
    for (std::size_t page_tokens : {8u, 16u, 48u}) {
      CacheConfig c;
      c.layers = 1;
      c.kv_heads = kv_heads;
      c.q_heads = q_heads;
      c.head_dim = d;
      c.key_format = format;
      c.value_format = format;
      c.window = 5;
      c.sinks = 3;
      c.max_tokens = 200;  // eviction moves the first held record inside a block
      c.page_tokens = page_tokens;
      c.calibration_tokens = 16;
      c.seed = 21;
      KVCache cache(c);
      const std::vector<float> k = test::gaussian(tokens * kv_heads * d, 1),
                               v = test::gaussian(tokens * kv_heads * d, 2);
      for (std::size_t t = 0; t < tokens; t += 7) {
        const std::size_t n = std::min<std::size_t>(7, tokens - t);
        cache.append(0, n, &k[t * kv_heads * d], &v[t * kv_heads * d]);
      }
      cache.truncate(cache.size(0) - 11);  // cut inside a block of the pages
      cache.append(0, 4, &k[0], &v[0]);
      const KVCache loaded = parse_cache(serialize_cache(cache));  // files hold plain records
      const std::vector<float> q = test::gaussian(2 * q_heads * d, 3);
      std::vector<float> out(q.size()), again(q.size());
      cache.attend(0, 2, q.data(), out.data());
      loaded.attend(0, 2, q.data(), again.data());
      ASSERT_EQ(out, again) << format << " pages of " << page_tokens;
      outputs.push_back(out);
    }
    // Pages of other sizes split the records into other attend blocks, whose value weights are
    // rounded to 16 bits relative to another maximum (each moves by ≤ 1/65534 of it).
    double norm = 0.0;
    for (float x : outputs[0]) norm += static_cast<double>(x) * x;
    for (std::size_t i = 1; i < outputs.size(); ++i) {
      double diff = 0.0;
      for (std::size_t j = 0; j < outputs[0].size(); ++j) diff += std::pow(outputs[i][j] - outputs[0][j], 2.0);
      EXPECT_LT(std::sqrt(diff / norm), 2e-4) << format << " pages " << i;
      EXPECT_GT(diff, 0.0) << format << " pages " << i << ": some weights should round differently";
    }
  }
}

}  // namespace
}  // namespace veloxquant
