// `veloxquant demo`: the quick start on built-in defaults — every method on 1 000 random 128-d
// vectors: bits per coordinate, bytes, MSE vs theory, inner-product correlation, encode speed.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "cli.h"
#include "math/prng.h"
#include "measure.h"
#include "veloxquant/kv_cache.h"

namespace veloxquant::cli {

namespace {

// The seed's quick start: a cache for d = 128, 100 streamed tokens, one attention query.
void cache_demo(std::size_t dim, std::uint64_t seed) {
  const std::size_t tokens = 100, kv_heads = 2, q_heads = 8;
  SplitMix64 rng(seed);
  std::vector<float> k(tokens * kv_heads * dim), v(k.size()), q(q_heads * dim);
  for (float& x : k) x = static_cast<float>(rng.normal());
  for (float& x : v) x = static_cast<float>(rng.normal());
  for (float& x : q) x = static_cast<float>(rng.normal());
  auto attend_with = [&](const std::string& format, CacheStats* stats, std::size_t* bytes) {
    CacheConfig config;
    config.kv_heads = kv_heads;
    config.q_heads = q_heads;
    config.head_dim = dim;
    config.key_format = config.value_format = format;
    config.window = 16;  // small, so that most of the 100 tokens are compressed
    config.seed = seed;
    KVCache cache(config);
    for (std::size_t t = 0; t < tokens; ++t) cache.append(0, 1, &k[t * kv_heads * dim], &v[t * kv_heads * dim]);
    std::vector<float> out(q_heads * dim);
    cache.attend(0, 1, q.data(), out.data());
    if (stats) *stats = cache.stats();
    if (bytes) *bytes = cache.memory_bytes();
    return out;
  };
  const std::vector<float> exact = attend_with("f32", nullptr, nullptr);
  std::printf(
      "\nKV cache: d=%zu, %zu KV heads, %zu query heads, %zu tokens streamed one by one,\n"
      "window 16 + 4 sinks exact, the rest compressed; one decode query:\n\n",
      dim, kv_heads, q_heads, tokens);
  std::printf("%-8s %12s %10s %10s %12s\n", "format", "memory_B", "K_bits", "V_bits", "rel_err");
  for (const char* format : {"f32", "f16", "q4", "tq4", "tq3", "tq2.5", "tqp3", "polar"}) {
    CacheStats stats;
    std::size_t bytes = 0;
    const std::vector<float> out = attend_with(format, &stats, &bytes);
    double err = 0.0, ref = 0.0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      err += (out[i] - exact[i]) * static_cast<double>(out[i] - exact[i]);
      ref += exact[i] * static_cast<double>(exact[i]);
    }
    std::printf("%-8s %12zu %10.3f %10.3f %12.4f\n", format, bytes, stats.key_bits_per_coord,
                stats.value_bits_per_coord, std::sqrt(err / ref));
  }
  std::printf("\nrel_err: |o - o_f32| / |o_f32| of the attention output; K/V_bits: measured over compressed tokens.\n");
}

}  // namespace

int cmd_demo(int argc, char** argv) {
  const Args args(argc, argv, {"help"}, {"dim", "samples", "seed"});
  if (args.has("help")) {
    std::printf("usage: veloxquant demo [--dim 128] [--samples 1000] [--seed 42]\n");
    return 0;
  }
  const auto dim = static_cast<std::size_t>(args.integer("dim", 128));
  const auto samples = static_cast<std::size_t>(args.integer("samples", 1000));
  const auto seed = static_cast<std::uint64_t>(args.integer("seed", 42));
  std::printf("veloxquant demo: %zu random unit vectors of dimension %zu, every method\n\n", samples, dim);
  std::vector<FormatMeasurement> rows;
  for (const char* f :
       {"f16", "q8", "q4", "tq1", "tq2", "tq2.5", "tq3", "tq3.5", "tq4", "tqp2", "tqp3", "tqp4", "qjl", "polar"})
    rows.push_back(measure_format(f, dim, samples, seed));
  print_measurement_table(rows);
  std::printf(
      "\nmse: mean |u - decode(encode(u))|^2 for unit u; mse_theory: d*C(f_d,b), the Lloyd-Max MSE of the\n"
      "exact coordinate density (tq stores the least-squares scale, so it lands at or below theory).\n"
      "ip_*: error of <y,u> estimated on the codes for random unit queries y.\n");
  cache_demo(dim, seed);
  return 0;
}

}  // namespace veloxquant::cli
