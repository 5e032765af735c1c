// `veloxquant run`: text generation with a GGUF Llama model whose attention runs on the chosen
// KV cache. Prints the text on stdout and prompt/generation speed and KV memory on stderr.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "calibrate.h"
#include "cli.h"
#include "math/prng.h"
#include "run_chat.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/llama_model.h"
#include "runner/sampling.h"
#include "runner/tokenizer.h"
#include "util/memory_usage.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp = R"(usage: veloxquant run -m model.gguf (-p "text" | -f prompt.txt | --chat) [options]

Generates text; attention of every layer runs on the KV cache formats given.

  -m, --model FILE     GGUF model (llama, qwen2, qwen3, phi3, gemma2 or gemma3; weights of any
                       type of docs/weights.md), or a quantized model written by
                       `veloxquant quantize-model` (.vqm)
  -p, --prompt TEXT    prompt text
  -f, --file FILE      read the prompt from a file
  --max-prompt N       keep only the first N prompt tokens (default 0: all)
  -n, --n-predict N    tokens to generate (default 64; stops early at EOS or the context)
  --cache-k F          key format: exact, or a cache format name (f32 f16 q8 q4 tq1..tq8
                       tq2.5 tq3.5 tqp2..tqp8 qjl polar); default f16
  --cache-v F          value format (default f16)
  --cache-k-layers S   per-layer key formats, LIST=FORMAT[;LIST=FORMAT...] with layer indices
                       (negative: from the end), e.g. 0,1,-1,-2=q8: the first and last two
                       layers at q8, the others at --cache-k (cache formats only)
  --cache-v-layers S   per-layer value formats, the same way
  --window N           exact recent tokens of the compressed cache (default 128)
  --sinks N            exact first tokens of the compressed cache (default 4)
  --temp T             sampling temperature; 0 = greedy (default 0)
  --seed S             sampling and cache seed (default 0)
  --weights F          quantize the model's matrices to format F (e.g. tq4; tq4:block=64 for
                       one record and scale per 64 columns) at load; products run on the codes
  --threads N          worker threads (default: all cores)
  --chat               chat: read user turns from stdin, one per line, and answer each
                       through the model's chat template; the KV cache is kept between turns
                       (-n is then the length of each reply, default 256)
  --chat-template NAME llama3, chatml, gemma or phi3 instead of the one recognised from the
                       model's tokenizer.chat_template
  --system TEXT        system message of the chat
)";

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int cmd_run(int argc, char** argv) {
  const Args args(argc, argv, {"help", "chat"},
                  {"model",
                   "prompt",
                   "file",
                   "max-prompt",
                   "n-predict",
                   "cache-k",
                   "cache-v",
                   "cache-k-layers",
                   "cache-v-layers",
                   "window",
                   "sinks",
                   "temp",
                   "seed",
                   "threads",
                   "weights",
                   kCalibrationOptions[0],
                   kCalibrationOptions[1],
                   kCalibrationOptions[2],
                   kCalibrationOptions[3],
                   "chat-template",
                   "system"},
                  {{"-m", "model"}, {"-p", "prompt"}, {"-f", "file"}, {"-n", "n-predict"}, {"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    std::fputs(kCalibrationHelp, stdout);
    return 0;
  }
  if (!args.positionals().empty()) throw std::invalid_argument("unexpected argument '" + args.positionals()[0] + "'");
  if (!args.has("model")) throw std::invalid_argument("missing -m model.gguf");
  if (!args.has("chat") && args.has("prompt") == args.has("file"))
    throw std::invalid_argument("give exactly one of -p TEXT or -f FILE (or --chat)");
  const long long n_predict = args.integer("n-predict", 64), max_prompt = args.integer("max-prompt", 0);
  const long long window = args.integer("window", 128), sinks = args.integer("sinks", 4);
  const std::size_t threads = thread_count(args);
  const double temp = args.number("temp", 0.0);
  if (n_predict < 0) throw std::invalid_argument("-n " + std::to_string(n_predict) + " is negative");
  if (max_prompt < 0) throw std::invalid_argument("--max-prompt " + std::to_string(max_prompt) + " is negative");
  if (window < 0 || sinks < 0) throw std::invalid_argument("--window and --sinks must not be negative");
  if (!(temp >= 0.0) || !std::isfinite(temp))
    throw std::invalid_argument("--temp " + args.str("temp", "") + " must be ≥ 0");

  const std::optional<Calibration> calibration = calibration_args(args);
  ThreadPool pool(threads);
  const auto load_start = std::chrono::steady_clock::now();
  LlamaModel model = LlamaModel::load(args.str("model", ""));
  if (args.has("weights")) {  // products on TurboQuant (or other) codes of the weight rows
    std::optional<InputMoments> moments;
    if (calibration) moments = calibrate(model, *calibration, pool);  // on the weights as loaded
    const LlamaModel::WeightBytes b =
        model.quantize_weights(args.str("weights", ""), static_cast<std::uint64_t>(args.integer("seed", 0)), false,
                               moments ? &*moments : nullptr);
    std::fprintf(stderr, "weights %s%s: matrices %zu -> %zu bytes\n", args.str("weights", "").c_str(),
                 moments ? " (GPTQ)" : "", b.before, b.after);
  }
  std::fprintf(stderr, "model loaded in %.4f s%s\n", seconds_since(load_start),
               model.weights_quantized() ? (" (weights " + model.weight_scheme().name() + ")").c_str() : "");
  const LlamaConfig& c = model.config();
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  if (args.has("chat")) return run_chat(args, model, tokenizer, pool);
  std::string prompt = args.str("prompt", "");
  if (args.has("file")) {
    std::ifstream in(args.str("file", ""), std::ios::binary);
    if (!in) throw std::invalid_argument("cannot open prompt file '" + args.str("file", "") + "'");
    prompt.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::vector<std::int32_t> tokens = tokenizer.encode(prompt, tokenizer.add_bos());
  if (max_prompt > 0 && tokens.size() > static_cast<std::size_t>(max_prompt))
    tokens.resize(static_cast<std::size_t>(max_prompt));
  if (tokens.empty()) throw std::invalid_argument("the prompt is empty");
  if (tokens.size() >= c.context)
    throw std::invalid_argument("prompt of " + std::to_string(tokens.size()) + " tokens does not fit the context of " +
                                std::to_string(c.context));

  KvStoreOptions options;
  options.key_format = args.str("cache-k", "f16");
  options.value_format = args.str("cache-v", "f16");
  options.key_layers = args.str("cache-k-layers", "");
  options.value_layers = args.str("cache-v-layers", "");
  options.window = static_cast<std::size_t>(window);
  options.sinks = static_cast<std::size_t>(sinks);
  options.seed = static_cast<std::uint64_t>(args.integer("seed", 0));
  const std::unique_ptr<KvStore> store = make_kv_store(options, c.kv_shape(), pool);
  LlamaSession session(model, *store, pool);
  SplitMix64 rng(options.seed ^ 0x5EEDull);

  std::fputs(tokenizer.decode(tokens).c_str(), stdout);
  std::fflush(stdout);
  std::vector<float> logits(c.vocab);
  auto t0 = std::chrono::steady_clock::now();
  session.forward(tokens.data(), tokens.size(), logits.data(), false);
  const double prompt_s = seconds_since(t0);

  std::size_t generated = 0;
  t0 = std::chrono::steady_clock::now();
  while (generated < static_cast<std::size_t>(n_predict) && session.position() < c.context) {
    const std::int32_t next = sample_token(logits, temp, rng);
    if (tokenizer.is_eog(next)) break;
    std::fputs(tokenizer.token_text(next).c_str(), stdout);
    std::fflush(stdout);
    ++generated;
    if (generated == static_cast<std::size_t>(n_predict) || session.position() + 1 > c.context) break;
    session.forward(&next, 1, logits.data(), false);
  }
  const double gen_s = seconds_since(t0);
  std::printf("\n");
  std::fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tokens/s)\n", tokens.size(), prompt_s,
               static_cast<double>(tokens.size()) / prompt_s);
  std::fprintf(stderr, "generation: %zu tokens in %.3f s (%.1f tokens/s)\n", generated, gen_s,
               gen_s > 0 ? static_cast<double>(generated) / gen_s : 0.0);
  std::fprintf(stderr, "kv cache: K %s, V %s (%s), %zu tokens, %zu bytes (%.1f bytes/token)\n",
               options.key_format.c_str(), options.value_format.c_str(), store->description().c_str(), store->size(),
               store->memory_bytes(), static_cast<double>(store->memory_bytes()) / static_cast<double>(store->size()));
  if (const auto [encode_s, attend_s] = store->seconds(); encode_s + attend_s > 0.0)
    std::fprintf(stderr, "kv cache time: append/encode %.3f s, attend %.3f s (prompt and generation)\n", encode_s,
                 attend_s);
  if (const std::string memory = memory_summary(); !memory.empty())
    std::fprintf(stderr, "memory: %s\n", memory.c_str());
  return 0;
}

}  // namespace veloxquant::cli
