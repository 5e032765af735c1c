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
#include "io/json.h"
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

  -m, --model FILE     GGUF model (llama, qwen2, qwen3, phi3, gemma2 or gemma3; weights of any
                       type of docs/weights.md), or a quantized model written by
                       `veloxquant quantize-model` (.vqm)
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
  --cache-k-layers S   per-layer key formats, LIST=FORMAT[;LIST=FORMAT...] with layer indices
                       (negative: from the end), e.g. 0,1,-1,-2=q8: the first and last two
                       layers at q8, the others at --cache-k (for every cache format measured;
                       not for exact)
  --cache-v-layers S   per-layer value formats, the same way
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

// The command line, checked.
struct Options {
  std::string model;
  std::size_t ctx = 512, chunks = 0, skip = 0, window = 128, sinks = 4, threads = 1;
  std::uint64_t seed = 0;
  Scoring scoring = Scoring::kFull;
  bool json = false;
  std::vector<std::string> keys, values;  // one K/V pair per tested cache
  std::string key_layers, value_layers;   // --cache-k-layers / --cache-v-layers of the cache passes
  std::string weights;
  std::optional<Calibration> calibration;
};

Options parse_options(const Args& args) {
  if (!args.positionals().empty()) throw std::invalid_argument("unexpected argument '" + args.positionals()[0] + "'");
  if (!args.has("model")) throw std::invalid_argument("missing -m model.gguf");
  if (args.has("file") == args.has("tokens"))
    throw std::invalid_argument("give exactly one of -f text.txt or --tokens file.u16");
  const long long ctx = args.integer("ctx", 512), chunks = args.integer("chunks", 0);
  const long long skip = args.integer("skip-chunks", 0);
  const long long window = args.integer("window", 128), sinks = args.integer("sinks", 4);
  if (ctx < 2 || ctx > (1 << 20))
    throw std::invalid_argument("--ctx " + std::to_string(ctx) + " is out of range (2 .. 2^20)");
  if (chunks < 0) throw std::invalid_argument("--chunks " + std::to_string(chunks) + " is negative");
  if (skip < 0) throw std::invalid_argument("--skip-chunks " + std::to_string(skip) + " is negative");
  if (window < 0 || sinks < 0) throw std::invalid_argument("--window and --sinks must not be negative");
  Options o;
  o.model = args.str("model", "");
  o.ctx = static_cast<std::size_t>(ctx);
  o.chunks = static_cast<std::size_t>(chunks);
  o.skip = static_cast<std::size_t>(skip);
  o.window = static_cast<std::size_t>(window);
  o.sinks = static_cast<std::size_t>(sinks);
  o.threads = thread_count(args);
  o.seed = static_cast<std::uint64_t>(args.integer("seed", 0));
  o.scoring = parse_scoring(args.str("scoring", "full"));
  o.json = args.has("json");
  // Several K/V pairs may be compared in one run: they share the exact pass of each window.
  o.keys = split_words(args.str("cache-k", "f16"));
  o.values = split_words(args.str("cache-v", "f16"));
  if (o.keys.empty() || o.values.empty()) throw std::invalid_argument("--cache-k and --cache-v need a format");
  if (o.keys.size() == 1) o.keys.resize(o.values.size(), o.keys[0]);
  if (o.values.size() == 1) o.values.resize(o.keys.size(), o.values[0]);
  if (o.keys.size() != o.values.size())
    throw std::invalid_argument("--cache-k has " + std::to_string(o.keys.size()) + " formats but --cache-v has " +
                                std::to_string(o.values.size()));
  o.key_layers = args.str("cache-k-layers", "");
  o.value_layers = args.str("cache-v-layers", "");
  o.weights = args.str("weights", "");
  o.calibration = calibration_args(args);
  return o;
}

// How many windows of o.ctx tokens to score from window o.skip on.
std::size_t windows_to_score(const Options& o, std::size_t n_tokens) {
  const std::size_t available = window_count(n_tokens, o.ctx);
  if (o.skip >= available)
    throw std::invalid_argument(std::to_string(n_tokens) + " tokens hold " + std::to_string(available) +
                                " windows of --ctx " + std::to_string(o.ctx) +
                                " (ctx + 1 tokens each), none after skipping " + std::to_string(o.skip));
  const std::size_t windows = available - o.skip;
  return o.chunks > 0 ? std::min(windows, o.chunks) : windows;
}

// Calibrating on scored tokens would fit the weights to the text being scored.
void check_calibration_is_disjoint(const Options& o, const std::string& tokens_file, std::size_t windows) {
  if (!o.calibration || tokens_file.empty()) return;
  std::error_code ec;
  const Calibration& cal = *o.calibration;
  const std::size_t scored_begin = o.skip * o.ctx, scored_end = (o.skip + windows) * o.ctx + 1;
  if (std::filesystem::equivalent(cal.file, tokens_file, ec) && cal.first_token() < scored_end &&
      scored_begin < cal.end_token())
    throw std::invalid_argument("calibration tokens " + std::to_string(cal.first_token()) + " .. " +
                                std::to_string(cal.end_token()) + " overlap the scored tokens " +
                                std::to_string(scored_begin) + " .. " + std::to_string(scored_end) +
                                " (raise --calib-skip)");
}

// --weights: the tested passes run a copy of the model whose matrices are quantized; the base
// pass keeps the weights as loaded, so kld measures weights and cache together.
std::unique_ptr<LlamaModel> quantized_copy(const Options& o, const LlamaModel& model, ThreadPool& pool) {
  if (o.weights.empty()) return nullptr;
  std::optional<InputMoments> moments;
  if (o.calibration) moments = calibrate(model, *o.calibration, pool);
  auto quantized = std::make_unique<LlamaModel>(LlamaModel::load(o.model));
  const LlamaModel::WeightBytes b =
      quantized->quantize_weights(o.weights, o.seed, false, moments ? &*moments : nullptr);
  std::fprintf(stderr, "weights %s%s: matrices %zu -> %zu bytes (%.3f bits per weight)\n", o.weights.c_str(),
               moments ? " (GPTQ)" : "", b.before, b.after,
               8.0 * static_cast<double>(b.after) / static_cast<double>(b.count));
  return quantized;
}

std::vector<Tested> make_tested(const Options& o, const KvShape& shape, bool weights_quantized, ThreadPool& pool) {
  std::vector<Tested> tested;
  for (std::size_t i = 0; i < o.keys.size(); ++i) {
    Tested t;
    t.options.key_format = o.keys[i];
    t.options.value_format = o.values[i];
    t.options.window = o.window;
    t.options.sinks = o.sinks;
    t.options.seed = o.seed;
    if (o.keys[i] != "exact") {
      t.options.key_layers = o.key_layers;
      t.options.value_layers = o.value_layers;
    }
    t.exact = o.keys[i] == "exact" && !weights_quantized;
    t.store = make_kv_store(t.options, shape, pool);
    tested.push_back(std::move(t));
  }
  return tested;
}

// Scores every window with the exact pass and each tested cache; returns the seconds taken.
double score_windows(const Options& o, const std::vector<std::int32_t>& tokens, std::size_t windows,
                     const LlamaModel& model, const LlamaModel& tested_model, std::vector<Tested>& tested,
                     ThreadPool& pool) {
  const LlamaConfig& c = model.config();
  const KvShape shape = c.kv_shape();
  ExactKvStore base_store(shape, pool);
  LlamaSession base(model, base_store, pool);
  std::vector<float> base_logits(o.ctx * c.vocab), logits(o.ctx * c.vocab);
  const auto range = scored_range(o.scoring, o.ctx);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t w = 0; w < windows; ++w) {
    const std::int32_t* in = tokens.data() + (o.skip + w) * o.ctx;
    base_store.clear();
    base.forward(in, o.ctx, base_logits.data(), true);
    for (Tested& t : tested) {
      const float* tested_logits = base_logits.data();  // an exact tested cache is the base pass itself
      const KvStore* store = &base_store;
      if (!t.exact) {
        t.store->clear();
        LlamaSession(tested_model, *t.store, pool).forward(in, o.ctx, logits.data(), true);
        tested_logits = logits.data();
        store = t.store.get();
      }
      t.kv_bytes = store->memory_bytes();
      t.bits = store->bits_per_coord();
      score_window(tested_logits, base_logits.data(), in + 1, c.vocab, range, t.totals);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[%zu/%zu] base ppl %.4f", w + 1, windows, tested[0].totals.ppl_base());
    for (const Tested& t : tested)
      std::fprintf(stderr, " | %s/%s ppl %.4f kld %.5f top1 %.4f", t.options.key_format.c_str(),
                   t.options.value_format.c_str(), t.totals.ppl(), t.totals.mean_kld(), t.totals.top1_rate());
    std::fprintf(stderr, "  (%.1f s)\n", secs);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void print_results(const Options& o, const LlamaConfig& c, const std::vector<Tested>& tested, std::size_t windows,
                   double seconds) {
  const double f32_bytes_per_token = 2.0 * 4.0 * static_cast<double>(c.layers * c.kv_heads * c.head_dim);
  if (!o.json)
    std::printf("model %s  ctx %zu  scoring %s  windows %zu  window %zu  sinks %zu  time %.1f s\n", o.model.c_str(),
                o.ctx, scoring_name(o.scoring), windows, o.window, o.sinks, seconds);
  if (!o.json && (!o.key_layers.empty() || !o.value_layers.empty()))
    std::printf("per-layer formats of the cache passes: K '%s' V '%s'\n", o.key_layers.c_str(), o.value_layers.c_str());
  for (const Tested& t : tested) {
    const PerplexityTotals& r = t.totals;
    const double bytes_per_token = static_cast<double>(t.kv_bytes) / static_cast<double>(o.ctx);
    if (o.json) {
      Json j = Json::object();
      j.set("model", Json::string(o.model));
      j.set("ctx", Json::unsigned_integer(o.ctx));
      j.set("scoring", Json::string(scoring_name(o.scoring)));
      j.set("first_window", Json::unsigned_integer(o.skip));
      j.set("windows", Json::unsigned_integer(windows));
      j.set("tokens", Json::unsigned_integer(r.count));
      j.set("cache_k", Json::string(t.options.key_format));
      j.set("cache_v", Json::string(t.options.value_format));
      j.set("cache_k_layers", Json::string(t.options.key_layers));
      j.set("cache_v_layers", Json::string(t.options.value_layers));
      j.set("window", Json::unsigned_integer(o.window));
      j.set("sinks", Json::unsigned_integer(o.sinks));
      for (const auto& [key, value] : {std::pair<const char*, double>{"ppl", r.ppl()},
                                       {"ppl_base", r.ppl_base()},
                                       {"kld", r.mean_kld()},
                                       {"top1", r.top1_rate()},
                                       {"kv_bytes_per_token", bytes_per_token},
                                       {"f32_kv_bytes_per_token", f32_bytes_per_token},
                                       {"key_bits", t.bits.key},
                                       {"value_bits", t.bits.value},
                                       {"seconds", seconds}})
        j.set(key, Json::number_or_null(value));
      std::printf("%s\n", j.dump(0).c_str());
    } else {
      std::printf(
          "K %-8s V %-8s ppl %.4f (exact %.4f)  kld %.6f  top1 %.4f  bits K %.3f V %.3f  kv bytes/token %.1f (f32 "
          "%.0f)\n",
          t.options.key_format.c_str(), t.options.value_format.c_str(), r.ppl(), r.ppl_base(), r.mean_kld(),
          r.top1_rate(), t.bits.key, t.bits.value, bytes_per_token, f32_bytes_per_token);
    }
  }
}

}  // namespace

int cmd_perplexity(int argc, char** argv) {
  const Args args(argc, argv, {"json", "help"},
                  {"model",
                   "file",
                   "tokens",
                   "ctx",
                   "chunks",
                   "skip-chunks",
                   "scoring",
                   "cache-k",
                   "cache-v",
                   "cache-k-layers",
                   "cache-v-layers",
                   "window",
                   "sinks",
                   "seed",
                   "threads",
                   "weights",
                   kCalibrationOptions[0],
                   kCalibrationOptions[1],
                   kCalibrationOptions[2],
                   kCalibrationOptions[3]},
                  {{"-m", "model"}, {"-f", "file"}, {"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    std::fputs(kCalibrationHelp, stdout);
    std::fputs("Progress goes to stderr.\n", stdout);
    return 0;
  }
  const Options o = parse_options(args);
  const LlamaModel model = LlamaModel::load(o.model);
  const LlamaConfig& c = model.config();
  const std::vector<std::int32_t> tokens =
      args.has("tokens") ? read_u16_tokens(args.str("tokens", ""))
                         : Tokenizer::from_gguf(model.file()).encode(read_text(args.str("file", "")), false);
  const std::size_t windows = windows_to_score(o, tokens.size());
  if (o.ctx > c.context)
    std::fprintf(stderr, "warning: --ctx %zu exceeds the model's training context %zu\n", o.ctx, c.context);
  check_calibration_is_disjoint(o, args.str("tokens", ""), windows);

  ThreadPool pool(o.threads);
  const std::unique_ptr<LlamaModel> quantized = quantized_copy(o, model, pool);
  std::vector<Tested> tested = make_tested(o, c.kv_shape(), quantized != nullptr, pool);
  const double seconds = score_windows(o, tokens, windows, model, quantized ? *quantized : model, tested, pool);
  print_results(o, c, tested, windows, seconds);
  if (const std::string memory = memory_summary(); !memory.empty())
    std::fprintf(stderr, "memory: %s\n", memory.c_str());
  return 0;
}

}  // namespace veloxquant::cli
