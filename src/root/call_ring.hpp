// The calls one worker has been sent and not yet answered, oldest first.
// A worker runs its calls in order and MPI keeps one sender's messages in
// order, so results come back in the order the calls went out: the answer
// is almost always the oldest entry, found without a hash lookup. The ring
// holds at most `window` calls and never allocates after construction.
#pragma once

#include "rankpool/detail/state.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace rankpool::detail {

class call_ring {
 public:
  using clock = std::chrono::steady_clock;

  // When a call was sent, and whether the worker had no other call in
  // flight then (its answer then took one round trip plus the call).
  struct send_record {
    clock::time_point at{};
    bool alone = false;
  };

  explicit call_ring(int window) : slots_(static_cast<std::size_t>(window > 0 ? window : 1)) {}

  std::size_t capacity() const noexcept { return slots_.size(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // The caller never sends a worker more than `window` calls. `sent`: when
  // the call went out, for the worker's pace (worker_pace.hpp).
  void push(std::uint64_t id, std::shared_ptr<state_base> state, clock::time_point sent = {}) {
    auto& slot = slots_[index(size_)];
    slot.id = id;
    slot.sent = {sent, size_ == 0};
    slot.state = std::move(state);
    ++size_;
  }

  // When the oldest call still here was sent; the ring must not be empty.
  clock::time_point oldest_sent() const noexcept { return slots_[head_].sent.at; }

  // Removes and returns the call `id`; null if it is not here (a stray or
  // duplicate result). Out-of-order answers are still found (the window is
  // small), so a misbehaving sender cannot make a call hang.
  // With `sent`, also tells how that call was sent.
  std::shared_ptr<state_base> take(std::uint64_t id, send_record* sent = nullptr) {
    for (std::size_t i = 0; i < size_; ++i) {
      auto& slot = slots_[index(i)];
      if (slot.id != id || !slot.state) continue;
      if (sent != nullptr) *sent = slot.sent;
      auto state = std::move(slot.state);
      close_gap(i);
      return state;
    }
    return nullptr;
  }

  // Calls fn(id, state) for each call here, oldest first.
  template <class F>
  void for_each(F fn) const {
    for (std::size_t i = 0; i < size_; ++i) {
      const auto& slot = slots_[index(i)];
      if (slot.state) fn(slot.id, slot.state);
    }
  }

  // Moves every call out (the pool broke), leaving the ring empty.
  void drain(std::vector<std::shared_ptr<state_base>>& out) {
    for (std::size_t i = 0; i < size_; ++i) out.push_back(std::move(slots_[index(i)].state));
    head_ = 0;
    size_ = 0;
  }

 private:
  struct entry {
    std::uint64_t id = 0;
    send_record sent;
    std::shared_ptr<state_base> state;
  };

  std::size_t index(std::size_t i) const noexcept { return (head_ + i) % slots_.size(); }

  // Entry i was taken: the oldest just advances the head; any other shifts
  // the older entries up by one (rare, and at most window - 1 moves).
  void close_gap(std::size_t i) {
    for (; i > 0; --i) slots_[index(i)] = std::move(slots_[index(i - 1)]);
    head_ = index(1);
    --size_;
  }

  std::vector<entry> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace rankpool::detail
