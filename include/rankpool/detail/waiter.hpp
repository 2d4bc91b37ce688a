// detail::waiter: collects the completions of a group of futures in the order
// they happen, for wait(), as_completed() and imap_unordered().
#pragma once

#include "rankpool/detail/loop_driver.hpp"
#include "rankpool/future.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>
#include <vector>

namespace rankpool {

namespace detail {

// Collects completions of a group of futures, in the order they happen.
class waiter {
 public:
  using clock = std::chrono::steady_clock;

  void notify(std::size_t index, bool failed) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      order_.push_back(index);
      failed_ = failed_ || failed;
    }
    cv_.notify_all();
  }

  // Blocks until ready(completed_count, any_failed) or the deadline. An
  // executor without a background thread is driven from here meanwhile.
  template <class Ready>
  bool wait(Ready ready, const std::optional<clock::time_point>& deadline,
            const std::weak_ptr<driver>& drv) {
    const auto ready_now = [&] {
      std::lock_guard<std::mutex> lock(mutex_);
      return ready(order_.size() + taken_, failed_);
    };
    // The condition is checked under the lock that notify() takes, so no
    // completion can slip between the check and the sleep.
    const auto sleep = [&](const clock::time_point* until) {
      std::unique_lock<std::mutex> lock(mutex_);
      const auto woken = [&] { return ready(order_.size() + taken_, failed_); };
      if (until != nullptr) {
        cv_.wait_until(lock, *until, woken);
      } else {
        cv_.wait(lock, woken);
      }
    };
    return drive_until(drv, ready_now, sleep, deadline ? &*deadline : nullptr);
  }

  std::optional<std::size_t> pop() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (order_.empty()) return std::nullopt;
    const std::size_t index = order_.front();
    order_.pop_front();
    ++taken_;
    return index;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::size_t> order_;
  std::size_t taken_ = 0;
  bool failed_ = false;
};

// Each distinct future once, in the order first seen: a future passed twice
// is yielded once by as_completed() and listed once by wait(), as in
// concurrent.futures (bpo-20367).
template <class T>
std::vector<future<T>> distinct(std::vector<future<T>> futures) {
  std::unordered_set<const state_base*> seen;
  seen.reserve(futures.size());
  std::size_t kept = 0;
  for (auto& f : futures) {
    if (seen.insert(&future_access::state_of(f)).second) futures[kept++] = std::move(f);
  }
  futures.resize(kept);
  return futures;
}

template <class T>
std::shared_ptr<waiter> watch(const std::vector<future<T>>& futures) {
  auto w = std::make_shared<waiter>();
  for (std::size_t i = 0; i < futures.size(); ++i) {
    std::weak_ptr<waiter> weak = w;
    state_base& s = future_access::state_of(futures[i]);
    s.on_done([weak, i, &s] {
      if (auto live = weak.lock())
        live->notify(i, s.status() != call_status::cancelled && s.exception() != nullptr);
    });
  }
  return w;
}

template <class T>
std::weak_ptr<driver> driver_of(const std::vector<future<T>>& futures) {
  for (const auto& f : futures) {
    if (auto d = future_access::state_of(f).progress_driver().lock()) return d;
  }
  return {};
}

}  // namespace detail

}  // namespace rankpool
