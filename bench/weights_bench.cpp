// Google Benchmark of the weight-type dot kernels (weights/weight_types.h), one thread.
//   WeightDot/<type>/<rows>/<cols>/<tokens>: rows × cols weights dotted with `tokens` activations
//   (already quantized), the kernel alone; ns per row-dot = time / (rows · tokens). With 8192 ×
//   8192 weights the matrix (38–75 MB for the 4–8 bit types) does not fit the 32 MB L3: bytes/s is
//   the weights streamed from memory.
//   WeightMatmul/<type>/...: the runner's matmul (activations quantized inside), same shapes.
// Run: ./build/veloxquant_bench --benchmark_filter=WeightDot --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "math/prng.h"
#include "runner/matmul.h"
#include "weights/weight_types.h"

namespace veloxquant {
namespace {

struct Setup {
  const WeightTypeInfo* type;
  std::size_t rows, cols, tokens;
  std::vector<std::uint8_t> w;
  std::vector<float> x, y;
  ActivationBuffer buffer;
  ActivationBatch a;

  Setup(const char* name, const benchmark::State& state)
      : type(find_weight_type_by_name(name)),
        rows(static_cast<std::size_t>(state.range(0))),
        cols(static_cast<std::size_t>(state.range(1))),
        tokens(static_cast<std::size_t>(state.range(2))) {
    SplitMix64 rng(1);
    std::vector<float> row(cols);
    const std::size_t rb = weight_row_bytes(type->type, cols);
    w.resize(rows * rb);
    for (std::size_t r = 0; r < rows; ++r) {
      for (float& v : row) v = static_cast<float>(rng.normal());
      type->quantize(row.data(), cols, w.data() + r * rb);
    }
    x.resize(tokens * cols);
    for (float& v : x) v = static_cast<float>(rng.normal());
    y.resize(tokens * rows);
    a = quantize_activations(type->activation, x.data(), tokens, cols, buffer);
  }
  void report(benchmark::State& state) const {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * w.size()));
    state.counters["ns_per_row_dot"] =
        benchmark::Counter(static_cast<double>(rows * tokens) * 1e-9,
                           benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  }
};

void WeightDot(benchmark::State& state, const char* name) {
  Setup s(name, state);
  for (auto _ : state) {
    s.type->dot(s.w.data(), weight_row_bytes(s.type->type, s.cols), 0, s.rows, s.a, 0, s.tokens, s.y.data(), s.rows);
    benchmark::DoNotOptimize(s.y.data());
  }
  s.report(state);
}

void WeightMatmul(benchmark::State& state, const char* name) {
  Setup s(name, state);
  ThreadPool pool(1);
  const WeightView view{s.type->type, s.rows, s.cols, weight_row_bytes(s.type->type, s.cols), s.w.data()};
  for (auto _ : state) {
    matmul(view, s.x.data(), s.tokens, s.y.data(), pool);
    benchmark::DoNotOptimize(s.y.data());
  }
  s.report(state);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({8192, 8192, 1})->Args({512, 2048, 1})->Args({1024, 2048, 64})->Unit(benchmark::kMicrosecond);
}

#define VELOXQUANT_WEIGHT_BENCH(type)                       \
  BENCHMARK_CAPTURE(WeightDot, type, #type)->Apply(shapes); \
  BENCHMARK_CAPTURE(WeightMatmul, type, #type)->Apply(shapes);

VELOXQUANT_WEIGHT_BENCH(f32)
VELOXQUANT_WEIGHT_BENCH(f16)
VELOXQUANT_WEIGHT_BENCH(bf16)
VELOXQUANT_WEIGHT_BENCH(q8_0)
VELOXQUANT_WEIGHT_BENCH(q4_0)
VELOXQUANT_WEIGHT_BENCH(q4_1)
VELOXQUANT_WEIGHT_BENCH(q5_0)
VELOXQUANT_WEIGHT_BENCH(q5_1)
VELOXQUANT_WEIGHT_BENCH(q2_K)
VELOXQUANT_WEIGHT_BENCH(q3_K)
VELOXQUANT_WEIGHT_BENCH(q4_K)
VELOXQUANT_WEIGHT_BENCH(q5_K)
VELOXQUANT_WEIGHT_BENCH(q6_K)
VELOXQUANT_WEIGHT_BENCH(iq4_nl)
VELOXQUANT_WEIGHT_BENCH(iq4_xs)

}  // namespace
}  // namespace veloxquant
