// Google Benchmark of the attention kernels on one KV head's worth of records per iteration:
// scoring 4 query heads (a GQA group) and accumulating their values, d = 128.
// Run: ./build/veloxquant_bench --benchmark_filter=Attend --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "kernels/kernels.h"
#include "math/prng.h"
#include "util/half.h"
#include "veloxquant/quantizer.h"

namespace veloxquant {
namespace {

constexpr std::size_t kDim = 128, kHeads = 4;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// One format: score + accumulate over `tokens` records with 4 query heads.
void attend(benchmark::State& state, const char* format) {
  const std::size_t tokens = static_cast<std::size_t>(state.range(0));
  const auto q = make_quantizer(format, kDim, 1);
  const std::vector<float> x = random_floats(tokens * kDim, 2), queries = random_floats(kHeads * kDim, 3);
  std::vector<std::uint8_t> codes(tokens * q->code_size());
  q->encode(tokens, x.data(), codes.data());
  std::vector<float> prepared(kHeads * q->query_size()), scores(kHeads * tokens), acc(kHeads * q->accumulator_size());
  for (std::size_t h = 0; h < kHeads; ++h) q->prepare_query(&queries[h * kDim], &prepared[h * q->query_size()]);
  for (auto _ : state) {
    q->score(kHeads, prepared.data(), tokens, codes.data(), scores.data());
    q->accumulate(kHeads, scores.data(), tokens, codes.data(), acc.data());
    benchmark::DoNotOptimize(acc.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * codes.size() * 2));
  state.counters["ns_per_token"] = benchmark::Counter(
      static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Softmax weights of 4 heads' scores over `tokens` records (scale 1/√d, each row's maximum 1), as
// attention accumulates values with: their spread decides how often the block kernel needs the
// weights' high bytes.
std::vector<float> softmax_weights(const Quantizer& q, std::size_t tokens, const std::uint8_t* codes,
                                   const float* prepared) {
  std::vector<float> w(kHeads * tokens);
  q.score(kHeads, prepared, tokens, codes, w.data());
  for (std::size_t h = 0; h < kHeads; ++h) {
    float* row = &w[h * tokens];
    const float top = kernels::row_max(row, tokens) / std::sqrt(static_cast<float>(kDim));
    kernels::exp_row(row, tokens, 1.0f / std::sqrt(static_cast<float>(kDim)), top);
  }
  return w;
}

// Score only (keys) or accumulate only (values, softmax weights), records hot in cache; plain
// records, or the quantizer's record blocks as a cache page holds them (plain where it has none).
void pass(benchmark::State& state, const char* format, bool keys, bool blocked) {
  const std::size_t tokens = 4096;
  const auto q = make_quantizer(format, kDim, 1);
  const std::vector<float> x = random_floats(tokens * kDim, 2), queries = random_floats(kHeads * kDim, 3);
  const std::size_t cs = q->code_size(), block = q->block_records();
  std::vector<std::uint8_t> codes(tokens * cs), blocks(tokens * cs);
  q->encode(tokens, x.data(), codes.data());
  for (std::size_t t = 0; t < tokens && blocked; ++t)
    q->put_block_record(keys ? BlockOrder::kKeys : BlockOrder::kValues, &codes[t * cs], &blocks[t / block * block * cs],
                        t % block);
  std::vector<float> prepared(kHeads * q->query_size()), scores(kHeads * tokens), acc(kHeads * q->accumulator_size());
  for (std::size_t h = 0; h < kHeads; ++h) q->prepare_query(&queries[h * kDim], &prepared[h * q->query_size()]);
  const std::vector<float> weights = softmax_weights(*q, tokens, codes.data(), prepared.data());
  for (auto _ : state) {
    if (keys && blocked) q->score_blocks(kHeads, prepared.data(), tokens / block, blocks.data(), scores.data());
    if (keys && !blocked) q->score(kHeads, prepared.data(), tokens, codes.data(), scores.data());
    if (!keys && blocked) q->accumulate_blocks(kHeads, weights.data(), tokens / block, blocks.data(), acc.data());
    if (!keys && !blocked) q->accumulate(kHeads, weights.data(), tokens, codes.data(), acc.data());
    benchmark::DoNotOptimize(keys ? scores.data() : acc.data());
  }
  state.counters["ns_per_token"] = benchmark::Counter(
      static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
void score_pass(benchmark::State& state, const char* format) { pass(state, format, true, false); }
void accumulate_pass(benchmark::State& state, const char* format) { pass(state, format, false, false); }
void score_blocks_pass(benchmark::State& state, const char* format) { pass(state, format, true, true); }
void accumulate_blocks_pass(benchmark::State& state, const char* format) { pass(state, format, false, true); }
BENCHMARK_CAPTURE(score_blocks_pass, tq3, "tq3");
BENCHMARK_CAPTURE(score_blocks_pass, tq4, "tq4");
BENCHMARK_CAPTURE(score_blocks_pass, tq2_5, "tq2.5");
BENCHMARK_CAPTURE(accumulate_blocks_pass, tq3, "tq3");
BENCHMARK_CAPTURE(accumulate_blocks_pass, tq4, "tq4");
BENCHMARK_CAPTURE(accumulate_blocks_pass, tq2_5, "tq2.5");
BENCHMARK_CAPTURE(score_pass, f16, "f16");
BENCHMARK_CAPTURE(score_pass, tq3, "tq3");
BENCHMARK_CAPTURE(score_pass, tq4, "tq4");
BENCHMARK_CAPTURE(score_pass, q8, "q8");
BENCHMARK_CAPTURE(score_pass, q4, "q4");
BENCHMARK_CAPTURE(score_pass, polar, "polar");
BENCHMARK_CAPTURE(accumulate_pass, f16, "f16");
BENCHMARK_CAPTURE(accumulate_pass, tq3, "tq3");
BENCHMARK_CAPTURE(accumulate_pass, tq4, "tq4");
BENCHMARK_CAPTURE(accumulate_pass, q8, "q8");
BENCHMARK_CAPTURE(accumulate_pass, q4, "q4");
BENCHMARK_CAPTURE(accumulate_pass, polar, "polar");

void encode(benchmark::State& state, const char* format) {
  const std::size_t n = 4096;
  const auto q = make_quantizer(format, kDim, 1);
  const std::vector<float> x = random_floats(n * kDim, 2);
  std::vector<std::uint8_t> codes(n * q->code_size());
  for (auto _ : state) {
    q->encode(n, x.data(), codes.data());
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

// 262 144 tokens = 8 KV heads × 32 768 (the long-context step), one head's group here.
#define ATTEND(name) BENCHMARK_CAPTURE(attend, name, #name)->Arg(4096)->Arg(262144)->Unit(benchmark::kMicrosecond)
ATTEND(f32);
ATTEND(f16);
ATTEND(q8);
ATTEND(q4);
ATTEND(tq4);
ATTEND(tq3);
ATTEND(tq2);
ATTEND(tqp3);
ATTEND(qjl);
ATTEND(polar);

#define ENCODE(name) BENCHMARK_CAPTURE(encode, name, #name)->Unit(benchmark::kMicrosecond)
ENCODE(f16);
ENCODE(q8);
ENCODE(q4);
ENCODE(tq2);
ENCODE(tq3);
ENCODE(tq4);
ENCODE(tqp3);
ENCODE(qjl);
ENCODE(polar);

}  // namespace
}  // namespace veloxquant

BENCHMARK_MAIN();
