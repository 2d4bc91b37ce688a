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
  /// An exception fn throws is reported on stderr, never thrown to the caller, whether
  /// the call had already ended or not (as in concurrent.futures).
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
    // The callback holds its call until it has run (it may run late, after
    // an outer round of callbacks: see state_base::finish), and is dropped
    // once it has: no cycle outlives the call.
    checked().on_done([fn = std::move(fn), self = state_]() mutable { fn(future<T>(self)); });
  }

  /// @brief A future for fn(this future), run on the root once this call has ended well.
  ///
  /// If this call failed or was cancelled, fn does not run: the returned future fails with
  /// the same error, or ends cancelled. An exception fn throws becomes the returned future's.
  /// fn runs where a done callback would (add_done_callback), so it must be short and must
  /// not wait on another call of the same pool; to run work on a worker use
  /// then(pool, g). Chains of any length take constant stack and no thread.
  /// Cancelling the returned future before this call ends stops fn from running.
  /// @code
  /// rankpool::future<double> f = pool.submit(work, 3, std::vector<double>{1, 2});
  /// rankpool::future<int> g = f.then([](rankpool::future<double> done) {
  ///   return static_cast<int>(done.get());
  /// });
  /// @endcode
  /// @param fn Called as fn(future<T>) with this (finished) future.
  template <class F>
  future<std::invoke_result_t<F&, future<T>>> then(F fn) const {
    using U = std::invoke_result_t<F&, future<T>>;
    auto next = std::make_shared<detail::state<U>>(checked().progress_driver());
    checked().on_done([fn = std::move(fn), self = state_, next]() mutable {
      if (!detail::pass_on_failure(*self, *next)) return;
      try {
        if constexpr (std::is_void_v<U>) {
          fn(future<T>(self));
          next->set_local();
        } else {
          next->set_local(fn(future<T>(self)));
        }
      } catch (...) {
        next->set_exception(std::current_exception());
      }
    });
    return future<U>(std::move(next));
  }

  /// @brief A future for g(result of this call), submitted to @p pool once this call has
  /// ended well; only on the pool's root.
  ///
  /// g must be registered like any submitted callable and take this call's result type
  /// (nothing for future<void>). If this call failed or was cancelled, g is not submitted
  /// and the returned future fails with the same error, or ends cancelled. Chains of any
  /// length take constant stack and no thread: each step is submitted when the one
  /// before it ends. Defined in executor.hpp.
  /// @code
  /// double refine(double x) { return x / 2; }
  /// RANKPOOL_REGISTER(refine);
  ///
  /// rankpool::future<double> h = pool.submit(work, 3, std::vector<double>{1, 2})
  ///                                  .then(pool, refine);  // refine(3.0) on a worker
  /// @endcode
  /// @throws std::invalid_argument if @p g was never registered.
  /// @throws std::runtime_error on a worker rank.
  template <class G>
  auto then(executor& pool, G g) const;

  /// @brief True if @p a and @p b refer to the same call (or are both empty).
  friend bool operator==(const future& a, const future& b) noexcept { return a.state_ == b.state_; }
  /// @brief True if @p a and @p b refer to different calls.
  friend bool operator!=(const future& a, const future& b) noexcept { return !(a == b); }

 private:
  friend struct detail::future_access;
  template <class>
  friend class future;  // then() makes the next future
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
