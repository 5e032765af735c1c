// One request as the HTTP thread and the engine share it: the engine admits or refuses it, appends
// released text and finally the result; the HTTP side waits for those and may cancel (its client
// went away). Everything is behind one mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/sampler.h"

namespace veloxquant::server {

struct GenerationJob {
  std::vector<std::int32_t> prompt;  // ≥ 1 token; prompt + max_tokens ≤ the server's context
  std::size_t max_tokens = 0;        // ≥ 1
  SamplingParams sampling;
  std::vector<std::string> stop;
  std::string strip_prefix;  // dropped from the start of the text (chat formats)
};

struct GenerationResult {
  std::string finish_reason;  // "stop" (EOS or a stop string), "length", "cancelled"
  std::size_t prompt_tokens = 0, completion_tokens = 0;
  std::size_t reused_tokens = 0;  // prompt tokens taken from a cached session
  std::uint64_t session = 0;
};

class Generation {
 public:
  explicit Generation(GenerationJob job) : job_(std::move(job)), queued_at_(std::chrono::steady_clock::now()) {}

  // --- HTTP side
  // Blocks until the engine admitted the request (nullopt) or refused it (the error).
  std::optional<ApiError> wait_admitted();
  // Waits up to `timeout` for new text or the end; appends the new text to `text`. Returns true once
  // finished (result() or error() then tell how).
  bool wait_output(std::string& text, std::chrono::milliseconds timeout);
  void cancel() { cancelled_ = true; }
  GenerationResult result() const;
  std::optional<ApiError> error() const;

  // --- engine side
  const GenerationJob& job() const { return job_; }
  bool cancelled() const { return cancelled_; }
  std::chrono::steady_clock::time_point queued_at() const { return queued_at_; }
  void admit();
  void emit(const std::string& text);
  void finish(const GenerationResult& result);
  void fail(const ApiError& error);  // before or after admission

 private:
  enum class Phase { kQueued, kRunning, kDone };

  const GenerationJob job_;
  const std::chrono::steady_clock::time_point queued_at_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  Phase phase_ = Phase::kQueued;
  std::string text_;  // released, not yet taken
  GenerationResult result_;
  std::optional<ApiError> error_;
};

}  // namespace veloxquant::server
