// Which worker takes each pending call: the root loop's dispatch policy,
// apart from MPI so that a unit test can drive it with made-up answers.
//
// Breadth first: the next call goes to the worker with the fewest calls in
// flight, so an idle worker is always served before a busy one gets a second
// call. Ties are taken in turn starting from the worker that answered last:
// it is still spinning for its next call, while one left idle may have gone
// to sleep (on an oversubscribed node, waking it costs the others). Each
// worker's window adapts to its calls' length (worker_pace.hpp).
#pragma once

#include "root/call_ring.hpp"
#include "root/worker_pace.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace rankpool::detail {

class dispatch_policy {
 public:
  using clock = std::chrono::steady_clock;

  // One entry per worker: the calls it has in flight (the ring's capacity is
  // options::window). The rings must outlive the policy.
  explicit dispatch_policy(std::vector<const call_ring*> rings)
      : rings_(std::move(rings)),
        pace_(rings_.size()),
        load_(rings_.size()),
        limit_(rings_.size()) {}

  std::size_t workers() const noexcept { return rings_.size(); }

  // Offers worker i the next call, for each call to hand out in turn, by
  // calling take(i); take returns false when no call is left. Returns the
  // most calls in flight any worker given a call now has.
  template <class Take>
  std::size_t assign(clock::duration long_call, clock::time_point now, Take take) {
    const std::size_t n = rings_.size();
    std::size_t deepest = 0;
    for (std::size_t i = 0; i < n; ++i) {
      load_[i] = rings_[i]->size();
      limit_[i] = pace_[i].window(rings_[i]->capacity(), *rings_[i], long_call, now);
      deepest = std::max(deepest, limit_[i]);
    }
    std::size_t deepest_given = 0;
    for (std::size_t level = 0; level < deepest; ++level) {
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (turn_ + k) % n;
        if (load_[i] != level || level >= limit_[i]) continue;
        if (!take(i)) return deepest_given;
        deepest_given = std::max(deepest_given, ++load_[i]);
      }
    }
    return deepest_given;
  }

  // When a call sent to worker i at `sent` could start there.
  clock::time_point start_of(std::size_t i, clock::time_point sent) const noexcept {
    return pace_[i].start_of(sent);
  }

  // Worker i answered a call sent at `sent`: its pace learns the call's
  // length, and it takes the next tie.
  void answered(std::size_t i, clock::time_point sent, clock::time_point now) noexcept {
    pace_[i].answered(sent, now);
    turn_ = i;
  }

 private:
  std::vector<const call_ring*> rings_;
  std::vector<worker_pace> pace_;
  std::vector<std::size_t> load_;   // assign()'s scratch: calls in flight
  std::vector<std::size_t> limit_;  // and each worker's window now
  std::size_t turn_ = 0;            // the worker that takes the first tie
};

}  // namespace rankpool::detail
