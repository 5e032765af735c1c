// `veloxquant perplexity`: perplexity of a GGUF Llama model over non-overlapping windows with
// a chosen KV cache format, and in the same run against the uncompressed (exact f32) cache:
// mean KL divergence of the next-token distributions, top-1 agreement, KV bytes per token.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "calibrate.h"
#include "cli.h"
#include "json.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/perplexity.h"
#include "runner/tokenizer.h"
#include "util/memory_usage.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp = R"(usage: veloxquant perplexity -m model.gguf (-f text.txt | --tokens file.u16) [options]

Perplexity over non-overlapping windows of --ctx tokens (a fresh cache per window), with the
K/V cache formats given, and against an exact f32 attention pass in the same run: mean KL
divergence KL(p_exact || p_cache) of the next-token distributions and top-1 agreement.

  -m, --model FILE     GGUF model (architecture llama; f32/f16/bf16/q8_0 weights), or a
                       quantized model written by `veloxquant quantize-model` (.vqm)
  -f, --file FILE      text to score (tokenized as one string, no BOS)
  --tokens FILE        token ids to score: little-endian uint16, no BOS
  --ctx N              window length (default 512)
  --chunks N           score only N windows (default 0: all)
  --skip-chunks N      start at window N (default 0), e.g. to split a long run; the sums
                       of two runs combine exactly (nll = tokens·ln ppl, kld and top1 ·tokens)
  --scoring S          full (all ctx predictions of a window, default), full-minus-last,
                       or half (positions ctx/2 .. ctx-2, as llama.cpp's perplexity)
  --cache-k F          key format: exact, or a cache format name (f32 f16 q8 q4 tq1..tq8
                       tq2.5 tq3.5 tqp2..tqp8 qjl polar; see `veloxquant demo`); default f16.
                       Several formats separated by spaces ("f16 q8 tq3") are measured in one
                       run, sharing the exact pass; --cache-v then lists as many (or one).
  --cache-v F          value format(s) (default f16)
  --window N           exact recent tokens of the compressed cache (default 128)
  --sinks N            exact first tokens of the compressed cache (default 4)
  --seed S             seed of the cache's random rotations and sketches (default 0)
  --weights F          tested passes use the model with its matrices quantized to format F
                       (tq3, tq4, tq5, tq8, q8, q4, ...; ":block=N" for a record per N columns;
                       products on the codes); the base pass
                       keeps the weights as loaded, so kld covers weights and cache together
  --threads N          worker threads (default: all cores)
  --json               print one JSON object per K/V pair on stdout instead of text
GPTQ weight quantization (the calibration windows must not overlap the scored ones):
)";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot open text file '" + path + "'");
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// Whitespace-separated words (format names never contain spaces; they may contain commas).
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

struct Tested {
  KvStoreOptions options;
  bool exact = false;
  std::unique_ptr<KvStore> store;
  PerplexityTotals totals;
  std::size_t kv_bytes = 0;
  KvBits bits;
};

}  // namespace

int cmd_perplexity(int argc, char** argv) {
  const Args args(argc, argv, {"json", "help"},
                  {"model", "file", "tokens", "ctx", "chunks", "skip-chunks", "scoring", "cache-k", "cache-v", "window",
                   "sinks", "seed", "threads", "weights", kCalibrationOptions[0], kCalibrationOptions[1],
                   kCalibrationOptions[2], kCalibrationOptions[3]},
                  {{"-m", "model"}, {"-f", "file"}, {"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    std::fputs(kCalibrationHelp, stdout);
    std::fputs("Progress goes to stderr.\n", stdout);
    return 0;
  }
  if (!args.positionals().empty()) throw std::invalid_argument("unexpected argument '" + args.positionals()[0] + "'");
  if (!args.has("model")) throw std::invalid_argument("missing -m model.gguf");
  if (args.has("file") == args.has("tokens"))
    throw std::invalid_argument("give exactly one of -f text.txt or --tokens file.u16");
  const long long ctx = args.integer("ctx", 512), chunks = args.integer("chunks", 0);
  const long long skip = args.integer("skip-chunks", 0);
  const long long window = args.integer("window", 128), sinks = args.integer("sinks", 4);
  const std::size_t threads = thread_count(args);
  if (ctx < 2 || ctx > (1 << 20))
    throw std::invalid_argument("--ctx " + std::to_string(ctx) + " is out of range (2 .. 2^20)");
  if (chunks < 0) throw std::invalid_argument("--chunks " + std::to_string(chunks) + " is negative");
  if (skip < 0) throw std::invalid_argument("--skip-chunks " + std::to_string(skip) + " is negative");
  if (window < 0 || sinks < 0) throw std::invalid_argument("--window and --sinks must not be negative");
  const Scoring scoring = parse_scoring(args.str("scoring", "full"));
  const bool json = args.has("json");

  // Several K/V pairs may be compared in one run: they share the exact pass of each window.
  std::vector<std::string> keys = split_words(args.str("cache-k", "f16"));
  std::vector<std::string> values = split_words(args.str("cache-v", "f16"));
  if (keys.empty() || values.empty()) throw std::invalid_argument("--cache-k and --cache-v need a format");
  if (keys.size() == 1) keys.resize(values.size(), keys[0]);
  if (values.size() == 1) values.resize(keys.size(), values[0]);
  if (keys.size() != values.size())
    throw std::invalid_argument("--cache-k has " + std::to_string(keys.size()) + " formats but --cache-v has " +
                                std::to_string(values.size()));
  const std::optional<Calibration> calibration = calibration_args(args);
  const LlamaModel model = LlamaModel::load(args.str("model", ""));
  const LlamaConfig& c = model.config();
  std::vector<std::int32_t> tokens =
      args.has("tokens") ? read_u16_tokens(args.str("tokens", ""))
                         : Tokenizer::from_gguf(model.file()).encode(read_text(args.str("file", "")), false);
  const std::size_t n_ctx = static_cast<std::size_t>(ctx);
  const std::size_t first = static_cast<std::size_t>(skip), available = window_count(tokens.size(), n_ctx);
  if (first >= available)
    throw std::invalid_argument(std::to_string(tokens.size()) + " tokens hold " + std::to_string(available) +
                                " windows of --ctx " + std::to_string(ctx) +
                                " (ctx + 1 tokens each), none after skipping " + std::to_string(first));
  std::size_t windows = available - first;
  if (chunks > 0) windows = std::min(windows, static_cast<std::size_t>(chunks));
  if (n_ctx > c.context)
    std::fprintf(stderr, "warning: --ctx %zu exceeds the model's training context %zu\n", n_ctx, c.context);
  // Calibrating on scored tokens would fit the weights to the text being scored.
  if (calibration && args.has("tokens")) {
    std::error_code ec;
    const std::size_t scored_begin = first * n_ctx, scored_end = (first + windows) * n_ctx + 1;
    if (std::filesystem::equivalent(calibration->file, args.str("tokens", ""), ec) &&
        calibration->first_token() < scored_end && scored_begin < calibration->end_token())
      throw std::invalid_argument("calibration tokens " + std::to_string(calibration->first_token()) + " .. " +
                                  std::to_string(calibration->end_token()) + " overlap the scored tokens " +
                                  std::to_string(scored_begin) + " .. " + std::to_string(scored_end) +
                                  " (raise --calib-skip)");
  }

  ThreadPool pool(threads);
  // --weights: the tested passes run a copy of the model whose matrices are quantized; the base
  // pass keeps the weights as loaded, so kld measures weights and cache together.
  const std::string weights = args.str("weights", "");
  std::unique_ptr<LlamaModel> quantized;
  if (!weights.empty()) {
    std::optional<InputMoments> moments;
    if (calibration) moments = calibrate(model, *calibration, pool);
    quantized = std::make_unique<LlamaModel>(LlamaModel::load(args.str("model", "")));
    const LlamaModel::WeightBytes b = quantized->quantize_weights(
        weights, static_cast<std::uint64_t>(args.integer("seed", 0)), false, moments ? &*moments : nullptr);
    std::fprintf(stderr, "weights %s%s: matrices %zu -> %zu bytes (%.3f bits per weight)\n", weights.c_str(),
                 moments ? " (GPTQ)" : "", b.before, b.after,
                 8.0 * static_cast<double>(b.after) / static_cast<double>(b.count));
  }
  const LlamaModel& tested_model = quantized ? *quantized : model;
  const KvShape shape{c.layers, c.heads, c.kv_heads, c.head_dim};
  ExactKvStore base_store(shape, pool);
  LlamaSession base(model, base_store, pool);
  std::vector<Tested> tested;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Tested t;
    t.options.key_format = keys[i];
    t.options.value_format = values[i];
    t.options.window = static_cast<std::size_t>(window);
    t.options.sinks = static_cast<std::size_t>(sinks);
    t.options.seed = static_cast<std::uint64_t>(args.integer("seed", 0));
    t.exact = keys[i] == "exact" && !quantized;
    t.store = make_kv_store(t.options, shape, pool);
    tested.push_back(std::move(t));
  }

  std::vector<float> base_logits(n_ctx * c.vocab), logits(n_ctx * c.vocab);
  const auto range = scored_range(scoring, n_ctx);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t w = 0; w < windows; ++w) {
    const std::int32_t* in = tokens.data() + (first + w) * n_ctx;
    base_store.clear();
    base.forward(in, n_ctx, base_logits.data(), true);
    for (Tested& t : tested) {
      const float* tested_logits = base_logits.data();  // an exact tested cache is the base pass itself
      KvStore& store = t.exact ? base_store : *t.store;
      if (!t.exact) {
        t.store->clear();
        LlamaSession(tested_model, *t.store, pool).forward(in, n_ctx, logits.data(), true);
        tested_logits = logits.data();
      }
      t.kv_bytes = store.memory_bytes();
      t.bits = store.bits_per_coord();
      score_window(tested_logits, base_logits.data(), in + 1, c.vocab, range, t.totals);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[%zu/%zu] base ppl %.4f", w + 1, windows, tested[0].totals.ppl_base());
    for (const Tested& t : tested)
      std::fprintf(stderr, " | %s/%s ppl %.4f kld %.5f top1 %.4f", t.options.key_format.c_str(),
                   t.options.value_format.c_str(), t.totals.ppl(), t.totals.mean_kld(), t.totals.top1_rate());
    std::fprintf(stderr, "  (%.1f s)\n", secs);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double f32_bytes_per_token = 2.0 * 4.0 * static_cast<double>(c.layers * c.kv_heads * c.head_dim);

  if (!json)
    std::printf("model %s  ctx %zu  scoring %s  windows %zu  window %lld  sinks %lld  time %.1f s\n",
                args.str("model", "").c_str(), n_ctx, scoring_name(scoring), windows, window, sinks, seconds);
  for (const Tested& t : tested) {
    const PerplexityTotals& r = t.totals;
    const double bytes_per_token = static_cast<double>(t.kv_bytes) / static_cast<double>(n_ctx);
    if (json) {
      std::printf(
          "{\"model\": %s, \"ctx\": %zu, \"scoring\": \"%s\", \"first_window\": %zu, \"windows\": %zu, \"tokens\": "
          "%zu, \"cache_k\": %s, "
          "\"cache_v\": %s, \"window\": %lld, \"sinks\": %lld, \"ppl\": %.6f, \"ppl_base\": %.6f, \"kld\": %.8f, "
          "\"top1\": %.6f, \"kv_bytes_per_token\": %.3f, \"f32_kv_bytes_per_token\": %.1f, \"key_bits\": %.4f, "
          "\"value_bits\": %.4f, \"seconds\": %.2f}\n",
          json_string(args.str("model", "")).c_str(), n_ctx, scoring_name(scoring), first, windows, r.count,
          json_string(t.options.key_format).c_str(), json_string(t.options.value_format).c_str(), window, sinks,
          r.ppl(), r.ppl_base(), r.mean_kld(), r.top1_rate(), bytes_per_token, f32_bytes_per_token, t.bits.key,
          t.bits.value, seconds);
    } else {
      std::printf(
          "K %-8s V %-8s ppl %.4f (exact %.4f)  kld %.6f  top1 %.4f  bits K %.3f V %.3f  kv bytes/token %.1f (f32 "
          "%.0f)\n",
          t.options.key_format.c_str(), t.options.value_format.c_str(), r.ppl(), r.ppl_base(), r.mean_kld(),
          r.top1_rate(), t.bits.key, t.bits.value, bytes_per_token, f32_bytes_per_token);
    }
  }
  if (const std::string memory = memory_summary(); !memory.empty())
    std::fprintf(stderr, "memory: %s\n", memory.c_str());
  return 0;
}

}  // namespace veloxquant::cli
