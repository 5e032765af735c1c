#include "server/generation.h"

namespace veloxquant::server {

std::optional<ApiError> Generation::wait_admitted() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return phase_ != Phase::kQueued; });
  return error_;
}

bool Generation::wait_output(std::string& text, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return !text_.empty() || phase_ == Phase::kDone; });
  text += text_;
  text_.clear();
  return phase_ == Phase::kDone;
}

GenerationResult Generation::result() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return result_;
}

std::optional<ApiError> Generation::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

void Generation::admit() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    phase_ = Phase::kRunning;
  }
  cv_.notify_all();
}

void Generation::emit(const std::string& text) {
  if (text.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    text_ += text;
  }
  cv_.notify_all();
}

void Generation::finish(const GenerationResult& result) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    result_ = result;
    phase_ = Phase::kDone;
  }
  cv_.notify_all();
}

void Generation::fail(const ApiError& error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = error;
    phase_ = Phase::kDone;
  }
  cv_.notify_all();
}

}  // namespace veloxquant::server
