// The process's one thread pool (src/util/thread_pool.h): every part once, the documented split,
// exceptions, concurrent and nested calls, handles of different sizes, and workers woken from
// their spin and from sleep. Run under ThreadSanitizer by `make tsan`.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "util/contention_guard.h"
#include "util/thread_pool.h"

namespace veloxquant {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnceInTheDocumentedParts) {
  for (std::size_t threads : {0, 1, 2, 3, 4}) {
    const ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads == 0 ? 1u : threads);
    for (std::size_t n : {0, 1, 2, 7, 100}) {
      std::vector<std::atomic<int>> hits(n);
      std::mutex mutex;
      std::set<std::pair<std::size_t, std::size_t>> parts;
      for (int rep = 0; rep < 5; ++rep)
        pool.parallel_for(n, [&](std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) hits[i]++;
          const std::lock_guard<std::mutex> lock(mutex);
          parts.insert({b, e});
        });
      for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 5) << threads << " threads, n " << n << ", i " << i;
      std::set<std::pair<std::size_t, std::size_t>> expected;
      const std::size_t count = std::min(pool.size(), n);
      for (std::size_t i = 0; i < count; ++i) expected.insert({n * i / count, n * (i + 1) / count});
      EXPECT_EQ(parts, expected) << threads << " threads, n " << n;
    }
  }
}

TEST(ThreadPool, RunsEveryPartOnceAndRethrowsTheFirstException) {
  for (std::size_t threads : {1, 2, 3}) {
    const ThreadPool pool(threads);
    std::atomic<int> ran{0};
    EXPECT_THROW(pool.parallel_for(50,
                                   [&](std::size_t, std::size_t e) {
                                     ran++;
                                     if (e == 50) throw std::runtime_error("last part");
                                   }),
                 std::runtime_error);
    EXPECT_EQ(ran.load(), static_cast<int>(threads));  // the other parts ran as well
    ran = 0;
    EXPECT_THROW(pool.run(7,
                          [&](std::size_t i) {
                            ran++;
                            if (i % 2 == 0) throw std::invalid_argument("even task");
                          }),
                 std::invalid_argument);
    EXPECT_EQ(ran.load(), 7);
    std::atomic<int> after{0};
    pool.parallel_for(10, [&](std::size_t b, std::size_t e) { after += static_cast<int>(e - b); });
    EXPECT_EQ(after.load(), 10);  // still usable after an exception
  }
}

TEST(ThreadPool, RunAndRunOnWorkersCallEveryTaskOnce) {
  for (std::size_t workers : {1, 2, 5, 3}) {
    std::vector<std::atomic<int>> runs(workers);
    run_on_workers(workers, [&](std::size_t w) { runs[w]++; });
    for (std::size_t w = 0; w < workers; ++w) EXPECT_EQ(runs[w].load(), 1) << workers << " workers, task " << w;
  }
  const ThreadPool pool(2);
  std::vector<std::atomic<int>> runs(9);
  pool.run(9, [&](std::size_t i) { runs[i]++; });
  for (std::size_t i = 0; i < 9; ++i) EXPECT_EQ(runs[i].load(), 1) << "task " << i;
  pool.run(0, [&](std::size_t) { ADD_FAILURE() << "no task to run"; });
}

// At most size() threads take part in one call, whatever larger handles ran before.
TEST(ThreadPool, HandlesOfDifferentSizesUseAtMostTheirThreads) {
  for (std::size_t threads : {4, 2, 3, 1, 4}) {
    const ThreadPool pool(threads);
    for (int rep = 0; rep < 20; ++rep) {
      std::mutex mutex;
      std::set<std::thread::id> ids;
      pool.run(16, [&](std::size_t) {
        const std::lock_guard<std::mutex> lock(mutex);
        ids.insert(std::this_thread::get_id());
      });
      EXPECT_LE(ids.size(), threads);
    }
  }
}

// Calls from several threads at once, and a call from inside a part, all complete (a call that
// finds the workers busy runs on its own thread).
TEST(ThreadPool, ConcurrentAndNestedCallsComplete) {
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      const ThreadPool pool(3);
      for (int i = 0; i < 50; ++i) {
        run_on_workers(3, [&](std::size_t) { total++; });
        pool.parallel_for(6, [&](std::size_t b, std::size_t e) { total += static_cast<int>(e - b); });
      }
    });
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 50 * (3 + 6));

  const ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.parallel_for(4, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i)
      pool.parallel_for(10, [&](std::size_t ib, std::size_t ie) { inner += static_cast<int>(ie - ib); });
  });
  EXPECT_EQ(inner.load(), 40);
}

// Two parts that each wait for the other to start need two threads at once: a worker must wake,
// from its spin (right after a call) and from sleep (after a pause).
TEST(ThreadPool, WorkersWakeFromSpinAndFromSleep) {
  set_thread_pool_contention_check(false);  // on a busy machine it could keep the worker out
  const ThreadPool pool(2);
  for (int round = 0; round < 6; ++round) {
    if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // long past the spin
    std::atomic<int> started{0};
    std::atomic<bool> timed_out{false};
    pool.run(2, [&](std::size_t) {
      started++;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (started.load() < 2)
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          return;
        }
    });
    EXPECT_FALSE(timed_out.load()) << "round " << round << ": no second thread took the other part";
  }
  set_thread_pool_contention_check(true);
}

TEST(ThreadPool, ForWorkKeepsSmallJobsOnOneThread) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.for_work(kMinParallelWork - 1).size(), 1u);
  EXPECT_EQ(&pool.for_work(kMinParallelWork), &pool);
}

// Calls every millisecond for `ms` milliseconds from one thread that gets share(t) of the wall
// time as CPU time; as in the pool, only calls that used workers are reported to the guard.
// Returns the times at which the guard changed its answer (first: whether it allowed workers).
std::vector<double> guard_changes(int ms, const std::function<double(double)>& share) {
  ContentionGuard guard;
  double now = 0.0, cpu = 0.0;
  std::vector<double> changes;
  bool last = true;
  for (int i = 0; i < ms; ++i) {
    const bool workers = guard.allows(now);
    if (workers != last) changes.push_back(now);
    last = workers;
    now += 0.001;
    cpu += 0.001 * share(now);
    if (workers) guard.after_call(now, std::this_thread::get_id(), [&] { return cpu; });
  }
  return changes;
}

// Within 25 ms: a window ends at the first call past it, so every change drifts by a call or two.
void expect_near_times(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.025) << "change " << i;
}

TEST(ContentionGuard, AllowsWorkersWhileTheCallerGetsItsCore) {
  EXPECT_TRUE(guard_changes(5000, [](double) { return 0.95; }).empty());
}

TEST(ContentionGuard, BacksOffWhileTheCallerIsStarvedUpToTheLongestBackoff) {
  // Windows of 50 ms fail; backoffs 0.25, 0.5, 1, 2, 4, 8, 8 s.
  std::vector<double> want;
  double t = 0.0;
  for (double backoff : {0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0}) {
    want.push_back(t += ContentionGuard::kWindow);
    want.push_back(t += backoff);
  }
  expect_near_times(guard_changes(static_cast<int>(1000 * t) + 30, [](double) { return 0.5; }), want);
}

TEST(ContentionGuard, APassingWindowResetsTheBackoff) {
  // Starved for 0.5 s (backoffs 0.25, 0.5), then the core comes back at 0.6 s and
  // is lost again at 1.6 s: the next failure costs 0.25 s, the one after 0.5 s.
  const auto share = [](double t) { return t < 0.6 || t > 1.6 ? 0.5 : 0.95; };
  expect_near_times(guard_changes(2500, share), {0.05, 0.30, 0.35, 0.85, 1.65, 1.90, 1.95, 2.45});
}

// Idle pauses between calls (the program waits for input) are not time the caller lost, and
// calls from two threads in turn are not judged as one window.
TEST(ContentionGuard, PausesBetweenCallsAndOtherCallersStartNewWindows) {
  ContentionGuard guard;
  double now = 0.0, cpu = 0.0;
  for (int burst = 0; burst < 100; ++burst) {
    for (int i = 0; i < 40; ++i) {
      EXPECT_TRUE(guard.allows(now)) << "burst " << burst;
      now += 0.001;
      cpu += 0.001;
      guard.after_call(now, std::this_thread::get_id(), [&] { return cpu; });
    }
    now += 0.5;  // idle: wall time passes, no CPU time
  }
  std::thread::id other;
  std::thread([&] { other = std::this_thread::get_id(); }).join();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(guard.allows(now));
    now += 0.001;
    guard.after_call(now, i % 2 ? other : std::this_thread::get_id(), [&] { return cpu; });  // no CPU time
  }
}

}  // namespace
}  // namespace veloxquant
