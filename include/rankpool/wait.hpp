// rankpool::wait and rankpool::as_completed over groups of futures.
#pragma once

#include "rankpool/detail/loop_driver.hpp"
#include "rankpool/errors.hpp"
#include "rankpool/future.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rankpool {

enum class return_when { all_completed, first_completed, first_exception };

template <class T>
struct wait_result {
  std::vector<future<T>> done;
  std::vector<future<T>> not_done;
};

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
    const auto block = [&](const clock::time_point* until) {
      std::unique_lock<std::mutex> lock(mutex_);
      const auto woken = [&] { return ready(order_.size() + taken_, failed_); };
      if (until != nullptr) {
        cv_.wait_until(lock, *until, woken);
      } else {
        cv_.wait(lock, woken);
      }
    };
    return drive_until(drv, ready_now, block, deadline ? &*deadline : nullptr);
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

template <class T>
wait_result<T> wait_impl(const std::vector<future<T>>& futures, return_when when,
                         const std::optional<waiter::clock::time_point>& deadline) {
  auto w = watch(futures);
  const std::size_t total = futures.size();
  w->wait(
      [&](std::size_t completed, bool failed) {
        switch (when) {
          case return_when::first_completed:
            return completed > 0 || total == 0;
          case return_when::first_exception:
            return failed || completed == total;
          case return_when::all_completed:
            break;
        }
        return completed == total;
      },
      deadline, driver_of(futures));
  wait_result<T> result;
  for (const auto& f : futures) (f.done() ? result.done : result.not_done).push_back(f);
  return result;
}

}  // namespace detail

// Waits until `when` holds for `futures`; returns them split into done and not_done.
template <class T>
wait_result<T> wait(const std::vector<future<T>>& futures,
                    return_when when = return_when::all_completed) {
  return detail::wait_impl(futures, when, std::nullopt);
}

template <class T, class Rep, class Period>
wait_result<T> wait(const std::vector<future<T>>& futures, return_when when,
                    const std::chrono::duration<Rep, Period>& timeout) {
  return detail::wait_impl(futures, when, detail::waiter::clock::now() + timeout);
}

// Yields the futures as they finish (those already finished first). With a
// timeout, iteration throws timeout_error if the next one is not done in time.
template <class T>
class as_completed_range {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = future<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = const future<T>*;
    using reference = const future<T>&;

    iterator() = default;
    reference operator*() const { return owner_->futures_[*owner_->current_]; }
    pointer operator->() const { return &**this; }
    iterator& operator++() {
      if (!owner_->advance()) owner_ = nullptr;
      return *this;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.owner_ == b.owner_; }
    friend bool operator!=(const iterator& a, const iterator& b) { return !(a == b); }

   private:
    friend class as_completed_range;
    explicit iterator(as_completed_range* owner) : owner_(owner) {}
    as_completed_range* owner_ = nullptr;
  };

  as_completed_range(std::vector<future<T>> futures,
                     std::optional<detail::waiter::clock::time_point> deadline)
      : futures_(std::move(futures)), deadline_(deadline), waiter_(detail::watch(futures_)) {}

  iterator begin() { return iterator(advance() ? this : nullptr); }
  iterator end() { return iterator(); }

 private:
  bool advance() {
    if (yielded_ == futures_.size()) return false;
    const std::size_t target = yielded_ + 1;
    if (!waiter_->wait([target](std::size_t completed, bool) { return completed >= target; },
                       deadline_, detail::driver_of(futures_))) {
      throw timeout_error("rankpool: as_completed timed out with " +
                          std::to_string(futures_.size() - yielded_) + " of " +
                          std::to_string(futures_.size()) + " futures unfinished");
    }
    current_ = waiter_->pop();
    ++yielded_;
    return true;
  }

  std::vector<future<T>> futures_;
  std::optional<detail::waiter::clock::time_point> deadline_;
  std::shared_ptr<detail::waiter> waiter_;
  std::optional<std::size_t> current_;
  std::size_t yielded_ = 0;
};

template <class T>
as_completed_range<T> as_completed(std::vector<future<T>> futures) {
  return {std::move(futures), std::nullopt};
}

template <class T, class Rep, class Period>
as_completed_range<T> as_completed(std::vector<future<T>> futures,
                                   const std::chrono::duration<Rep, Period>& timeout) {
  return {std::move(futures), detail::waiter::clock::now() + timeout};
}

}  // namespace rankpool
