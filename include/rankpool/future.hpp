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

/// @brief A copyable handle to the result of one call, like Python's
/// concurrent.futures.Future.
///
/// Copies share the call. Every member function but valid() and the comparisons throws
/// std::logic_error on an empty (default-constructed) future.
/// @tparam T The callable's result type (void for none).
template <class T>
class future {
 public:
  /// @brief The call's result type.
  using value_type = T;
  /// @brief An empty future, not tied to any call (valid() is false).
  future() = default;

  /// @brief True if this future refers to a call (it came from an executor).
  bool valid() const noexcept { return state_ != nullptr; }

  /// @brief Blocks until the call ends; returns its result or throws its error.
  /// @return A reference to the result, valid while a copy of this future lives (nothing
  ///         for future<void>).
  /// @throws remote_error if the call threw on its worker.
  /// @throws cancelled_error if the call was cancelled.
  /// @throws broken_executor if the pool broke before the call ended.
  decltype(auto) get() const { return checked().get(); }
  /// @brief Blocks until the call ends (finished, failed or cancelled).
  void wait() const { checked().wait(); }

  /// @brief Blocks until the call ends or @p timeout has passed.
  /// @return std::future_status::ready if it ended, else std::future_status::timeout.
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    return wait_until(std::chrono::steady_clock::now() + timeout);
  }
  /// @brief Blocks until the call ends or @p deadline has passed.
  /// @return std::future_status::ready if it ended, else std::future_status::timeout.
  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& deadline) const {
    const auto steady_deadline =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - Clock::now());
    return checked().wait_until(steady_deadline) ? std::future_status::ready
                                                 : std::future_status::timeout;
  }

  /// @brief True if the call has ended: finished, failed or cancelled. Does not block.
  bool done() const { return checked().done(); }
  /// @brief True while the call has been handed to a worker and has not ended.
  bool running() const { return checked().status() == detail::call_status::running; }
  /// @brief True if the call was cancelled.
  bool cancelled() const { return checked().status() == detail::call_status::cancelled; }
  /// @brief Tries to cancel the call.
  /// @return True if the call will never run: it had not been handed to a worker yet (or
  ///         was cancelled already); false once it is running or has ended.
  bool cancel() const { return checked().cancel(); }
  /// @brief Stops the call even if it is running; needs a pool made with
  /// options::isolation = isolation::process.
  ///
  /// A call not yet started is cancelled as by cancel(). A running one has its call
  /// process killed (the worker then serves its next call in a fresh one). Blocks until
  /// the call has ended.
  /// @return True if the call ended cancelled; false if it had finished, failed or crashed
  ///         (also when it ended before the worker could stop it).
  /// @throws std::invalid_argument if the pool's calls are not isolated.
  bool terminate() const { return checked().terminate(state_); }
  /// @brief Blocks until done; null on success, else the error get() would throw.
  /// @throws cancelled_error if the call was cancelled (as get() would).
  std::exception_ptr exception() const { return checked().exception(); }

  /// @brief Calls fn(future<T>) exactly once when the call ends.
  ///
  /// fn runs on the thread that ends the call, or at once here if it already has. That
  /// thread is usually the executor's management loop: fn may submit more work, but must
  /// not wait on another future of the same executor (the loop would wait on itself).
  ///
  /// @code
  /// rankpool::future<double> f = pool.submit(work, 3, std::vector<double>{1, 2});
  /// f.add_done_callback([](const rankpool::future<double>& done) {
  ///   if (!done.cancelled() && !done.exception()) std::cout << done.get() << '\n';
  /// });
  /// @endcode
  template <class F>
  void add_done_callback(F fn) const {
    static_assert(std::is_invocable_v<F&, const future<T>&>,
                  "rankpool: a done callback takes the finished future");
    checked().on_done(
        [fn = std::move(fn), self = std::weak_ptr<detail::state<T>>(state_)]() mutable {
          if (auto s = self.lock()) fn(future<T>(std::move(s)));
        });
  }

  /// @brief True if @p a and @p b refer to the same call (or are both empty).
  friend bool operator==(const future& a, const future& b) noexcept { return a.state_ == b.state_; }
  /// @brief True if @p a and @p b refer to different calls.
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
