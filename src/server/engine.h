// The engine: one thread that runs the model for every session. Requests queue (FIFO) for a slot
// (at most max_sessions sessions decode at once) and for KV memory: a request is admitted when
// the cache bytes its prompt + max_tokens will need (KvMemoryModel), plus what the running
// sessions have reserved and the idle sessions hold, fit the budget; idle sessions are evicted
// (least recently used first; saved to the session directory when there is one) to make room.
// A request that could never fit is refused (429) at once, a full queue (503) too, and one that
// waited longer than the queue timeout gets 503.
//
// Prefix reuse: a request whose prompt starts with the tokens of an idle session continues from
// it (KVCache::truncate to the common prefix, then only the rest of the prompt is computed); a
// session saved to the directory is loaded again the same way. Each step runs the next token of
// every decoding session and the next prompt chunk of prefilling ones as one BatchForward call, so
// the weights are read once per step for all of them; a session's logits do not depend on the
// others (runner/batch_forward.h), and with no exact window (docs/server.md) not on reuse either.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "math/prng.h"
#include "runner/batch_forward.h"
#include "runner/cache_kv_store.h"
#include "runner/kv_store.h"
#include "runner/llama_model.h"
#include "runner/tokenizer.h"
#include "server/generation.h"
#include "server/kv_memory.h"
#include "server/sampler.h"
#include "server/session_files.h"
#include "server/text_stream.h"

namespace veloxquant::server {

struct EngineOptions {
  KvStoreOptions cache;          // formats (any of the format table), window, sinks, seed
  std::size_t ctx = 0;           // tokens per session
  std::size_t max_sessions = 8;  // slots: sessions running at once, and sessions kept in memory
  std::size_t kv_budget = 0;     // bytes for all sessions' caches (memory_bytes())
  std::size_t max_queue = 64;    // requests waiting for a slot or memory
  double queue_timeout_s = 60.0;
  std::size_t max_batch = 0;        // sessions per step (0: max_sessions; 1: one session per step)
  std::size_t prefill_chunk = 256;  // prompt tokens per step, all sessions together
  std::string session_dir;          // empty: evicted sessions are dropped
  std::size_t max_saved = 1000;     // sessions kept in session_dir (oldest deleted first)
};

struct SessionInfo {
  std::uint64_t id = 0;
  bool active = false;
  std::size_t tokens = 0, kv_bytes = 0, f16_bytes = 0;
  std::size_t generated = 0;  // by its current (active) or last request
  double tokens_per_s = 0.0;  // decode rate of that request
  double idle_s = 0.0;
};

struct EngineStats {
  std::vector<SessionInfo> sessions;  // in memory
  std::size_t saved_sessions = 0, queue_depth = 0;
  std::size_t kv_bytes = 0, kv_reserved = 0, kv_budget = 0, f16_bytes = 0;
  std::uint64_t prompt_tokens = 0, reused_tokens = 0, generated_tokens = 0;
  std::uint64_t steps = 0, step_rows = 0, step_sessions = 0;
  std::uint64_t finished = 0, cancelled = 0, failed = 0;
  std::uint64_t refused_budget = 0, refused_queue = 0, queue_timeouts = 0;
  std::uint64_t evicted = 0, saved = 0, restored = 0, save_failures = 0, restore_failures = 0;
  std::uint64_t reservation_overruns = 0;  // a cache outgrew what was admitted for it (should stay 0)
  double tokens_per_s = 0.0;               // generated, over the last 10 s
};

class Engine {
 public:
  using Log = std::function<void(const std::string&)>;
  // options.cache must name KVCache formats (not "exact"); ctx ≥ 2. Loads the session directory's
  // index (problems go to `log`). Starts the engine thread.
  Engine(const LlamaModel& model, const Tokenizer& tokenizer, EngineOptions options, ThreadPool& pool, Log log);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Throws ApiError: 400 when the prompt is empty or prompt + max_tokens exceeds the
  // context, 429 when its cache alone would exceed the budget, 503 when the queue is full or the
  // server is shutting down.
  std::shared_ptr<Generation> submit(GenerationJob job);
  // Stops the engine: queued and running requests fail with 503, every session in memory is saved
  // (with a session directory). Idempotent; the destructor calls it.
  void shutdown();

  EngineStats stats() const;
  const KvMemoryModel& memory() const { return memory_; }
  const CacheConfig& cache_config() const { return cache_config_; }
  const EngineOptions& options() const { return options_; }

 private:
  struct Running;
  struct Session;

  void loop();
  void admit_queued();
  bool place(const std::shared_ptr<Generation>& g);
  void step();
  void after_logits(Session& s);
  void end(Session& s, const std::string& reason);
  void evict(Session* s);
  void save(Session& s);
  void trim_saved();
  std::uint64_t new_id();
  std::unique_ptr<CacheKvStore> new_store() const;
  void publish();
  void fail_running(const ApiError& error, bool drop);  // drop: the sessions too
  void stop_all();

  const LlamaModel& model_;
  const Tokenizer& tokenizer_;
  const EngineOptions options_;
  ThreadPool& pool_;
  Log log_;
  CacheConfig cache_config_;
  KvMemoryModel memory_;
  BatchForward forward_;
  std::optional<SessionDir> dir_;
  SplitMix64 ids_;

  // Engine thread only.
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<SavedSession> saved_;  // oldest first
  std::size_t admitted_ = 0, rotation_ = 0;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::size_t>> recent_;  // generated per step
  EngineStats counters_;

  // Shared with the HTTP threads.
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Generation>> queue_;
  bool stopping_ = false;
  std::uint64_t pushed_ = 0;  // requests queued so far (wakes the idle engine)
  std::uint64_t refused_budget_ = 0, refused_queue_ = 0;
  EngineStats published_;
  std::thread thread_;
};

}  // namespace veloxquant::server
