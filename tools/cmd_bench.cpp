// `veloxquant bench attend|append|encode`: speed of the KV cache per format, on the same data in
// one run. Results on stdout (a table, or JSON with --json); progress on stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "cli.h"
#include "io/json.h"
#include "kernels/targets.h"
#include "math/prng.h"
#include "veloxquant/kv_cache.h"
#include "veloxquant/quantizer.h"

namespace veloxquant::cli {

namespace {

const char* kDefaultFormats = "f32,f16,q8,q4,tq4,tq3,tq2.5,tqp3,qjl,polar";

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const std::size_t m = x.size() / 2;
  return x.size() % 2 ? x[m] : 0.5 * (x[m - 1] + x[m]);
}

std::vector<float> normals(std::size_t n, std::uint64_t seed) {
  SplitMix64 g(seed);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(g.normal());
  return x;
}

// The --formats list, each name parsed up front so that a typo fails before any work.
std::vector<std::string> checked_formats(const Args& args) {
  std::vector<std::string> formats = args.list("formats", kDefaultFormats);
  for (const std::string& f : formats) parse_format(f);
  return formats;
}

std::size_t positive(const Args& args, const std::string& name, long long fallback) {
  const long long v = args.integer(name, fallback);
  if (v < 1) throw std::invalid_argument("option --" + name + ": must be ≥ 1, got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

// Reads a buffer larger than the caches: evicts the cache's data between timed runs (as the other
// layers of a model would) and measures the single-core read bandwidth.
class MemoryProbe {
 public:
  MemoryProbe() : buffer_(std::size_t{256} << 20 >> 3, 1) {}
  // Seconds of one read pass over the buffer.
  double read_pass() {
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t sum = 0;
    for (std::uint64_t w : buffer_) sum += w;
    sink_ = sink_ + sum;
    return seconds_since(start);
  }
  double read_gb_per_s() {
    double best = 1e9;
    for (int i = 0; i < 5; ++i) best = std::min(best, read_pass());
    return static_cast<double>(buffer_.size() * 8) / best * 1e-9;
  }
  void flush() { read_pass(); }

 private:
  std::vector<std::uint64_t> buffer_;
  volatile std::uint64_t sink_ = 0;  // keeps the read loop from being optimised away
};

// Exact attention of one decode step (double accumulation): q [q_heads][d], k/v [ctx][kv_heads][d].
std::vector<float> exact_step(const std::vector<float>& k, const std::vector<float>& v, const std::vector<float>& q,
                              std::size_t ctx, std::size_t kv_heads, std::size_t group, std::size_t d) {
  std::vector<float> out(kv_heads * group * d);
  std::vector<double> s(ctx), acc(d);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (std::size_t h = 0; h < kv_heads * group; ++h) {
    const float* qh = &q[h * d];
    const std::size_t kvh = h / group;
    double m = -1e300;
    for (std::size_t t = 0; t < ctx; ++t) {
      const float* kt = &k[(t * kv_heads + kvh) * d];
      double dot = 0.0;
      for (std::size_t c = 0; c < d; ++c) dot += static_cast<double>(qh[c]) * kt[c];
      s[t] = dot * scale;
      m = std::max(m, s[t]);
    }
    double sum = 0.0;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (std::size_t t = 0; t < ctx; ++t) {
      const double w = std::exp(s[t] - m);
      sum += w;
      const float* vt = &v[(t * kv_heads + kvh) * d];
      for (std::size_t c = 0; c < d; ++c) acc[c] += w * vt[c];
    }
    for (std::size_t c = 0; c < d; ++c) out[h * d + c] = static_cast<float>(acc[c] / sum);
  }
  return out;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

struct CacheShape {
  std::size_t dim, kv_heads, group, window, sinks, threads, page_tokens;
  std::uint64_t seed;
  CacheConfig config(const std::string& format) const {
    CacheConfig c;
    c.layers = 1;
    c.kv_heads = kv_heads;
    c.q_heads = kv_heads * group;
    c.head_dim = dim;
    c.key_format = c.value_format = format;
    c.window = window;
    c.sinks = sinks;
    c.threads = threads;
    c.page_tokens = page_tokens;
    c.seed = seed;
    return c;
  }
};

CacheShape read_shape(const Args& args) {
  return CacheShape{positive(args, "dim", 128),
                    positive(args, "kv-heads", 8),
                    positive(args, "q-per-kv", 4),
                    static_cast<std::size_t>(args.integer("window", 128)),
                    static_cast<std::size_t>(args.integer("sinks", 4)),
                    positive(args, "threads", 1),
                    positive(args, "page-tokens", CacheConfig{}.page_tokens),
                    static_cast<std::uint64_t>(args.integer("seed", 1))};
}

void append_all(KVCache& cache, const std::vector<float>& k, const std::vector<float>& v, std::size_t ctx,
                std::size_t chunk, std::size_t token_floats) {
  for (std::size_t t = 0; t < ctx; t += chunk) {
    const std::size_t n = std::min(chunk, ctx - t);
    cache.append(0, n, &k[t * token_floats], &v[t * token_floats]);
  }
}

const std::set<std::string> kShapeOptions = {"dim",     "kv-heads", "q-per-kv",    "window",  "sinks",
                                             "threads", "seed",     "page-tokens", "formats", "reps"};

std::set<std::string> with(std::set<std::string> base, std::initializer_list<const char*> extra) {
  for (const char* e : extra) base.insert(e);
  return base;
}

// One row of `bench attend`: a format at a context.
struct AttendRow {
  std::string format;
  std::size_t ctx;
  double us, us_min, bytes_per_token, bits, code_bits, rel_err, gb_per_s, floor_us;
  std::optional<double> speedup;  // against f16 in the same run
};

struct AttendRun {
  CacheShape shape;
  std::vector<std::string> formats;
  std::size_t reps;
  bool warm;
  double bandwidth;  // GB/s of one core
};

// Every format's cache is built first and the repetitions interleave the formats, so a slow phase
// of a noisy machine hits all formats alike and the ratios stay comparable.
std::vector<AttendRow> measure_attend(const AttendRun& run, MemoryProbe& probe, std::size_t ctx) {
  const CacheShape& shape = run.shape;
  const std::size_t token_floats = shape.kv_heads * shape.dim, n_formats = run.formats.size();
  std::fprintf(stderr, "ctx %zu: generating data\n", ctx);
  const std::vector<float> k = normals(ctx * token_floats, shape.seed * 3 + 1);
  const std::vector<float> v = normals(ctx * token_floats, shape.seed * 3 + 2);
  const std::vector<float> q = normals(shape.kv_heads * shape.group * shape.dim, shape.seed * 3 + 3);
  const std::vector<float> exact = exact_step(k, v, q, ctx, shape.kv_heads, shape.group, shape.dim);
  std::vector<KVCache> caches;
  std::vector<std::vector<float>> outs(n_formats, std::vector<float>(q.size()));
  for (std::size_t f = 0; f < n_formats; ++f) {
    std::fprintf(stderr, "ctx %zu: %s\n", ctx, run.formats[f].c_str());
    caches.emplace_back(shape.config(run.formats[f]));
    append_all(caches[f], k, v, ctx, 256, token_floats);
    caches[f].attend(0, 1, q.data(), outs[f].data());
  }
  std::vector<std::vector<double>> times(n_formats);
  for (std::size_t r = 0; r < run.reps; ++r)
    for (std::size_t f = 0; f < n_formats; ++f) {
      if (!run.warm) probe.flush();
      const auto start = std::chrono::steady_clock::now();
      caches[f].attend(0, 1, q.data(), outs[f].data());
      times[f].push_back(seconds_since(start));
    }
  std::vector<AttendRow> rows;
  std::optional<double> f16_us;
  for (std::size_t f = 0; f < n_formats; ++f) {
    const double us = median(times[f]) * 1e6, bytes = static_cast<double>(caches[f].memory_bytes());
    const CacheStats stats = caches[f].stats();
    if (run.formats[f] == "f16") f16_us = us;
    rows.push_back(
        AttendRow{run.formats[f], ctx, us, *std::min_element(times[f].begin(), times[f].end()) * 1e6,
                  bytes / static_cast<double>(ctx), 8.0 * bytes / static_cast<double>(ctx * token_floats * 2),
                  0.5 * (stats.key_bits_per_coord + stats.value_bits_per_coord), relative_error(outs[f], exact),
                  bytes / (us * 1e-6) * 1e-9, bytes / (run.bandwidth * 1e9) * 1e6, std::nullopt});
  }
  if (f16_us)
    for (AttendRow& row : rows) row.speedup = *f16_us / row.us;
  return rows;
}

Json attend_json(const AttendRun& run, const std::vector<AttendRow>& rows) {
  Json out = Json::object(), config = Json::object(), results = Json::array();
  out.set("command", Json::string("bench attend"));
  out.set("read_gb_per_s", Json::number_or_null(run.bandwidth));
  const CacheShape& shape = run.shape;
  for (const auto& [key, value] : {std::pair<const char*, std::size_t>{"dim", shape.dim},
                                   {"kv_heads", shape.kv_heads},
                                   {"q_per_kv", shape.group},
                                   {"window", shape.window},
                                   {"sinks", shape.sinks},
                                   {"page_tokens", shape.page_tokens},
                                   {"threads", shape.threads},
                                   {"reps", run.reps}})
    config.set(key, Json::unsigned_integer(value));
  config.set("target", Json::string(kernels::active_target_name()));
  config.set("warm", Json::boolean(run.warm));
  out.set("config", std::move(config));
  for (const AttendRow& r : rows) {
    Json o = Json::object();
    o.set("format", Json::string(r.format));
    o.set("key_format", Json::string(r.format));
    o.set("value_format", Json::string(r.format));
    o.set("ctx", Json::unsigned_integer(r.ctx));
    o.set("us_per_step", Json::number_or_null(r.us));
    o.set("us_min", Json::number_or_null(r.us_min));
    o.set("kv_bytes_per_token", Json::number_or_null(r.bytes_per_token));
    o.set("bits_per_coord", Json::number_or_null(r.bits));
    o.set("code_bits_per_coord", Json::number_or_null(r.code_bits));
    o.set("speedup_vs_f16", r.speedup ? Json::number_or_null(*r.speedup) : Json());
    o.set("rel_err", Json::number_or_null(r.rel_err));
    o.set("gb_per_s", Json::number_or_null(r.gb_per_s));
    o.set("floor_us", Json::number_or_null(r.floor_us));
    results.push(std::move(o));
  }
  out.set("results", std::move(results));
  return out;
}

void print_attend_table(const AttendRun& run, const std::vector<AttendRow>& rows) {
  const CacheShape& shape = run.shape;
  std::printf(
      "read bandwidth (one core): %.1f GB/s; d=%zu, %zu KV heads × %zu query heads, window %zu, sinks %zu, "
      "pages of %zu, %zu thread(s), median of %zu%s; SIMD target %s\n\n",
      run.bandwidth, shape.dim, shape.kv_heads, shape.group, shape.window, shape.sinks, shape.page_tokens,
      shape.threads, run.reps, run.warm ? ", warm (caches not flushed)" : "", kernels::active_target_name().c_str());
  int width = 8;  // the format column fits the longest name (tq4:extra=48, ...)
  for (const AttendRow& r : rows) width = std::max(width, static_cast<int>(r.format.size()));
  std::printf("%-*s %7s %10s %10s %11s %9s %10s %9s %8s %9s\n", width, "format", "ctx", "us/step", "min us",
              "KV B/token", "bits/crd", "vs f16", "rel.err", "GB/s", "x floor");
  for (const AttendRow& r : rows) {
    char speedup[16] = "        -";  // without f16 in --formats
    if (r.speedup) std::snprintf(speedup, sizeof speedup, "%9.2fx", *r.speedup);
    std::printf("%-*s %7zu %10.1f %10.1f %11.1f %9.3f %10s %9.4f %8.1f %9.2f\n", width, r.format.c_str(), r.ctx, r.us,
                r.us_min, r.bytes_per_token, r.bits, speedup, r.rel_err, r.gb_per_s, r.us / r.floor_us);
  }
}

int bench_attend(int argc, char** argv) {
  const Args args(argc, argv, {"json", "help", "warm"}, with(kShapeOptions, {"ctx"}));
  if (args.has("help")) {
    std::printf(
        "usage: veloxquant bench attend [--ctx 1024,8192,32768] [--dim 128] [--q-per-kv 4] [--kv-heads 8]\n"
        "         [--formats %s] [--threads 1] [--reps 5] [--window 128] [--sinks 4] [--page-tokens 256]\n"
        "         [--json] [--warm]\n"
        "One decode step (all KV heads of one layer, one query per query head) per format and context;\n"
        "median (and minimum) of --reps runs, the CPU caches flushed before each (not with --warm:\n"
        "then a step whose data fits the caches shows its arithmetic alone); the runs of the\n"
        "formats are interleaved (rep 1 of every format, then rep 2, ...).\n",
        kDefaultFormats);
    return 0;
  }
  AttendRun run{read_shape(args), checked_formats(args), positive(args, "reps", 5), args.has("warm"), 0.0};
  std::vector<std::size_t> contexts;
  for (long long ctx : args.int_list("ctx", "1024,8192,32768")) {
    if (ctx < 1) throw std::invalid_argument("option --ctx: " + std::to_string(ctx) + " is not ≥ 1");
    contexts.push_back(static_cast<std::size_t>(ctx));
  }
  MemoryProbe probe;
  run.bandwidth = probe.read_gb_per_s();
  std::fprintf(stderr, "read bandwidth (one core): %.1f GB/s\n", run.bandwidth);
  std::vector<AttendRow> rows;
  for (const std::size_t ctx : contexts) {
    const std::vector<AttendRow> at_ctx = measure_attend(run, probe, ctx);
    rows.insert(rows.end(), at_ctx.begin(), at_ctx.end());
  }
  if (args.has("json")) {
    std::printf("%s\n", attend_json(run, rows).dump(0).c_str());
  } else {
    print_attend_table(run, rows);
  }
  return 0;
}

int bench_append(int argc, char** argv) {
  const Args args(argc, argv, {"json", "help"}, with(kShapeOptions, {"tokens", "chunk"}));
  if (args.has("help")) {
    std::printf(
        "usage: veloxquant bench append [--tokens 8192] [--chunk 1] [--dim 128] [--kv-heads 8] [--formats ...]\n"
        "         [--window 128] [--sinks 4] [--reps 3] [--json]\n"
        "Appends --tokens tokens (K and V, all KV heads of one layer), --chunk tokens per call; reports\n"
        "token-heads per second (median of --reps).\n");
    return 0;
  }
  const CacheShape shape = read_shape(args);
  const std::size_t tokens = positive(args, "tokens", 8192), chunk = positive(args, "chunk", 1);
  const std::size_t reps = positive(args, "reps", 3);
  const std::vector<std::string> formats = checked_formats(args);
  const std::size_t token_floats = shape.kv_heads * shape.dim;
  const std::vector<float> k = normals(tokens * token_floats, 11), v = normals(tokens * token_floats, 12);
  std::vector<std::pair<std::string, double>> rows;
  for (const std::string& format : formats) {
    std::fprintf(stderr, "append %s\n", format.c_str());
    std::vector<double> times;
    for (std::size_t r = 0; r < reps; ++r) {
      KVCache cache(shape.config(format));
      const auto start = std::chrono::steady_clock::now();
      append_all(cache, k, v, tokens, chunk, token_floats);
      times.push_back(seconds_since(start));
    }
    rows.emplace_back(format, static_cast<double>(tokens * shape.kv_heads) / median(times));
  }
  if (args.has("json")) {
    Json out = Json::object(), results = Json::array();
    out.set("command", Json::string("bench append"));
    for (const auto& [key, value] : {std::pair<const char*, std::size_t>{"tokens", tokens},
                                     {"chunk", chunk},
                                     {"dim", shape.dim},
                                     {"kv_heads", shape.kv_heads},
                                     {"window", shape.window},
                                     {"sinks", shape.sinks}})
      out.set(key, Json::unsigned_integer(value));
    for (const auto& [format, rate] : rows) {
      Json o = Json::object();
      o.set("format", Json::string(format));
      o.set("token_heads_per_s", Json::number_or_null(rate));
      results.push(std::move(o));
    }
    out.set("results", std::move(results));
    std::printf("%s\n", out.dump(0).c_str());
    return 0;
  }
  std::printf("append %zu tokens × %zu KV heads, d=%zu, %zu token(s) per call, window %zu, sinks %zu\n\n", tokens,
              shape.kv_heads, shape.dim, chunk, shape.window, shape.sinks);
  std::printf("%-8s %18s\n", "format", "M token-heads/s");
  for (const auto& [format, rate] : rows) std::printf("%-8s %18.3f\n", format.c_str(), rate * 1e-6);
  return 0;
}

int bench_encode(int argc, char** argv) {
  const Args args(argc, argv, {"json", "help"}, {"n", "dim", "formats", "reps", "seed"});
  if (args.has("help")) {
    std::printf(
        "usage: veloxquant bench encode [--n 65536] [--dim 128] [--formats ...] [--reps 5] [--json]\n"
        "Quantizer::encode of --n random vectors; vectors per second (median of --reps).\n");
    return 0;
  }
  const std::size_t n = positive(args, "n", 65536), dim = positive(args, "dim", 128);
  const std::size_t reps = positive(args, "reps", 5);
  const std::vector<std::string> formats = checked_formats(args);
  const std::vector<float> x = normals(n * dim, static_cast<std::uint64_t>(args.integer("seed", 1)));
  std::vector<std::pair<std::string, double>> rows;
  for (const std::string& format : formats) {
    std::fprintf(stderr, "encode %s\n", format.c_str());
    const auto quantizer = make_quantizer(format, dim, 7);
    std::vector<std::uint8_t> codes(n * quantizer->code_size());
    std::vector<double> times;
    for (std::size_t r = 0; r < reps; ++r) {
      const auto start = std::chrono::steady_clock::now();
      quantizer->encode(n, x.data(), codes.data());
      times.push_back(seconds_since(start));
    }
    rows.emplace_back(format, static_cast<double>(n) / median(times));
  }
  if (args.has("json")) {
    Json out = Json::object(), results = Json::array();
    out.set("command", Json::string("bench encode"));
    out.set("n", Json::unsigned_integer(n));
    out.set("dim", Json::unsigned_integer(dim));
    for (const auto& [format, rate] : rows) {
      Json o = Json::object();
      o.set("format", Json::string(format));
      o.set("vectors_per_s", Json::number_or_null(rate));
      results.push(std::move(o));
    }
    out.set("results", std::move(results));
    std::printf("%s\n", out.dump(0).c_str());
    return 0;
  }
  std::printf("encode %zu vectors, d=%zu\n\n%-8s %14s\n", n, dim, "format", "M vectors/s");
  for (const auto& [format, rate] : rows) std::printf("%-8s %14.3f\n", format.c_str(), rate * 1e-6);
  return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  const std::string mode = argc >= 2 ? argv[1] : "";
  if (mode == "attend") return bench_attend(argc - 1, argv + 1);
  if (mode == "append") return bench_append(argc - 1, argv + 1);
  if (mode == "encode") return bench_encode(argc - 1, argv + 1);
  std::fprintf(mode == "--help" ? stdout : stderr,
               "usage: veloxquant bench attend|append|encode [options]   (--help for each)\n");
  return mode == "--help" ? 0 : 2;
}

}  // namespace veloxquant::cli
