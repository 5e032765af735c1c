// A small fixed pool of worker threads for splitting loops over output rows or heads.
// The calling thread takes part, so a pool of 1 thread runs everything inline.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace veloxquant {

class ThreadPool {
 public:
  explicit ThreadPool(std::size_t threads);  // threads ≥ 1 (0 is taken as 1)
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const { return workers_.size() + 1; }
  // Calls fn(begin, end) on disjoint contiguous parts of [0, n) and waits for all of them.
  // Exceptions from fn are rethrown in the caller (the first one).
  void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn);

 private:
  void worker_loop(std::size_t index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(std::size_t, std::size_t)>* job_ = nullptr;
  std::size_t job_n_ = 0;
  std::size_t generation_ = 0;
  std::size_t pending_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace veloxquant
