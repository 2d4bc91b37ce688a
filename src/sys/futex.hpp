// The futex calls rankpool makes: a future's waiters sleep on its status
// word (threads of one process), and a worker and its call process hand
// calls over through a word in memory they share (two processes).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>

namespace rankpool::detail::futex {

// Threads of this process only, or any process that maps the word.
enum class scope { process, shared };

// The futex word is the atomic's own 32 bits (lock-free, same layout).
inline std::uint32_t* word_of(std::atomic<std::uint32_t>& a) noexcept {
  return reinterpret_cast<std::uint32_t*>(&a);
}

// Sleeps while `a` holds `expected`, at most `timeout` (none if null); may
// return early, so the caller checks again.
inline void wait(std::atomic<std::uint32_t>& a, std::uint32_t expected, scope s,
                 const std::chrono::nanoseconds* timeout = nullptr) {
  timespec t{};
  if (timeout != nullptr) {
    t.tv_sec = static_cast<time_t>(timeout->count() / 1'000'000'000);
    t.tv_nsec = static_cast<long>(timeout->count() % 1'000'000'000);
  }
  syscall(SYS_futex, word_of(a), s == scope::process ? FUTEX_WAIT_PRIVATE : FUTEX_WAIT, expected,
          timeout != nullptr ? &t : nullptr, nullptr, 0);
}

// Wakes up to `count` sleepers on `a`.
inline void wake(std::atomic<std::uint32_t>& a, scope s, int count = INT_MAX) {
  syscall(SYS_futex, word_of(a), s == scope::process ? FUTEX_WAKE_PRIVATE : FUTEX_WAKE, count,
          nullptr, nullptr, 0);
}

}  // namespace rankpool::detail::futex
