// rankpool::lazy_map: what executor::imap() and imap_unordered() return. The
// inputs are read, and their chunks submitted, only as results are
// consumed, so a map over any number of inputs holds a bounded number of
// calls and results.
#pragma once

#include "rankpool/detail/lazy_map_state.hpp"

#include <cstddef>
#include <iterator>
#include <memory>

namespace rankpool {

class executor;

/// @brief The results of imap()/imap_unordered(): a single-pass range that reads the
/// inputs and submits their calls only as the results are consumed.
///
/// At most `buffersize` chunks are submitted and not yet consumed; a chunk is consumed
/// when the loop has moved past its last result. Dereferencing blocks until that result
/// has arrived and rethrows its call's error (remote_error, cancelled_error,
/// broken_executor). Destroying the range (leaving the loop early) cancels every chunk not
/// yet handed to a worker; those already running end on their own. The range, the pool
/// and (if it was passed as an lvalue) the input must outlive the iteration.
/// @code
/// std::ifstream in("numbers.txt");
/// auto numbers = boost::make_iterator_range(std::istream_iterator<double>(in),
///                                           std::istream_iterator<double>());
/// rankpool::lazy_map<double> squares = pool.imap(square, numbers, /*chunksize=*/16);
/// for (double y : squares) use(y);  // reads the file only as results are consumed
/// @endcode
/// @tparam R The callable's result type.
template <class R>
class lazy_map {
 public:
  /// @brief An input iterator over the results.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    using pointer = const R*;
    using reference = const R&;

    iterator() = default;
    reference operator*() const { return state_->value(); }
    pointer operator->() const { return &**this; }
    iterator& operator++() {
      state_->advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.ended() == b.ended(); }
    friend bool operator!=(const iterator& a, const iterator& b) { return !(a == b); }

   private:
    friend class lazy_map;
    explicit iterator(detail::lazy_map_state<R>* s) : state_(s) {}
    bool ended() const { return state_ == nullptr || state_->at_end(); }
    detail::lazy_map_state<R>* state_ = nullptr;
  };

  /// @brief The first result's position; submits the first chunks (does not block).
  iterator begin() { return iterator(state_.get()); }
  /// @brief The position after the last result.
  iterator end() { return iterator(); }
  /// @brief Cancels every chunk not yet handed to a worker; the input is no longer read.
  /// @return How many chunks it cancelled. Iterating then throws cancelled_error at the
  ///         first of them.
  std::size_t cancel() { return state_->cancel(); }

 private:
  friend class executor;
  explicit lazy_map(std::unique_ptr<detail::lazy_map_state<R>> s) : state_(std::move(s)) {}
  std::unique_ptr<detail::lazy_map_state<R>> state_;
};

}  // namespace rankpool
