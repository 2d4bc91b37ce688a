// Spin briefly, then sleep with growing intervals: low latency while busy,
// nearly no CPU while idle.
#pragma once

#include <chrono>
#include <thread>

namespace rankpool::detail {

class backoff {
 public:
  using clock = std::chrono::steady_clock;

  // How long to spin (yielding) before sleeping, by default. The spin is
  // measured in time, not iterations: the root's waiting thread and a worker
  // must each outlast the other's reaction time, or both settle into a
  // stable slow mode where every call finds the other side asleep.
  static constexpr std::chrono::microseconds default_spin{300};
  // A worker spins longer: the root may take a futex wake-up and a hand-off
  // between its threads before the next call goes out.
  static constexpr std::chrono::microseconds worker_spin{1000};
  // Sleeps then double from 1 us up to max_sleep; after `patience` sleeps
  // of max_sleep (about 0.1 s of nothing) they stretch to long_sleep, so a
  // pool left idle costs almost no CPU while a short gap answers within 1 ms.
  static constexpr std::chrono::microseconds max_sleep{1000};
  // The longest sleep of the root's loop while calls wait on the root for a
  // worker: a worker that finishes then idles until the loop notices, and a
  // sleep of 1 ms lasts nearly twice that on a virtual machine, whose idle
  // core wakes slowly. 2,000 calls of 1 ms to 1 s on one worker took 1.14x
  // their lower bound with 1 ms, 1.03x with this. The price is root CPU
  // while work waits: 14% of a core instead of 4% on that machine.
  static constexpr std::chrono::microseconds waiting_max_sleep{200};
  static constexpr unsigned patience = 100;
  static constexpr std::chrono::microseconds long_sleep{5000};
  // A spinning waiter yields its core once every this many turns, not every
  // turn: a sched_yield is a system call (about a microsecond on a virtual
  // machine) and the turns between are MPI polls, in which Open MPI yields
  // by itself when ranks outnumber cores. Measured with 1 root + 1 worker on
  // 2 dedicated cores: round trip 4.2 -> 2.6 us, submit + get 300k -> 450k
  // calls/s; 3 ranks on 2 cores: 5.8 -> 5.1 us, 270k -> 310k.
  static constexpr unsigned spins_per_yield = 16;

  // spin: zero for a loop that others cover while it would spin. long_sleeps:
  // false for a loop that must notice results while calls are out.
  explicit backoff(std::chrono::microseconds spin = default_spin, bool long_sleeps = true) noexcept
      : spin_(spin), long_sleeps_(long_sleeps) {}

  void reset() noexcept {
    sleeps_ = 0;
    spin_started_ = false;
  }

  bool spinning() noexcept {
    if (spin_.count() == 0) return false;
    const auto now = clock::now();
    if (!spin_started_) {
      spin_started_ = true;
      spin_start_ = now;
    }
    return now - spin_start_ < spin_;
  }

  // The next pause's length, zero while still spinning.
  std::chrono::microseconds next_sleep() noexcept {
    if (sleeps_ == 0 && spinning()) return std::chrono::microseconds{0};
    const unsigned n = sleeps_;
    if (sleeps_ < 10 + patience) ++sleeps_;
    if (n < 10) return std::chrono::microseconds{1L << n};  // 1 us .. 512 us
    if (n < 10 + patience || !long_sleeps_) return max_sleep;
    return long_sleep;
  }

  void pause() {
    const auto sleep = next_sleep();
    if (sleep.count() == 0) {
      if (++spins_ % spins_per_yield == 0) std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(sleep);
    }
  }

 private:
  std::chrono::microseconds spin_;
  bool long_sleeps_;
  bool spin_started_ = false;
  clock::time_point spin_start_{};
  unsigned sleeps_ = 0;
  unsigned spins_ = 0;
};

}  // namespace rankpool::detail
