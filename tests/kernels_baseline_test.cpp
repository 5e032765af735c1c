// The q8 / q4 / PolarQuant record kernels against their scalar references, bit for bit, on every
// SIMD target this CPU runs; and the quantizers' fused score/accumulate against decode + the
// float kernels (the path they replace), also bit for bit.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "math/prng.h"
#include "pack/bitplane.h"
#include "test_util.h"
#include "util/half.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

class BaselineKernelsOnEveryTarget : public ::testing::TestWithParam<std::int64_t> {
 protected:
  void SetUp() override { hwy::SetSupportedTargetsForTest(GetParam()); }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

std::string target_name(const ::testing::TestParamInfo<std::int64_t>& info) { return hwy::TargetName(info.param); }

// Bitwise equality (also for −0 against +0, which == would accept).
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(0, std::memcmp(&got[i], &want[i], sizeof(float)))
        << what << " at " << i << ": " << got[i] << " vs " << want[i];
}

// n random records of `stride` bytes at an odd address, with finite fp16 scales at `scale_at`.
std::vector<std::uint8_t> random_records(std::size_t n, std::size_t stride, const std::vector<std::size_t>& scale_at,
                                         std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<std::uint8_t> buf(1 + n * stride);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng.next());
  for (std::size_t t = 0; t < n; ++t)
    for (std::size_t at : scale_at)
      store_u16(buf.data() + 1 + t * stride + at, float_to_half(static_cast<float>(rng.normal()) * 0.1f));
  return buf;
}

using Score = void (*)(const std::uint8_t*, std::size_t, std::size_t, std::size_t, std::size_t, const float*,
                       std::size_t, float*);
using Accumulate = void (*)(const std::uint8_t*, std::size_t, std::size_t, std::size_t, std::size_t, const float*,
                            float*, std::size_t);

struct RecordKernels {
  const char* name;
  Score score, score_ref;
  Accumulate accumulate, accumulate_ref;
  std::size_t (*stride)(std::size_t dim);
  std::vector<std::size_t> (*scales)(std::size_t dim);
};

const RecordKernels kRecordKernels[] = {
    {"q8", kernels::score_q8, kernels::ref::score_q8, kernels::accumulate_q8, kernels::ref::accumulate_q8,
     [](std::size_t dim) { return 2 + dim + 1; },  // one spare byte: records need no alignment
     [](std::size_t) { return std::vector<std::size_t>{0}; }},
    {"q4", kernels::score_q4, kernels::ref::score_q4, kernels::accumulate_q4, kernels::ref::accumulate_q4,
     [](std::size_t dim) { return (dim + 31) / 32 * kernels::kQ4GroupBytes; },
     [](std::size_t dim) {
       std::vector<std::size_t> at;
       for (std::size_t g = 0; g < (dim + 31) / 32; ++g) at.push_back(g * kernels::kQ4GroupBytes);
       return at;
     }},
};

TEST_P(BaselineKernelsOnEveryTarget, Q8AndQ4MatchReferenceBitForBit) {
  for (const RecordKernels& k : kRecordKernels)
    for (std::size_t dim : {1u, 3u, 16u, 31u, 32u, 48u, 64u, 96u, 100u, 128u, 129u, 256u})
      for (std::size_t nq : {1u, 3u, 4u, 6u})
        for (std::size_t n : {1u, 7u, 40u}) {  // 40: more than one block of records in accumulate
          const std::size_t stride = k.stride(dim);
          const std::vector<std::uint8_t> recs = random_records(n, stride, k.scales(dim), dim * 131 + n);
          const std::vector<float> q = test::gaussian(nq * (dim + 2), dim + nq), w = test::gaussian(nq * n, n + nq);
          const std::string what = std::string(k.name) + " dim=" + std::to_string(dim) + " nq=" + std::to_string(nq) +
                                   " n=" + std::to_string(n);
          std::vector<float> got(nq * n), want(nq * n);
          k.score(recs.data() + 1, stride, dim, n, nq, q.data(), dim + 2, got.data());
          k.score_ref(recs.data() + 1, stride, dim, n, nq, q.data(), dim + 2, want.data());
          expect_same_bits(got, want, "score " + what);
          std::vector<float> acc(nq * (dim + 1), 0.5f), acc_ref(nq * (dim + 1), 0.5f);  // adds to what is there
          k.accumulate(recs.data() + 1, stride, dim, n, nq, w.data(), acc.data(), dim + 1);
          k.accumulate_ref(recs.data() + 1, stride, dim, n, nq, w.data(), acc_ref.data(), dim + 1);
          expect_same_bits(acc, acc_ref, "accumulate " + what);
        }
}

TEST_P(BaselineKernelsOnEveryTarget, PolarDecodeMatchesReferenceBitForBit) {
  const int bit_sets[][4] = {{4, 2, 2, 2}, {4, 3, 3, 3}, {1, 1, 1, 1}, {5, 4, 3, 2}, {8, 2, 5, 1}};
  for (const auto& bits : bit_sets)
    for (std::size_t blocks : {1u, 2u, 3u, 8u, 9u, 16u}) {
      kernels::PolarCodes c;
      c.blocks = blocks;
      std::size_t offset = 2 * blocks;
      std::vector<float> tables[8];
      for (int l = 0; l < 4; ++l) {
        c.bits[l] = bits[l];
        c.level_offset[l] = offset;
        offset += packed_bytes(blocks * (8u >> l), bits[l]);
        tables[2 * l] = test::gaussian(std::size_t{1} << bits[l], 10 + l);
        tables[2 * l + 1] = test::gaussian(std::size_t{1} << bits[l], 20 + l);
        c.cos[l] = tables[2 * l].data();
        c.sin[l] = tables[2 * l + 1].data();
      }
      c.stride = offset + 1;  // odd: records need no alignment
      const std::size_t n = 5;
      std::vector<std::size_t> radii;
      for (std::size_t b = 0; b < blocks; ++b) radii.push_back(2 * b);
      const std::vector<std::uint8_t> recs = random_records(n, c.stride, radii, blocks * 7 + bits[0]);
      c.records = recs.data() + 1;
      std::vector<float> got(n * blocks * 16, -1.0f), want(n * blocks * 16, -2.0f);
      kernels::decode_polar(c, n, got.data());
      kernels::ref::decode_polar(c, n, want.data());
      expect_same_bits(got, want,
                       "polar bits=" + std::to_string(bits[0]) + "/" + std::to_string(bits[1]) + "/" +
                           std::to_string(bits[2]) + "/" + std::to_string(bits[3]) +
                           " blocks=" + std::to_string(blocks));
    }
}

INSTANTIATE_TEST_SUITE_P(Targets, BaselineKernelsOnEveryTarget,
                         ::testing::ValuesIn(hwy::SupportedAndGeneratedTargets()), target_name);

// The fused kernels replace decode + score_f32 / accumulate_f32: the results keep their bits.
TEST(BaselineQuantizers, FusedKernelsGiveTheBitsOfDecodeThenFloatKernels) {
  for (const char* format : {"q8", "q4"})
    for (std::size_t dim : {64u, 96u, 100u, 128u}) {
      const std::size_t n = 70, nq = 4;
      const auto quant = make_quantizer(format, dim, 3);
      const std::vector<float> x = test::gaussian(n * dim, dim), queries = test::gaussian(nq * dim, dim + 1),
                               w = test::gaussian(nq * n, dim + 2);
      std::vector<std::uint8_t> codes(n * quant->code_size());
      quant->encode(n, x.data(), codes.data());
      const std::size_t qs = quant->query_size();
      std::vector<float> prepared(nq * qs);
      for (std::size_t i = 0; i < nq; ++i) quant->prepare_query(&queries[i * dim], &prepared[i * qs]);
      std::vector<float> got(nq * n), want(nq * n);
      quant->score(nq, prepared.data(), n, codes.data(), got.data());
      std::vector<float> acc(nq * qs, 0.25f), acc_want(nq * qs, 0.25f);
      quant->accumulate(nq, w.data(), n, codes.data(), acc.data());
      std::vector<float> rows(n * qs);  // the work domain is the identity
      quant->decode(n, codes.data(), rows.data());
      kernels::ref::score_f32(rows.data(), qs, qs, n, nq, prepared.data(), qs, want.data());
      kernels::ref::accumulate_f32(rows.data(), qs, qs, n, nq, w.data(), acc_want.data(), qs);
      expect_same_bits(got, want, std::string(format) + " score dim=" + std::to_string(dim));
      expect_same_bits(acc, acc_want, std::string(format) + " accumulate dim=" + std::to_string(dim));
    }
}

}  // namespace
}  // namespace veloxquant
