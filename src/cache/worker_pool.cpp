#include "cache/worker_pool.h"

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace veloxquant {

namespace {

void run_on_new_threads(std::size_t workers, const std::function<void(std::size_t)>& task) {
  std::vector<std::exception_ptr> errors(workers);
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (std::size_t w = 1; w < workers; ++w)
    threads.emplace_back([&, w] {
      try {
        task(w);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  try {
    task(0);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // False when another call holds the pool.
  bool try_run(std::size_t workers, const std::function<void(std::size_t)>& task) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    std::vector<std::exception_ptr> errors(workers);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (threads_.size() + 1 < workers) threads_.emplace_back([this, w = threads_.size() + 1] { loop(w); });
      task_ = &task;
      errors_ = &errors;
      workers_ = workers;
      pending_ = workers - 1;
      ++generation_;
    }
    start_.notify_all();
    try {
      task(0);
    } catch (...) {
      errors[0] = std::current_exception();
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return pending_ == 0; });
      task_ = nullptr;
    }
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
    return true;
  }

 private:
  void loop(std::size_t w) {
    std::uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (w >= workers_) continue;  // this call needs fewer workers
      const std::function<void(std::size_t)>* task = task_;
      std::vector<std::exception_ptr>* errors = errors_;
      lock.unlock();
      try {
        (*task)(w);
      } catch (...) {
        (*errors)[w] = std::current_exception();
      }
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::mutex busy_;   // held for a whole call
  std::mutex mutex_;  // guards everything below
  std::condition_variable start_, done_;
  std::vector<std::thread> threads_;  // worker w is threads_[w − 1]
  const std::function<void(std::size_t)>* task_ = nullptr;
  std::vector<std::exception_ptr>* errors_ = nullptr;
  std::size_t workers_ = 0, pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace

void run_on_workers(std::size_t workers, const std::function<void(std::size_t)>& task) {
  if (workers <= 1) {
    task(0);
    return;
  }
  static Pool pool;
  if (!pool.try_run(workers, task)) run_on_new_threads(workers, task);
}

}  // namespace veloxquant
