// rankpool::future<T>: a copyable handle to the result of one call, with the
// semantics of Python's concurrent.futures.Future.
#pragma once

#include "rankpool/detail/state.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace rankpool {

class executor;
namespace detail {
struct future_access;
}  // namespace detail

template <class T>
class future {
 public:
  using value_type = T;
  future() = default;

  bool valid() const noexcept { return state_ != nullptr; }

  // Blocks until the call ends; returns its result or throws its error
  // (remote_error, cancelled_error, broken_executor).
  decltype(auto) get() const { return checked().get(); }
  void wait() const { checked().wait(); }

  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    return wait_until(std::chrono::steady_clock::now() + timeout);
  }
  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& deadline) const {
    const auto steady_deadline =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - Clock::now());
    return checked().wait_until(steady_deadline) ? std::future_status::ready
                                                 : std::future_status::timeout;
  }

  bool done() const { return checked().done(); }
  bool running() const { return checked().status() == detail::call_status::running; }
  bool cancelled() const { return checked().status() == detail::call_status::cancelled; }
  // True if the call will never run: it had not been handed to a worker yet.
  bool cancel() const { return checked().cancel(); }
  // Blocks until done; null on success, else the error get() would throw.
  std::exception_ptr exception() const { return checked().exception(); }

  // fn(future<T>) is called exactly once when the call ends, on the thread
  // that ends it, or at once here if it already has. That thread is usually
  // the executor's management loop: fn may submit more work, but must not
  // wait on another future of the same executor (the loop would wait on itself).
  template <class F>
  void add_done_callback(F fn) const {
    static_assert(std::is_invocable_v<F&, const future<T>&>,
                  "rankpool: a done callback takes the finished future");
    checked().on_done(
        [fn = std::move(fn), self = std::weak_ptr<detail::state<T>>(state_)]() mutable {
          if (auto s = self.lock()) fn(future<T>(std::move(s)));
        });
  }

  friend bool operator==(const future& a, const future& b) noexcept { return a.state_ == b.state_; }
  friend bool operator!=(const future& a, const future& b) noexcept { return !(a == b); }

 private:
  friend struct detail::future_access;
  explicit future(std::shared_ptr<detail::state<T>> s) noexcept : state_(std::move(s)) {}

  detail::state<T>& checked() const {
    if (!state_) throw std::logic_error("rankpool: use of an empty (default-constructed) future");
    return *state_;
  }

  std::shared_ptr<detail::state<T>> state_;
};

namespace detail {
// How the executor, wait() and as_completed() reach a future's state.
struct future_access {
  template <class T>
  static future<T> make(std::shared_ptr<state<T>> s) noexcept {
    return future<T>(std::move(s));
  }
  template <class T>
  static state_base& state_of(const future<T>& f) {
    return f.checked();
  }
};
}  // namespace detail

}  // namespace rankpool
