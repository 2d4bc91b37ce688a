// Spin briefly, then sleep with growing intervals: low latency while busy,
// nearly no CPU while idle.
#pragma once

#include <chrono>
#include <thread>

namespace rankpool::detail {

class backoff {
 public:
  // Spin iterations (each a yield) before sleeping, and the longest sleep.
  static constexpr unsigned spins = 200;
  static constexpr std::chrono::microseconds max_sleep{1000};

  void reset() noexcept { count_ = 0; }
  bool spinning() const noexcept { return count_ < spins; }

  // The next pause's length, zero while still spinning.
  std::chrono::microseconds next_sleep() noexcept {
    if (count_ < spins) {
      ++count_;
      return std::chrono::microseconds{0};
    }
    const unsigned doublings = count_ - spins;
    if (doublings < 10) ++count_;
    const std::chrono::microseconds sleep{1L << doublings};  // 1 us .. 1 ms
    return sleep < max_sleep ? sleep : max_sleep;
  }

  void pause() {
    const auto sleep = next_sleep();
    if (sleep.count() == 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(sleep);
    }
  }

 private:
  unsigned count_ = 0;
};

}  // namespace rankpool::detail
