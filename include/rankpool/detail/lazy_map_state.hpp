// The state behind rankpool::lazy_map (imap(), imap_unordered()): which chunks
// are submitted, which are being read, and when to submit the next.
#pragma once

#include "rankpool/detail/map_chunk.hpp"
#include "rankpool/detail/waiter.hpp"
#include "rankpool/errors.hpp"
#include "rankpool/future.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rankpool {

namespace detail {

// One submitted chunk: its future and how many inputs it holds.
template <class R>
struct lazy_chunk {
  future<chunk<R>> results;
  std::size_t count = 0;
};

// The state behind a lazy_map and its iterators. `submit_next` reads the
// next chunk's inputs and submits it; it returns false once the input is
// exhausted. At most `buffersize` chunks are submitted and not yet
// consumed (the one being read counts until the loop moves past it).
template <class R>
class lazy_map_state {
 public:
  using submitter = std::function<bool(lazy_chunk<R>&)>;

  lazy_map_state(submitter submit_next, bool ordered, std::size_t buffersize,
                 std::weak_ptr<driver> drv)
      : submit_next_(std::move(submit_next)),
        ordered_(ordered),
        buffersize_(buffersize),
        driver_(std::move(drv)),
        finished_(std::make_shared<waiter>()) {}

  ~lazy_map_state() { cancel(); }

  // Submits chunks until the buffer is full or the input is exhausted.
  void fill() {
    while (!input_done_ && held() < buffersize_) {
      lazy_chunk<R> next;
      if (!submit_next_(next)) {
        input_done_ = true;
        submit_next_ = nullptr;  // lets go of the input now
        break;
      }
      add(std::move(next));
    }
  }

  bool at_end() {
    fill();
    return !current_ && in_flight() == 0;
  }

  // The result the loop is at; blocks until its chunk has ended, and
  // rethrows its call's error.
  const R& value() {
    if (!current_) take_next();
    if (values_ == nullptr) {
      const auto& values = current_->results.get().values;
      if (values.size() != current_->count) {
        throw broken_executor("rankpool: an imap() chunk came back with " +
                              std::to_string(values.size()) + " results instead of " +
                              std::to_string(current_->count));
      }
      values_ = &values;
    }
    return (*values_)[offset_];
  }

  void advance() {
    if (!current_) take_next();
    if (++offset_ < current_->count) return;
    // The loop has moved past the chunk's last result: it is consumed.
    current_.reset();
    values_ = nullptr;
    offset_ = 0;
    fill();
  }

  // Cancels every chunk not yet handed to a worker, and reads no more
  // input; returns how many chunks it cancelled.
  std::size_t cancel() {
    input_done_ = true;
    submit_next_ = nullptr;
    std::size_t cancelled = 0;
    const auto cancel_one = [&cancelled](lazy_chunk<R>& c) {
      if (!c.results.done() && c.results.cancel()) ++cancelled;
    };
    for (auto& c : ordered_queue_) cancel_one(c);
    for (auto& entry : unordered_) cancel_one(entry.second);
    return cancelled;
  }

 private:
  std::size_t in_flight() const noexcept {
    return ordered_ ? ordered_queue_.size() : unordered_.size();
  }
  std::size_t held() const noexcept { return in_flight() + (current_ ? 1 : 0); }

  void add(lazy_chunk<R> c) {
    if (ordered_) {
      ordered_queue_.push_back(std::move(c));
      return;
    }
    // Completions are queued in the order they happen; the loop takes them from there.
    const std::size_t seq = next_seq_++;
    std::weak_ptr<waiter> weak = finished_;
    future_access::state_of(c.results).on_done([weak, seq] {
      if (auto w = weak.lock()) w->notify(seq, false);
    });
    unordered_.emplace(seq, std::move(c));
  }

  // Makes the next chunk current: the oldest one (ordered), or the first to
  // end that the loop has not taken yet (unordered; blocks until one has).
  void take_next() {
    fill();
    if (in_flight() == 0) throw std::out_of_range("rankpool: lazy_map iterator past the end");
    if (ordered_) {
      current_ = std::move(ordered_queue_.front());
      ordered_queue_.pop_front();
      return;
    }
    const std::size_t want = taken_ + 1;
    finished_->wait([want](std::size_t ended, bool) { return ended >= want; }, std::nullopt,
                    driver_);
    const auto seq = finished_->pop();
    ++taken_;
    auto it = unordered_.find(*seq);
    current_ = std::move(it->second);
    unordered_.erase(it);
  }

  submitter submit_next_;
  bool ordered_;
  std::size_t buffersize_;
  std::weak_ptr<driver> driver_;
  bool input_done_ = false;
  std::deque<lazy_chunk<R>> ordered_queue_;                   // ordered: in input order
  std::unordered_map<std::size_t, lazy_chunk<R>> unordered_;  // unordered: by submission number
  std::shared_ptr<waiter> finished_;                          // unordered: completions in order
  std::size_t next_seq_ = 0;
  std::size_t taken_ = 0;
  std::optional<lazy_chunk<R>> current_;
  const std::vector<R>* values_ = nullptr;
  std::size_t offset_ = 0;
};

}  // namespace detail

}  // namespace rankpool
