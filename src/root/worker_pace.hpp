// How long one worker's calls take, as the root sees them, and so how many
// calls it may have in flight: the adaptive window.
//
// A window deeper than one call hides the round trip for calls short
// against it, but binds every call in it to that worker: a call queued
// behind a long one waits even if another worker goes idle. So a worker
// gets its second (and further) call only while its calls are short: their
// typical duration, and the time the call running now has taken so far,
// both under long_call(). Longer calls get one call in flight per worker;
// the rest wait on the root, where any worker that frees up can take them
// (and cancel() still works). options.window stays the maximum.
//
// Measured on the root, with no help from the worker: a call starts when it
// arrives or when the worker's previous result left, whichever is later, so
// its duration is taken from max(sent, previous result) to its result. That
// counts one round trip too for a call sent to an idle worker, which only
// errs towards a deeper window for calls near the threshold.
#pragma once

#include "root/call_ring.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>

namespace rankpool::detail {

class worker_pace {
 public:
  using clock = std::chrono::steady_clock;

  // When a call sent at `sent` could start on this worker: its send, or the
  // worker's previous answer if it was still busy with an earlier call then.
  clock::time_point start_of(clock::time_point sent) const noexcept {
    return std::max(sent, last_answer_);
  }

  // A call sent at `sent` answered at `now`.
  void answered(clock::time_point sent, clock::time_point now) noexcept {
    const auto took = now - start_of(sent);
    // An average over the last few calls (weights 1/4): one odd call moves
    // it, a change of workload takes over within a handful.
    typical_ = measured_ ? typical_ + (took - typical_) / 4 : took;
    measured_ = true;
    last_answer_ = now;
  }

  // How many calls this worker may have in flight now, at most `max_window`.
  // A worker starts at one: its first call may be long.
  std::size_t window(std::size_t max_window, const call_ring& ring, clock::duration long_call,
                     clock::time_point now) const noexcept {
    if (max_window <= 1 || !measured_ || typical_ > long_call) return 1;
    if (!ring.empty() && now - std::max(ring.oldest_sent(), last_answer_) > long_call) return 1;
    return max_window;
  }

 private:
  clock::time_point last_answer_{};
  clock::duration typical_{};
  bool measured_ = false;
};

// When the next call waits on the root rather than in a worker's window, the
// worker idles between two calls for a round trip plus the time the root
// takes to notice the answer: up to backoff::max_sleep (1 ms) while its loop
// polls between sleeps. A call is long when that gap is a small part of it:
// 50 round trips, and at least 20 ms (a gap of 1 ms is then 5% at most).
inline constexpr int long_call_round_trips = 50;
// The bounds of long_call(): the floor covers the root's reaction time; the
// ceiling keeps a round trip measured too long (only long calls seen so
// far) from making every call short.
inline constexpr std::chrono::milliseconds long_call_min{20};
inline constexpr std::chrono::milliseconds long_call_max{100};

// The threshold for a round trip estimated at `round_trip` (the fastest
// answer seen from an idle worker).
inline worker_pace::clock::duration long_call(worker_pace::clock::duration round_trip) noexcept {
  const worker_pace::clock::duration lo = long_call_min, hi = long_call_max;
  return std::clamp(round_trip * long_call_round_trips, lo, hi);
}

}  // namespace rankpool::detail
