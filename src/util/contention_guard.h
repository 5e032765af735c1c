// Whether the thread pool's workers get cores of their own. Where other processes keep the cores
// busy (another session's build on a shared machine: the scheduler gives each session a fair
// share), more threads only split this process's share, and a worker spinning for its next job
// takes time from the caller: the call is then slower than on one thread. The pool checks it:
// over a window of calls that used workers, the calling thread must have run for most of the wall
// time. A window below that sends calls to the caller alone for a while (backing off: 0.25 s,
// doubling up to 8 s while windows keep failing), then workers are tried again.
#pragma once

#include <algorithm>
#include <thread>

namespace veloxquant {

class ContentionGuard {
 public:
  static constexpr double kWindow = 0.05;   // seconds of calls per judgement
  static constexpr double kMaxGap = 0.01;   // a longer pause between calls starts a new window
  static constexpr double kMinShare = 0.8;  // CPU time of the caller / wall time
  static constexpr double kFirstBackoff = 0.25, kMaxBackoff = 8.0;

  // Before a call that would use workers, at wall time `now` (seconds).
  bool allows(double now) const { return now >= serial_until_; }

  // After such a call, at `now`, made on thread `caller`. cpu_now() reads the caller's CPU time
  // (a system call, so only at the ends of windows).
  template <typename CpuClock>
  void after_call(double now, std::thread::id caller, CpuClock cpu_now) {
    if (caller != caller_ || now - last_ > kMaxGap) return start(now, caller, cpu_now());
    last_ = now;
    if (now - start_wall_ < kWindow) return;
    const double share = (cpu_now() - start_cpu_) / (now - start_wall_);
    if (share >= kMinShare) {
      backoff_ = kFirstBackoff;
      return start(now, caller, cpu_now());
    }
    serial_until_ = now + backoff_;
    backoff_ = std::min(2 * backoff_, kMaxBackoff);
    caller_ = std::thread::id();  // the next call after the backoff starts a new window
  }

 private:
  void start(double now, std::thread::id caller, double cpu) {
    caller_ = caller;
    start_wall_ = last_ = now;
    start_cpu_ = cpu;
  }

  std::thread::id caller_;
  double start_wall_ = 0.0, start_cpu_ = 0.0, last_ = 0.0;
  double serial_until_ = 0.0, backoff_ = kFirstBackoff;
};

}  // namespace veloxquant
