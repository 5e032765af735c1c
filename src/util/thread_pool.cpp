#include "util/thread_pool.h"

#include "util/contention_guard.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace veloxquant {

namespace {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// How long an idle worker spins before it sleeps. A decode step of a small model is a chain of
// jobs a few microseconds apart; a sleeping worker takes tens of microseconds to wake.
constexpr std::chrono::microseconds kSpin{100};

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::atomic<bool> contention_check{true};

// One call: parts claimed in order by whoever comes first.
struct Job {
  const std::function<void(std::size_t)>* part = nullptr;
  std::size_t parts = 0;
  std::size_t helpers = 0;  // workers with an index below this may take parts
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> finished{0};
  std::mutex error_mutex;
  std::exception_ptr error;

  void work() {
    for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < parts;) {
      try {
        (*part)(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
      finished.fetch_add(1, std::memory_order_release);
    }
  }
};

// Waits with pause instructions, then yields the core (the thread we wait for may need it).
template <typename Done>
void spin_until(Done done) {
  for (std::size_t i = 0; !done(); ++i) {
    if (i < 4096)
      cpu_relax();
    else
      std::this_thread::yield();
  }
}

class Workers {
 public:
  static Workers& instance() {
    static Workers workers;
    return workers;
  }

  ~Workers() {
    stop_.store(true);
    for (const std::unique_ptr<Slot>& slot : slots_) {
      { const std::lock_guard<std::mutex> lock(slot->mutex); }
      slot->wake.notify_one();
    }
    for (const std::unique_ptr<Slot>& slot : slots_) slot->thread.join();
  }

  // Runs part(i) for i < parts on the caller and up to threads − 1 workers. False (nothing run)
  // when another call holds the workers.
  bool try_run(std::size_t parts, std::size_t threads, const std::function<void(std::size_t)>& part) {
    bool expected = false;
    if (!in_use_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
    const bool check = contention_check.load(std::memory_order_relaxed);
    if (check && !guard_.allows(wall_seconds())) {
      in_use_.store(false, std::memory_order_release);
      return false;
    }
    Job job;
    job.part = &part;
    job.parts = parts;
    job.helpers = std::min(threads, parts) - 1;
    while (slots_.size() < job.helpers) {
      slots_.push_back(std::make_unique<Slot>());
      Slot* slot = slots_.back().get();
      const std::size_t index = slots_.size() - 1;
      const std::uint32_t seen = generation_.load();
      slot->thread = std::thread([this, slot, index, seen] { loop(*slot, index, seen); });
    }
    job_.store(&job);
    wanted_.store(job.helpers);
    generation_.fetch_add(1);
    for (std::size_t i = 0; i < job.helpers; ++i) {
      Slot& slot = *slots_[i];
      if (!slot.sleeping.load()) continue;
      { const std::lock_guard<std::mutex> lock(slot.mutex); }  // it is waiting, or sees the new generation
      slot.wake.notify_one();
    }
    job.work();
    spin_until([&] { return job.finished.load(std::memory_order_acquire) == parts; });
    job_.store(nullptr);
    spin_until([&] { return busy_.load(std::memory_order_acquire) == 0; });  // nobody still looks at `job`
    if (check) guard_.after_call(wall_seconds(), std::this_thread::get_id(), thread_cpu_seconds);
    in_use_.store(false, std::memory_order_release);
    if (job.error) std::rethrow_exception(job.error);
    return true;
  }

 private:
  struct Slot {
    std::mutex mutex;
    std::condition_variable wake;
    std::atomic<bool> sleeping{false};
    std::thread thread;
  };

  Workers() = default;

  void loop(Slot& slot, std::size_t index, std::uint32_t seen) {
    for (;;) {
      wait_for_job(slot, index, seen);
      if (stop_.load()) return;
      seen = generation_.load();
      busy_.fetch_add(1);
      // Loaded after busy_ was raised: the caller clears job_ before it waits for busy_ to fall,
      // so a job seen here is still alive.
      if (Job* job = job_.load(); job && index < job->helpers) job->work();
      busy_.fetch_sub(1, std::memory_order_release);
    }
  }

  // Until a job newer than `seen` wants worker `index` (or the pool stops): spins, then sleeps.
  void wait_for_job(Slot& slot, std::size_t index, std::uint32_t seen) {
    const auto ready = [&] { return stop_.load() || (generation_.load() != seen && index < wanted_.load()); };
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (std::size_t i = 1; !ready(); ++i) {
      cpu_relax();
      if (i % 256 == 0 && std::chrono::steady_clock::now() > until) {
        std::unique_lock<std::mutex> lock(slot.mutex);
        slot.sleeping.store(true);
        slot.wake.wait(lock, ready);
        slot.sleeping.store(false);
        return;
      }
    }
  }

  std::atomic<bool> in_use_{false};  // a call holds the workers
  std::atomic<Job*> job_{nullptr};
  std::atomic<std::size_t> wanted_{0};        // workers the newest job may use
  std::atomic<std::uint32_t> generation_{0};  // raised for every job
  std::atomic<std::size_t> busy_{0};          // workers that may be looking at job_
  std::atomic<bool> stop_{false};
  ContentionGuard guard_;  // used by the call that holds in_use_
  // Grown only by the call that holds in_use_; a worker reads only its own slot, created before it.
  std::vector<std::unique_ptr<Slot>> slots_;
};

void run_parts(std::size_t parts, std::size_t threads, const std::function<void(std::size_t)>& part) {
  if (parts == 0) return;
  if (threads > 1 && parts > 1 && Workers::instance().try_run(parts, threads, part)) return;
  std::exception_ptr error;  // alone: still every part, the first exception rethrown
  for (std::size_t i = 0; i < parts; ++i) {
    try {
      part(i);
    } catch (...) {
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

ThreadPool::ThreadPool(std::size_t threads) : threads_(std::max<std::size_t>(threads, 1)) {}

ThreadPool& ThreadPool::for_work(std::size_t work) {
  static ThreadPool one(1);  // a handle holds no state, so one may serve every caller
  return work >= kMinParallelWork ? *this : one;
}

void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t, std::size_t)>& fn) const {
  const std::size_t parts = std::min(threads_, n);
  if (parts <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  run_parts(parts, threads_, [&](std::size_t i) {
    const std::size_t begin = n * i / parts, end = n * (i + 1) / parts;
    if (begin < end) fn(begin, end);
  });
}

void ThreadPool::run(std::size_t tasks, const std::function<void(std::size_t)>& task) const {
  run_parts(tasks, threads_, task);
}

void set_thread_pool_contention_check(bool enabled) { contention_check.store(enabled); }

void run_on_workers(std::size_t workers, const std::function<void(std::size_t)>& task) {
  ThreadPool(workers).run(workers, task);
}

}  // namespace veloxquant
