// rankpool::map_result<R>: the results of map()/starmap(), in input order.
#pragma once

#include "rankpool/detail/map_chunk.hpp"
#include "rankpool/errors.hpp"
#include "rankpool/future.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <future>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rankpool {

class executor;

/// @brief The results of map()/starmap(), in input order.
///
/// Iterating blocks on each result in turn and rethrows the first failed call when it is
/// reached (remote_error, cancelled_error, broken_executor). With a timeout given to map(),
/// reaching a result that has not arrived by then throws timeout_error and cancels every
/// call not yet started, as Python's Executor.map(timeout=...) does. Iterators and
/// references refer to this object, which must outlive them.
/// @code
/// using namespace std::chrono_literals;
/// auto squares = pool.map(square, xs, /*chunksize=*/64, /*timeout=*/30s);
/// try {
///   for (double y : squares) use(y);
/// } catch (const rankpool::timeout_error&) {
///   // not every result came within 30 s of map(); the calls not yet started are cancelled
/// }
/// @endcode
/// @tparam R The callable's result type.
template <class R>
class map_result {
 public:
  /// @brief An input iterator over the results; dereferencing blocks until the result has
  /// arrived and rethrows its call's error.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    using pointer = const R*;
    using reference = const R&;

    iterator() = default;
    /// @throws timeout_error if the map's deadline passed before this result arrived.
    reference operator*() const {
      if (values_ == nullptr) fetch();
      return (*values_)[offset_];
    }
    pointer operator->() const { return &**this; }
    iterator& operator++() {
      ++index_;
      if (++offset_ == range_->chunksize_) {
        offset_ = 0;
        ++chunk_;
        values_ = nullptr;
      }
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.index_ == b.index_; }
    friend bool operator!=(const iterator& a, const iterator& b) { return !(a == b); }

   private:
    friend class map_result;
    iterator(const map_result* range, std::size_t index)
        : range_(range),
          index_(index),
          chunk_(index / range->chunksize_),
          offset_(index % range->chunksize_) {}

    // The current chunk's results, fetched once per chunk rather than once
    // per element (each fetch waits on a future).
    void fetch() const { values_ = &range_->chunk_values(chunk_); }

    const map_result* range_ = nullptr;
    std::size_t index_ = 0;
    std::size_t chunk_ = 0;
    std::size_t offset_ = 0;  // index_ within chunk_
    mutable const std::vector<R>* values_ = nullptr;
  };

  /// @brief The first result's position (does not block).
  iterator begin() const { return {this, 0}; }
  /// @brief The position after the last result.
  iterator end() const { return {this, size_}; }
  /// @brief How many inputs (and so results) there are.
  std::size_t size() const noexcept { return size_; }
  /// @brief Result @p i; blocks until it has arrived.
  /// @throws std::out_of_range if @p i >= size().
  /// @throws remote_error, cancelled_error, broken_executor if its chunk failed.
  /// @throws timeout_error if the map's deadline passed before it arrived.
  const R& at(std::size_t i) const {
    if (i >= size_) throw std::out_of_range("rankpool: map_result::at index out of range");
    return chunk_values(i / chunksize_)[i % chunksize_];
  }
  /// @brief Every result, in order (blocks until all have arrived).
  /// @throws remote_error, cancelled_error, broken_executor for the first failed call.
  /// @throws timeout_error if the map's deadline passed before every result arrived.
  std::vector<R> get() const { return std::vector<R>(begin(), end()); }
  /// @brief True once every call has ended (finished, failed or cancelled); never blocks.
  bool done() const {
    return std::all_of(chunks_.begin(), chunks_.end(), [](const auto& c) { return c.done(); });
  }
  /// @brief Blocks until every call has ended or @p timeout has passed. Cancels nothing.
  /// @return std::future_status::ready if every call ended, else std::future_status::timeout.
  /// @code
  /// if (squares.wait_for(std::chrono::seconds(5)) == std::future_status::ready)
  /// use(squares.get());
  /// @endcode
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& timeout) const {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
    for (const auto& c : chunks_) {
      if (c.wait_until(deadline) != std::future_status::ready) return std::future_status::timeout;
    }
    return std::future_status::ready;
  }
  /// @brief How many messages (of up to chunksize calls each) the inputs were sent in.
  std::size_t chunk_count() const noexcept { return chunks_.size(); }
  /// @brief Cancels every chunk not yet handed to a worker.
  /// @return How many chunks it cancelled. Iterating then throws cancelled_error at the
  ///         first of them.
  std::size_t cancel() const {
    std::size_t cancelled = 0;
    for (const auto& c : chunks_) {
      if (!c.done() && c.cancel()) ++cancelled;
    }
    return cancelled;
  }

 private:
  friend class executor;
  using clock = std::chrono::steady_clock;

  // Chunk c's results, waiting no later than the map's deadline. A worker
  // that answered with the wrong number of results is an error here, not a
  // read out of bounds later.
  const std::vector<R>& chunk_values(std::size_t c) const {
    const auto& results = chunks_.at(c);
    if (deadline_ && results.wait_until(*deadline_) != std::future_status::ready) {
      // As Python's map iterator does when it gives up: nothing more starts.
      cancel();
      throw timeout_error("rankpool: map() result " + std::to_string(c * chunksize_) + " of " +
                          std::to_string(size_) +
                          " had not arrived when the map's timeout passed; the calls not yet "
                          "started are cancelled");
    }
    const auto& values = results.get().values;
    const std::size_t expected = std::min(chunksize_, size_ - c * chunksize_);
    if (values.size() != expected) {
      throw broken_executor("rankpool: a map() chunk came back with " +
                            std::to_string(values.size()) + " results instead of " +
                            std::to_string(expected));
    }
    return values;
  }

  std::vector<future<detail::chunk<R>>> chunks_;
  std::size_t chunksize_ = 1;
  std::size_t size_ = 0;
  std::optional<clock::time_point> deadline_;  // map(..., timeout): from the call to map()
};

}  // namespace rankpool
