// The one pool of worker threads of the process, shared by the runner (matrix products, exact
// attention) and the cache (attend).
//
// ThreadPool(n) is a handle that uses at most n threads of the process's workers: the calling
// thread and n − 1 workers, started on first need and kept until exit. Between jobs a worker spins
// for a short while (so that waking it costs well under a microsecond, where a sleeping thread
// costs tens of microseconds on a VM), then sleeps.
//
// A job is cut into parts that every thread, the caller included, claims one at a time: a worker
// that is slow to wake (another process holds its core) leaves its part to the caller instead of
// holding the call up, so a call is not much slower than running it on one thread.
// Where the calling thread gets much less than the wall time (other processes hold the cores,
// util/contention_guard.h), calls run on the caller alone for a while.
// A call made while the workers serve another call (from another thread, or from inside a part)
// runs its parts on the calling thread alone.
#pragma once

#include <cstddef>
#include <functional>

namespace veloxquant {

// Below this many multiply-adds a job runs faster on one thread: on this project's 2-core AVX2
// VM, an f32 matrix-vector product of 128 × 256 (32 768) ran as fast on two threads as on one,
// 256 × 256 1.4× faster (docs/runner.md, "Threads").
constexpr std::size_t kMinParallelWork = std::size_t{1} << 16;

class ThreadPool {
 public:
  explicit ThreadPool(std::size_t threads);  // threads ≥ 1 (0 is taken as 1)
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const { return threads_; }

  // This pool for a job of `work` multiply-adds (or as many elementary steps), or a pool of one
  // thread below kMinParallelWork, where handing parts to workers costs more than it saves.
  ThreadPool& for_work(std::size_t work);

  // Calls fn(begin, end) on size() (at most n) disjoint contiguous parts of [0, n), part i being
  // [n·i/parts, n·(i+1)/parts), and waits for all of them. Every part runs; the first exception
  // is rethrown in the caller.
  void parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn) const;

  // Calls task(i) for every i < tasks on up to size() threads and waits; exceptions as above.
  void run(std::size_t tasks, const std::function<void(std::size_t)>& task) const;

 private:
  std::size_t threads_;
};

// task(w) for every w < workers, on up to `workers` threads of the pool (the cache's call).
void run_on_workers(std::size_t workers, const std::function<void(std::size_t)>& task);

// Tests that need parts running at the same time turn the contention check off (on a busy
// machine it would run their parts on one thread); on by default.
void set_thread_pool_contention_check(bool enabled);

}  // namespace veloxquant
