// `veloxquant serve`: an OpenAI-compatible HTTP server whose sessions live in compressed KV caches
// (src/server, docs/server.md). Prints "listening on http://HOST:PORT" on stdout once it accepts
// connections; SIGINT or SIGTERM stop it (running requests get 503, sessions are saved with
// --session-dir).
#include <pthread.h>
#include <time.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "args.h"
#include "cli.h"
#include "runner/cache_kv_store.h"
#include "runner/llama_model.h"
#include "runner/tokenizer.h"
#include "server/chat_format.h"
#include "server/engine.h"
#include "server/http_server.h"

namespace veloxquant::cli {

namespace {

constexpr const char* kHelp = R"(usage: veloxquant serve -m model.gguf [options]

An OpenAI-compatible server (POST /v1/completions, /v1/chat/completions, GET /v1/models, /health,
/metrics, /sessions and a status page at /); every session's attention runs on its own compressed
KV cache. docs/server.md has the details.

  -m, --model FILE       GGUF model (llama, qwen2, qwen3, phi3, gemma2 or gemma3) or a .vqm from `veloxquant quantize-model`
  --host ADDR            address to listen on (default 127.0.0.1)
  --port N               port (default 8080; 0: any free port, printed at start)
  --cache-k F            key format of the sessions' caches (default tq4; any cache format name)
  --cache-v F            value format (default tq3)
  --cache-k-layers S     per-layer key formats, LIST=FORMAT[;LIST=FORMAT...] with layer indices
                         (negative: from the end), e.g. 0,1,-1,-2=q8
  --cache-v-layers S     per-layer value formats, the same way
  --window N             exact recent tokens of each cache (default 0: see docs/server.md, reuse)
  --sinks N              exact first tokens of each cache (default 4)
  --kv-budget B|auto     bytes for all sessions' caches, e.g. 268435456, 256M, 1G (K, M, G = 1024^n);
                         auto (default): half of the memory available at start
  --max-sessions N       sessions running at once, and kept in memory (default 8)
  --max-queue N          requests waiting for a slot or memory before 503 (default 64)
  --queue-timeout S      seconds a request may wait in the queue (default 60)
  --ctx N                tokens per session (default: the model's context length)
  --threads N            worker threads (default: all cores)
  --api-key KEY          require "Authorization: Bearer KEY" on /v1/*
  --session-dir DIR      save sessions that leave memory (and all at exit) to DIR, restore them
                         on demand and after a restart
  --max-saved N          sessions kept in the session directory, oldest deleted first (default 1000)
  --max-body B           largest request body (default 1M)
  --timeout S            read and write timeout of a connection in seconds (default 10)
  --chat-template NAME   chat format: plain, llama3, chatml, gemma or phi3 (default: the model's
                         tokenizer.chat_template, plain for models without one)
  --alias NAME           model id of the API (default: the file name without extension)
  --max-batch N          sessions per model step (default: --max-sessions; 1 turns batching off)
  --prefill-chunk N      prompt tokens per model step, all sessions together (default 256)
  --seed S               cache seed (rotations; default 0)
  --weights F            quantize the model's matrices to format F at load (as in `run`)
)";

// "1234", "256K", "256M", "1G" (optionally followed by "iB" or "B"): powers of 1024.
std::size_t parse_bytes(const std::string& option, const std::string& s) {
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  std::string unit = s.substr(i);
  if (unit == "B" || unit.empty()) unit = "";
  if (unit.size() == 3 && unit.substr(1) == "iB") unit.resize(1);
  if (unit.size() == 2 && unit[1] == 'B') unit.resize(1);
  int shift = -1;
  if (unit.empty()) shift = 0;
  if (unit == "K" || unit == "k") shift = 10;
  if (unit == "M") shift = 20;
  if (unit == "G") shift = 30;
  if (i == 0 || i > 15 || shift < 0)
    throw std::invalid_argument("--" + option + " '" + s + "' is not a byte count (e.g. 268435456, 256M, 1G)");
  return static_cast<std::size_t>(std::stoull(s.substr(0, i))) << shift;
}

std::size_t read_number(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string word;
  if (key.empty()) {
    in >> word;
    return word.empty() || !std::isdigit(static_cast<unsigned char>(word[0])) ? 0 : std::stoull(word);
  }
  while (in >> word)
    if (word == key) {
      std::size_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
  return 0;
}

// Half of what the machine (or the cgroup, when it is limited) has available now.
std::size_t auto_budget() {
  std::size_t available = read_number("/proc/meminfo", "MemAvailable:");
  const std::size_t limit = read_number("/sys/fs/cgroup/memory.max", "");
  const std::size_t used = read_number("/sys/fs/cgroup/memory.current", "");
  if (limit > 0 && limit > used && (available == 0 || limit - used < available)) available = limit - used;
  if (available == 0) throw std::runtime_error("--kv-budget auto: cannot read the available memory; give a size");
  return available / 2;
}

std::string mib(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

void log_line(const std::string& s) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::fprintf(stderr, "%s serve: %s\n", stamp, s.c_str());
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  const Args args(
      argc, argv, {"help"},
      {"model",         "host",         "port",      "cache-k",        "cache-v",       "window",  "sinks",
       "kv-budget",     "max-sessions", "max-queue", "queue-timeout",  "ctx",           "threads", "api-key",
       "session-dir",   "max-saved",    "max-body",  "timeout",        "chat-template", "alias",   "max-batch",
       "prefill-chunk", "seed",         "weights",   "cache-k-layers", "cache-v-layers"},
      {{"-m", "model"}, {"-h", "help"}});
  if (args.has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (!args.positionals().empty()) throw std::invalid_argument("unexpected argument '" + args.positionals()[0] + "'");
  if (!args.has("model")) throw std::invalid_argument("missing -m model.gguf");
  const auto count = [&](const char* name, long long fallback, long long lo, long long hi) {
    const long long v = args.integer(name, fallback);
    if (v < lo || v > hi)
      throw std::invalid_argument("--" + std::string(name) + " " + std::to_string(v) + " is outside " +
                                  std::to_string(lo) + " … " + std::to_string(hi));
    return static_cast<std::size_t>(v);
  };
  const long long port = args.integer("port", 8080);
  if (port < 0 || port > 65535) throw std::invalid_argument("--port " + std::to_string(port) + " is not a port");
  const double queue_timeout = args.number("queue-timeout", 60.0);
  if (!(queue_timeout > 0.0 && queue_timeout <= 86400.0))
    throw std::invalid_argument("--queue-timeout must be in (0, 86400] seconds");
  const std::size_t threads = thread_count(args);

  // SIGINT/SIGTERM are taken by one thread (sigwait), so block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that left is an error of the write, not a signal

  const std::string model_path = args.str("model", "");
  LlamaModel model = LlamaModel::load(model_path);
  if (args.has("weights"))
    model.quantize_weights(args.str("weights", ""), static_cast<std::uint64_t>(args.integer("seed", 0)));
  const Tokenizer tokenizer = Tokenizer::from_gguf(model.file());
  const LlamaConfig& c = model.config();

  server::EngineOptions eo;
  eo.cache.key_format = args.str("cache-k", "tq4");
  eo.cache.value_format = args.str("cache-v", "tq3");
  eo.cache.key_layers = args.str("cache-k-layers", "");
  eo.cache.value_layers = args.str("cache-v-layers", "");
  eo.cache.window = count("window", 0, 0, 1 << 20);
  eo.cache.sinks = count("sinks", 4, 0, 1 << 20);
  eo.cache.seed = static_cast<std::uint64_t>(args.integer("seed", 0));
  eo.ctx = count("ctx", static_cast<long long>(c.context), 2, 1 << 22);
  if (eo.ctx > c.context)
    log_line("warning: --ctx " + std::to_string(eo.ctx) + " is longer than the model's context length " +
             std::to_string(c.context) + " (positions beyond it were not trained)");
  eo.max_sessions = count("max-sessions", 8, 1, 4096);
  eo.max_queue = count("max-queue", 64, 0, 1 << 16);
  eo.queue_timeout_s = queue_timeout;
  eo.max_batch = count("max-batch", 0, 0, 4096);
  eo.prefill_chunk = count("prefill-chunk", 256, 1, 1 << 16);
  eo.session_dir = args.str("session-dir", "");
  eo.max_saved = count("max-saved", 1000, 1, 1 << 24);
  const std::string budget = args.str("kv-budget", "auto");
  eo.kv_budget = budget == "auto" ? auto_budget() : parse_bytes("kv-budget", budget);

  std::string chat_problem;
  const server::ChatFormat chat_format =
      server::choose_chat_format(model.file(), args.str("chat-template", ""), chat_problem);
  if (!chat_problem.empty())
    log_line("chat requests will be refused: " + chat_problem);
  else
    log_line("chat format: " + server::chat_format_name(chat_format));

  ThreadPool pool(threads);
  server::Engine engine(model, tokenizer, eo, pool, log_line);
  const std::size_t full = engine.memory().bytes(eo.ctx);
  log_line("model " + model_path + ": " + std::to_string(c.layers) + " layers, context " + std::to_string(eo.ctx) +
           "; " + cache_description(engine.cache_config()));
  log_line("KV budget " + mib(eo.kv_budget) + ": " + std::to_string(eo.kv_budget / full) +
           " sessions at the full context (" + mib(full) + " each; f16 would need " +
           mib(engine.memory().f16_bytes(eo.ctx)) + ")");

  server::ServerInfo info;
  info.model = args.str("alias", std::filesystem::path(model_path).stem().string());
  info.key_format = eo.cache.key_format;
  info.value_format = eo.cache.value_format;
  info.window = eo.cache.window;
  info.sinks = eo.cache.sinks;
  info.ctx = eo.ctx;
  info.max_sessions = eo.max_sessions;
  server::HttpOptions ho;
  ho.host = args.str("host", "127.0.0.1");
  ho.port = static_cast<int>(port);
  ho.api_key = args.str("api-key", "");
  ho.max_body = parse_bytes("max-body", args.str("max-body", "1M"));
  ho.timeout_s = static_cast<int>(count("timeout", 10, 1, 3600));
  ho.chat_format = chat_format;
  ho.chat_problem = chat_problem;
  server::HttpServer http(engine, tokenizer, info, ho, log_line);
  const int bound = http.bind();

  std::atomic<bool> done{false};
  std::thread stopper([&] {
    const timespec tick{0, 200 * 1000 * 1000};
    while (!done) {  // sigtimedwait, so that the thread also ends when the server ends by itself
      const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig < 0) continue;
      log_line(std::string("stopping (") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ")");
      engine.shutdown();  // first, so that waiting handlers return (503) and the HTTP threads can end
      http.stop();
      return;
    }
  });
  std::printf("listening on http://%s:%d\n", ho.host.c_str(), bound);
  std::fflush(stdout);
  http.run();
  engine.shutdown();
  done = true;
  stopper.join();
  return 0;
}

}  // namespace veloxquant::cli
