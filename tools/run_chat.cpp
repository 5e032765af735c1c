#include "run_chat.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "math/prng.h"
#include "runner/chat_session.h"
#include "runner/chat_template.h"
#include "runner/kv_store.h"
#include "runner/llama_forward.h"
#include "runner/sampling.h"

namespace veloxquant::cli {

int run_chat(const Args& args, const LlamaModel& model, const Tokenizer& tokenizer, ThreadPool& pool) {
  if (args.has("prompt") || args.has("file"))
    throw std::invalid_argument("--chat reads the user's turns from stdin; -p and -f do not apply");
  const ChatTemplate tmpl = detect_chat_template(model.file(), args.str("chat-template", ""));
  const LlamaConfig& c = model.config();
  KvStoreOptions options;
  options.key_format = args.str("cache-k", "f16");
  options.value_format = args.str("cache-v", "f16");
  options.key_layers = args.str("cache-k-layers", "");
  options.value_layers = args.str("cache-v-layers", "");
  options.window = static_cast<std::size_t>(args.integer("window", 128));
  options.sinks = static_cast<std::size_t>(args.integer("sinks", 4));
  options.seed = static_cast<std::uint64_t>(args.integer("seed", 0));
  const std::unique_ptr<KvStore> store = make_kv_store(options, c.kv_shape(), pool);
  LlamaSession session(model, *store, pool);
  ChatSession chat(session, tokenizer, tmpl, c.vocab, c.context, args.str("system", ""));
  const auto max_tokens = static_cast<std::size_t>(args.integer("n-predict", 256));
  const double temp = args.number("temp", 0.0);
  SplitMix64 rng(options.seed ^ 0x5EEDull);
  const bool interactive = isatty(STDIN_FILENO) != 0;
  std::fprintf(stderr, "chat template: %s\n", tmpl.name.c_str());

  std::string line;
  for (std::size_t turn = 1;; ++turn) {
    if (interactive) std::fputs("> ", stderr);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    const auto t0 = std::chrono::steady_clock::now();
    const ChatSession::Turn r = chat.reply(
        line, max_tokens, [&](const std::vector<float>& logits) { return sample_token(logits, temp, rng); },
        [](const std::string& piece) {
          std::fputs(piece.c_str(), stdout);
          std::fflush(stdout);
        });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "turn %zu: %zu new tokens run, %zu generated%s, %zu in the cache (%.3f s)\n", turn,
                 r.prompt_tokens, r.generated, r.ended ? " (end of turn)" : "", store->size(), s);
  }
  return 0;
}

}  // namespace veloxquant::cli
