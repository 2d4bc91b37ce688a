// rankpool::wait and rankpool::as_completed over groups of futures.
#pragma once

#include "rankpool/detail/waiter.hpp"
#include "rankpool/errors.hpp"
#include "rankpool/future.hpp"

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rankpool {

/// @brief When wait() returns, as in Python's concurrent.futures.wait().
///
/// - @c all_completed: when every future has ended.
/// - @c first_completed: when any future has ended (at once if there are none).
/// - @c first_exception: when any future has failed (a cancelled one does not count), else
///   when every future has ended.
enum class return_when { all_completed, first_completed, first_exception };

/// @brief What wait() returns: its futures split by whether they had ended.
template <class T>
struct wait_result {
  /// @brief The futures that had ended (finished, failed or cancelled), in input order;
  /// a future given more than once is listed once.
  std::vector<future<T>> done;
  /// @brief The others, in input order.
  std::vector<future<T>> not_done;
};

namespace detail {
// wait()'s machinery, defined at the end of this file.
template <class T>
wait_result<T> wait_impl(const std::vector<future<T>>& given, return_when when,
                         const std::optional<waiter::clock::time_point>& deadline);
}  // namespace detail

/// @brief Waits until @p when holds for @p futures; returns them split into done and
/// not_done.
///
/// A failed call does not throw here; call get() or exception() on the futures in done.
/// @code
/// std::vector<rankpool::future<double>> fs;
/// for (int i = 0; i < 8; ++i) fs.push_back(pool.submit(work, i, std::vector<double>{1}));
/// auto [done, not_done] = rankpool::wait(fs, rankpool::return_when::first_completed);
/// @endcode
/// @param futures Futures, all valid.
/// @param when When to return; by default once every future has ended.
template <class T>
wait_result<T> wait(const std::vector<future<T>>& futures,
                    return_when when = return_when::all_completed) {
  return detail::wait_impl(futures, when, std::nullopt);
}

/// @brief As wait(futures, when), but returns once @p timeout has passed even if @p when
/// does not hold yet (without throwing).
/// @code
/// using namespace std::chrono_literals;
/// auto result = rankpool::wait(fs, rankpool::return_when::all_completed, 5s);
/// if (!result.not_done.empty()) { /* some calls still pending or running */ }
/// @endcode
template <class T, class Rep, class Period>
wait_result<T> wait(const std::vector<future<T>>& futures, return_when when,
                    const std::chrono::duration<Rep, Period>& timeout) {
  return detail::wait_impl(futures, when, detail::waiter::clock::now() + timeout);
}

/// @brief What as_completed() returns: a single-pass range of futures in the order they end.
///
/// Yields each distinct future once, as it finishes (those already finished first). With a timeout,
/// iteration throws timeout_error if the next one is not done in time. Iterators refer to
/// the range, which must outlive them.
template <class T>
class as_completed_range {
 public:
  /// @brief An input iterator; incrementing it blocks until the next future has ended.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = future<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = const future<T>*;
    using reference = const future<T>&;

    iterator() = default;
    reference operator*() const { return range_->futures_[*range_->current_]; }
    pointer operator->() const { return &**this; }
    iterator& operator++() {
      if (!range_->advance()) range_ = nullptr;
      return *this;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.range_ == b.range_; }
    friend bool operator!=(const iterator& a, const iterator& b) { return !(a == b); }

   private:
    friend class as_completed_range;
    explicit iterator(as_completed_range* range) : range_(range) {}
    as_completed_range* range_ = nullptr;
  };

  /// @brief Watches @p futures until @p deadline (none: no limit); see as_completed().
  as_completed_range(std::vector<future<T>> futures,
                     std::optional<detail::waiter::clock::time_point> deadline)
      : futures_(detail::distinct(std::move(futures))),
        deadline_(deadline),
        waiter_(detail::watch(futures_)) {}

  /// @brief Blocks until the first future has ended; call it once.
  /// @throws timeout_error if the deadline passes first.
  iterator begin() { return iterator(advance() ? this : nullptr); }
  /// @brief The iterator after the last future.
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

/// @brief Yields @p futures as they end (those already ended first), like Python's
/// concurrent.futures.as_completed().
///
/// Yielded futures may have failed or been cancelled: get() then throws.
/// @code
/// double total = 0;
/// for (const rankpool::future<double>& f : rankpool::as_completed(fs)) total += f.get();
/// @endcode
template <class T>
as_completed_range<T> as_completed(std::vector<future<T>> futures) {
  return {std::move(futures), std::nullopt};
}

/// @brief As as_completed(futures), but iteration throws timeout_error once @p timeout,
/// counted from this call, passes before the next future has ended.
/// @code
/// using namespace std::chrono_literals;
/// for (const auto& f : rankpool::as_completed(fs, 30s)) use(f.get());
/// @endcode
template <class T, class Rep, class Period>
as_completed_range<T> as_completed(std::vector<future<T>> futures,
                                   const std::chrono::duration<Rep, Period>& timeout) {
  return {std::move(futures), detail::waiter::clock::now() + timeout};
}

namespace detail {

template <class T>
wait_result<T> wait_impl(const std::vector<future<T>>& given, return_when when,
                         const std::optional<waiter::clock::time_point>& deadline) {
  const auto futures = distinct(given);
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

}  // namespace rankpool
