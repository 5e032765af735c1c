#include "server/engine.h"

#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace veloxquant::server {

using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::size_t common_prefix(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

CacheConfig make_cache_config(const LlamaConfig& c, const KvStoreOptions& o, std::size_t threads) {
  if (o.key_format == "exact" || o.value_format == "exact")
    throw std::invalid_argument(
        "the server keeps sessions in KVCache formats; 'exact' (the runner's reference attention) cannot be admitted "
        "by memory or saved; use f32 for uncompressed attention");
  CacheConfig cc = cache_config(c.kv_shape(), o, threads);
  KVCache check(cc);  // the library's own validation of formats and sizes
  return cc;
}

}  // namespace

// A request running in a session.
struct Engine::Running {
  Running(std::shared_ptr<Generation> g, std::size_t reserved_, std::size_t reused_)
      : gen(std::move(g)),
        reserved(reserved_),
        reused(reused_),
        sampler(gen->job().sampling),
        text(gen->job().stop, gen->job().strip_prefix),
        start(Clock::now()) {}

  std::shared_ptr<Generation> gen;
  std::size_t reserved;  // bytes admitted for the session's cache
  std::size_t reused;    // prompt tokens that came with the session
  Sampler sampler;
  TextStream text;
  std::int32_t next = -1;  // sampled, to be fed in the next step
  std::size_t generated = 0;
  std::size_t order = 0;  // admission order: earlier requests prefill first
  Clock::time_point start, first_token;
  std::vector<float> logits;
};

struct Engine::Session {
  std::uint64_t id = 0;
  std::vector<std::int32_t> tokens;  // what the cache holds
  std::unique_ptr<CacheKvStore> store;
  std::size_t bytes = 0;  // store->memory_bytes() after the last change
  Clock::time_point last_used = Clock::now();
  std::size_t last_generated = 0;
  double tokens_per_s = 0.0;
  std::unique_ptr<Running> run;  // null while idle
};

Engine::Engine(const LlamaModel& model, const Tokenizer& tokenizer, EngineOptions options, ThreadPool& pool, Log log)
    : model_(model),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      pool_(pool),
      log_(std::move(log)),
      cache_config_(make_cache_config(model.config(), options_.cache, pool.size())),
      memory_(cache_config_, options_.ctx),
      forward_(model, pool),
      ids_(static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) ^
           (static_cast<std::uint64_t>(::getpid()) << 32)) {
  if (options_.ctx < 2) throw std::invalid_argument("the context must hold at least 2 tokens");
  if (options_.max_sessions < 1) throw std::invalid_argument("max_sessions must be ≥ 1");
  if (options_.prefill_chunk < 1) throw std::invalid_argument("prefill_chunk must be ≥ 1");
  if (!options_.session_dir.empty()) {
    dir_.emplace(options_.session_dir, model_fingerprint(model), cache_config_, model.config().vocab, options_.ctx);
    std::vector<std::string> problems;
    saved_ = dir_->scan(problems);
    for (const std::string& p : problems) log_("skipping " + p);
    log_("session directory " + dir_->path() + ": " + std::to_string(saved_.size()) + " saved sessions");
  }
  counters_.kv_budget = options_.kv_budget;
  publish();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() { shutdown(); }

std::shared_ptr<Generation> Engine::submit(GenerationJob job) {
  const std::size_t n = job.prompt.size();
  if (n == 0) throw ApiError(400, "invalid_value", "the prompt is empty", "prompt");
  if (job.max_tokens < 1 || n + job.max_tokens > options_.ctx)
    throw ApiError(400, "context_length_exceeded",
                   "the prompt of " + std::to_string(n) + " tokens and max_tokens " + std::to_string(job.max_tokens) +
                       " exceed the context of " + std::to_string(options_.ctx) + " tokens",
                   "max_tokens");
  const std::size_t need = memory_.bytes(n + job.max_tokens);
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_) throw ApiError(503, "shutting_down", "the server is shutting down");
  if (need > options_.kv_budget) {
    ++refused_budget_;
    throw ApiError(429, "kv_budget_exceeded",
                   "the request needs " + std::to_string(need) + " bytes of KV cache (" + std::to_string(n) +
                       " prompt tokens + max_tokens " + std::to_string(job.max_tokens) + "); the server's budget is " +
                       std::to_string(options_.kv_budget) + " bytes");
  }
  if (queue_.size() >= options_.max_queue) {
    ++refused_queue_;
    throw ApiError(503, "queue_full",
                   "the server is busy: " + std::to_string(queue_.size()) + " requests are waiting (--max-queue " +
                       std::to_string(options_.max_queue) + ")");
  }
  auto g = std::make_shared<Generation>(std::move(job));
  queue_.push_back(g);
  ++pushed_;
  lock.unlock();
  cv_.notify_all();
  return g;
}

void Engine::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  EngineStats s = published_;
  s.queue_depth = queue_.size();
  s.refused_budget = refused_budget_;
  s.refused_queue = refused_queue_;
  return s;
}

void Engine::loop() {
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
      seen = pushed_;
    }
    try {
      admit_queued();
      step();
      publish();
    } catch (const std::exception& e) {  // e.g. out of memory: fail what runs, keep serving
      log_(std::string("engine: ") + e.what());
      fail_running(ApiError(500, "internal_error", std::string("the engine failed: ") + e.what()), true);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    const bool running =
        std::any_of(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->run != nullptr; });
    if (!running)  // idle: sleep until a request comes (or a queued one may time out)
      cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_ || pushed_ != seen; });
  }
  stop_all();
  publish();
}

void Engine::admit_queued() {
  const double timeout = options_.queue_timeout_s;
  for (;;) {
    std::shared_ptr<Generation> head;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = Clock::now();
      for (auto it = queue_.begin(); it != queue_.end();) {  // requests that waited too long
        if (seconds(now - (*it)->queued_at()) <= timeout) {
          ++it;
          continue;
        }
        (*it)->fail(ApiError(503, "queue_timeout",
                             "the request waited " + std::to_string(static_cast<long long>(timeout)) +
                                 " s for a slot or KV memory (--queue-timeout)"));
        ++counters_.queue_timeouts;
        it = queue_.erase(it);
      }
      const std::size_t running = static_cast<std::size_t>(
          std::count_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return s->run != nullptr; }));
      if (queue_.empty() || running >= options_.max_sessions) return;
      head = queue_.front();
    }
    if (!place(head)) return;  // waits for memory: first come, first served
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.pop_front();  // only this thread pops, so the head is still `head`
    }
    head->admit();  // after leaving the queue, so the queue's length never counts running requests
  }
}

bool Engine::place(const std::shared_ptr<Generation>& g) {
  const GenerationJob& job = g->job();
  const std::size_t n = job.prompt.size();
  const std::size_t need = memory_.bytes(n + job.max_tokens);

  // The best idle session and the best saved one by common prefix; at least one prompt token is
  // always computed, since its logits start the reply.
  Session* reuse = nullptr;
  std::size_t p_mem = 0;
  for (const auto& s : sessions_) {
    if (s->run) continue;
    std::size_t p = std::min(common_prefix(job.prompt, s->tokens), n - 1);
    if (!s->store->can_truncate(p)) p = 0;  // a sliding-window layer evicted tokens the cut needs
    if (p > p_mem || (p == p_mem && p > 0 && s->last_used > reuse->last_used)) {
      reuse = s.get();
      p_mem = p;
    }
  }
  const SavedSession* disk = nullptr;
  std::size_t p_disk = 0;
  for (const SavedSession& s : saved_) {
    const std::size_t p = std::min(common_prefix(job.prompt, s.tokens), n - 1);
    if (p > p_disk) {
      disk = &s;
      p_disk = p;
    }
  }
  const bool free_slot = sessions_.size() < options_.max_sessions;
  // Loading pays off beyond a handful of tokens. Taking over an idle session (cutting it back) is
  // worth it when most of it is reused, or when a slot must be emptied anyway and there is no
  // directory to save the session to.
  constexpr std::size_t kMinRestoreTokens = 8;
  // A loaded session is cut back, which a sliding-window layer that evicted tokens cannot do: with
  // such layers only a session the prompt continues whole is restored.
  const auto& windows = cache_config_.sliding_windows;
  const bool cuttable = std::all_of(windows.begin(), windows.end(), [](std::size_t w) { return w == 0; });
  const bool restore = disk && p_disk > p_mem && p_disk >= kMinRestoreTokens && 2 * p_disk >= disk->tokens.size() &&
                       (cuttable || p_disk == disk->tokens.size());
  const bool take_over = reuse && p_mem > 0 && (2 * p_mem >= reuse->tokens.size() || (!free_slot && !dir_));
  if (restore || !take_over) reuse = nullptr;

  // Memory: what running sessions reserved, what idle ones hold, and this request's need (a loaded
  // session is whole in memory before it is cut back).
  const std::size_t transient = restore ? std::max(need, memory_.bytes(disk->tokens.size())) : need;
  const std::uint64_t disk_id = restore ? disk->id : 0;
  std::size_t reserved = 0, idle = 0;
  for (const auto& s : sessions_) {
    if (s->run)
      reserved += std::max(s->run->reserved, s->bytes);
    else if (s.get() != reuse)
      idle += s->bytes;
  }
  if (reserved + transient > options_.kv_budget) return false;  // wait for running requests to end
  while (reserved + idle + transient > options_.kv_budget || (!reuse && sessions_.size() >= options_.max_sessions)) {
    Session* lru = nullptr;
    for (const auto& s : sessions_)
      if (!s->run && s.get() != reuse && (!lru || s->last_used < lru->last_used)) lru = s.get();
    if (!lru) return false;
    idle -= lru->bytes;
    evict(lru);
  }

  Session* s = reuse;
  if (restore) {
    // Found again by id: evictions above may have saved sessions and moved saved_'s entries.
    const auto it = std::find_if(saved_.begin(), saved_.end(), [&](const SavedSession& x) { return x.id == disk_id; });
    if (it == saved_.end()) return place(g);  // trimmed away meanwhile
    const SavedSession saved = std::move(*it);
    saved_.erase(it);
    try {
      auto session = std::make_unique<Session>();
      session->store = std::make_unique<CacheKvStore>(dir_->load(saved));
      session->id = saved.id;
      session->tokens = saved.tokens;
      sessions_.push_back(std::move(session));
      s = sessions_.back().get();
      ++counters_.restored;
    } catch (const std::exception& e) {
      log_(std::string("cannot restore a saved session: ") + e.what());
      ++counters_.restore_failures;
      return place(g);  // without it
    }
  }
  if (!s) {
    auto session = std::make_unique<Session>();
    session->id = new_id();
    session->store = new_store();
    sessions_.push_back(std::move(session));
    s = sessions_.back().get();
  }
  const std::size_t keep = std::min(common_prefix(job.prompt, s->tokens), n - 1);
  s->store->truncate(keep);  // sessions were chosen cuttable to `keep`
  s->tokens.resize(keep);
  s->bytes = s->store->memory_bytes();
  // Cut-back caches may keep buffers a fresh one would not have yet (an exact window's ring).
  const std::size_t extra = s->bytes > memory_.bytes(keep) ? s->bytes - memory_.bytes(keep) : 0;
  s->run = std::make_unique<Running>(g, need + extra, keep);
  s->run->order = admitted_++;
  s->run->logits.resize(model_.config().vocab);
  counters_.reused_tokens += keep;
  return true;
}

void Engine::step() {
  std::vector<Session*> running;
  for (const auto& s : sessions_)
    if (s->run) {
      if (s->run->gen->cancelled()) {
        end(*s, "cancelled");
        continue;
      }
      running.push_back(s.get());
    }
  if (running.empty()) return;
  std::sort(running.begin(), running.end(), [](Session* a, Session* b) { return a->run->order < b->run->order; });
  // At most max_batch sessions per step, taken in turn.
  const std::size_t limit = options_.max_batch == 0 ? options_.max_sessions : options_.max_batch;
  if (running.size() > limit) {
    std::rotate(running.begin(), running.begin() + static_cast<std::ptrdiff_t>(rotation_ % running.size()),
                running.end());
    running.resize(limit);
    rotation_ += limit;
  }
  std::vector<SequenceStep> steps;
  std::vector<Session*> stepped;
  std::size_t prefill_tokens = 0, rows = 0;
  for (Session* s : running) {  // decoding sessions: one token each
    Running& r = *s->run;
    if (r.next < 0) continue;
    steps.push_back({s->store.get(), &r.next, 1, r.logits.data()});
    stepped.push_back(s);
  }
  // Prompt chunks, earliest request first, prefill_chunk tokens per step in all. A prompt is cut at
  // the same places whatever else runs (every prefill_chunk tokens from where it started), so with
  // an exact window, whose contents depend on the cut, a reply still does not depend on the others.
  for (Session* s : running) {
    Running& r = *s->run;
    if (r.next >= 0) continue;
    const std::vector<std::int32_t>& prompt = r.gen->job().prompt;
    const std::size_t at = s->tokens.size(), len = std::min(prompt.size() - at, options_.prefill_chunk);
    if (prefill_tokens > 0 && prefill_tokens + len > options_.prefill_chunk) break;
    prefill_tokens += len;
    steps.push_back({s->store.get(), prompt.data() + at, len, at + len == prompt.size() ? r.logits.data() : nullptr});
    stepped.push_back(s);
  }
  for (const SequenceStep& st : steps) rows += st.n;
  try {
    forward_.run(steps);
  } catch (const std::exception& e) {
    // A store that threw is in an unknown state: drop the sessions of this step.
    log_(std::string("step failed: ") + e.what());
    for (Session* s : stepped) {
      s->run->gen->fail(ApiError(500, "internal_error", std::string("the model step failed: ") + e.what()));
      ++counters_.failed;
      s->run.reset();
      s->store.reset();
    }
    sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return !s->store; }),
                    sessions_.end());
    return;
  }
  ++counters_.steps;
  counters_.step_rows += rows;
  counters_.step_sessions += steps.size();
  const std::size_t generated_before = counters_.generated_tokens;
  for (std::size_t i = 0; i < stepped.size(); ++i) {
    Session& s = *stepped[i];
    Running& r = *s.run;
    s.tokens.insert(s.tokens.end(), steps[i].tokens, steps[i].tokens + steps[i].n);
    if (r.next >= 0) {
      r.next = -1;
    } else {
      counters_.prompt_tokens += steps[i].n;
    }
    s.bytes = s.store->memory_bytes();
    if (s.bytes > r.reserved) {
      if (counters_.reservation_overruns++ == 0)
        log_("a session's cache (" + std::to_string(s.bytes) + " bytes) outgrew its admission (" +
             std::to_string(r.reserved) + ")");
    }
    if (steps[i].logits) after_logits(s);
  }
  recent_.emplace_back(Clock::now(), counters_.generated_tokens - generated_before);
}

void Engine::after_logits(Session& s) {
  Running& r = *s.run;
  const GenerationJob& job = r.gen->job();
  const std::int32_t t = r.sampler.next(r.logits.data(), r.logits.size());
  if (r.generated == 0) r.first_token = Clock::now();
  if (tokenizer_.is_eog(t)) return end(s, "stop");  // EOS, or the template's end of turn
  ++r.generated;
  ++counters_.generated_tokens;
  r.gen->emit(r.text.push(tokenizer_.token_text(t)));
  if (r.text.stopped()) return end(s, "stop");
  if (r.generated >= job.max_tokens || s.tokens.size() + 1 > options_.ctx) return end(s, "length");
  r.next = t;
}

void Engine::end(Session& s, const std::string& reason) {
  const std::unique_ptr<Running> run = std::move(s.run);  // the session is idle from here
  Running& r = *run;
  GenerationResult result;
  result.finish_reason = reason;
  result.prompt_tokens = r.gen->job().prompt.size();
  result.completion_tokens = r.generated;
  result.reused_tokens = r.reused;
  result.session = s.id;
  if (reason != "cancelled") r.gen->emit(r.text.finish());
  reason == "cancelled" ? ++counters_.cancelled : ++counters_.finished;
  const double decode_s = r.generated > 1 ? seconds(Clock::now() - r.first_token) : 0.0;
  s.tokens_per_s = decode_s > 0 ? static_cast<double>(r.generated - 1) / decode_s : 0.0;
  s.last_generated = r.generated;
  s.last_used = Clock::now();
  // Published before the reply ends: a client that reads /sessions or /metrics after its reply
  // sees this session idle with all its tokens, not the snapshot of the step before.
  publish();
  r.gen->finish(result);
}

void Engine::evict(Session* s) {
  if (dir_) save(*s);
  ++counters_.evicted;
  sessions_.erase(std::find_if(sessions_.begin(), sessions_.end(), [&](const auto& p) { return p.get() == s; }));
}

void Engine::save(Session& s) {
  if (s.tokens.empty()) return;
  try {
    SavedSession saved = dir_->save(s.id, s.tokens, s.store->cache());
    saved_.erase(std::remove_if(saved_.begin(), saved_.end(), [&](const SavedSession& x) { return x.id == s.id; }),
                 saved_.end());
    saved_.push_back(std::move(saved));
    ++counters_.saved;
    trim_saved();
  } catch (const std::exception& e) {
    log_(std::string("cannot save session: ") + e.what());
    ++counters_.save_failures;
  }
}

void Engine::trim_saved() {
  while (saved_.size() > options_.max_saved) {
    dir_->remove(saved_.front().id);
    saved_.erase(saved_.begin());
  }
}

std::uint64_t Engine::new_id() {
  for (;;) {
    const std::uint64_t id = ids_.next();
    const bool taken = std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& s) { return s->id == id; }) ||
                       std::any_of(saved_.begin(), saved_.end(), [&](const SavedSession& s) { return s.id == id; });
    if (!taken && id != 0) return id;
  }
}

std::unique_ptr<CacheKvStore> Engine::new_store() const {
  return std::make_unique<CacheKvStore>(KVCache(cache_config_));
}

void Engine::fail_running(const ApiError& error, bool drop) {
  for (auto& s : sessions_)
    if (s->run) {
      s->run->gen->fail(error);
      ++counters_.failed;
      s->run.reset();
      if (drop) s.reset();  // its tokens and cache may no longer agree
    }
  sessions_.erase(std::remove(sessions_.begin(), sessions_.end(), nullptr), sessions_.end());
}

void Engine::stop_all() {
  std::deque<std::shared_ptr<Generation>> queued;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued.swap(queue_);
  }
  const ApiError down(503, "shutting_down", "the server is shutting down");
  for (const auto& g : queued) g->fail(down);
  fail_running(down, false);
  if (!dir_) return;
  for (const auto& s : sessions_) save(*s);
  log_("saved " + std::to_string(sessions_.size()) + " sessions to " + dir_->path());
}

void Engine::publish() {
  const auto now = Clock::now();
  while (!recent_.empty() && seconds(now - recent_.front().first) > 10.0) recent_.pop_front();
  std::size_t generated = 0;
  for (const auto& [t, n] : recent_) generated += n;
  const double span = recent_.empty() ? 0.0 : std::max(1.0, seconds(now - recent_.front().first));

  EngineStats s = counters_;
  s.saved_sessions = saved_.size();
  s.tokens_per_s = span > 0 ? static_cast<double>(generated) / span : 0.0;
  for (const auto& session : sessions_) {
    SessionInfo info;
    info.id = session->id;
    info.active = session->run != nullptr;
    info.tokens = session->tokens.size();
    info.kv_bytes = session->bytes;
    info.f16_bytes = memory_.f16_bytes(info.tokens);
    if (session->run) {
      const Running& r = *session->run;
      info.generated = r.generated;
      const double decode_s = r.generated > 1 ? seconds(now - r.first_token) : 0.0;
      info.tokens_per_s = decode_s > 0 ? static_cast<double>(r.generated - 1) / decode_s : 0.0;
      s.kv_reserved += std::max(r.reserved, session->bytes);
    } else {
      info.generated = session->last_generated;
      info.tokens_per_s = session->tokens_per_s;
      info.idle_s = seconds(now - session->last_used);
      s.kv_reserved += session->bytes;
    }
    s.kv_bytes += info.kv_bytes;
    s.f16_bytes += info.f16_bytes;
    s.sessions.push_back(info);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  published_ = std::move(s);
}

}  // namespace veloxquant::server
