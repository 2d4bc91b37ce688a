// A lock for a few fields that change together, held for a handful of
// instructions (see state.hpp).
#pragma once

#include <atomic>
#include <thread>

namespace rankpool::detail {

// Spins (yielding) rather than sleeping: it costs 1 byte where a std::mutex
// costs 40, which matters in a state of which a backlog holds a million.
class spin_lock {
 public:
  void lock() noexcept {
    while (flag_.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
  }
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

}  // namespace rankpool::detail
