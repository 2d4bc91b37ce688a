// The adaptive window (src/root/worker_pace.hpp), with made-up times: no MPI.
#include "root/worker_pace.hpp"

#include <gtest/gtest.h>

#include <memory>

using namespace std::chrono_literals;
namespace rd = rankpool::detail;

namespace {

const rd::worker_pace::clock::time_point t0{};
constexpr auto threshold = std::chrono::microseconds{100};

}  // namespace

TEST(worker_pace, a_worker_starts_with_one_call_in_flight) {
  rd::worker_pace pace;
  rd::call_ring ring(4);
  EXPECT_EQ(pace.window(4, ring, threshold, t0), 1u);
}

TEST(worker_pace, short_calls_open_the_whole_window_and_long_ones_close_it) {
  rd::worker_pace pace;
  rd::call_ring ring(4);
  pace.answered(t0, t0 + 10us);  // a short call
  EXPECT_EQ(pace.window(4, ring, threshold, t0 + 10us), 4u);
  EXPECT_EQ(pace.window(1, ring, threshold, t0 + 10us), 1u);  // never beyond options.window
  pace.answered(t0 + 10us, t0 + 5ms);  // a long one: the average jumps past the threshold
  EXPECT_EQ(pace.window(4, ring, threshold, t0 + 5ms), 1u);
  // Short calls again: the average comes back down within a handful.
  auto now = t0 + 5ms;
  for (int i = 0; i < 12; ++i) {
    pace.answered(now, now + 10us);
    now += 10us;
  }
  EXPECT_EQ(pace.window(4, ring, threshold, now), 4u);
}

TEST(worker_pace, a_call_running_longer_than_the_threshold_closes_the_window) {
  rd::worker_pace pace;
  rd::call_ring ring(2);
  pace.answered(t0, t0 + 10us);
  ring.push(7, std::make_shared<rd::state<void>>(), t0 + 20us);
  EXPECT_EQ(pace.window(2, ring, threshold, t0 + 50us), 2u);  // running 30 us so far
  EXPECT_EQ(pace.window(2, ring, threshold, t0 + 1ms), 1u);   // running ~1 ms: a long call
}

TEST(worker_pace, a_call_is_timed_from_when_it_could_start) {
  rd::worker_pace pace;
  rd::call_ring ring(2);
  // Two calls sent together: the second starts when the first is answered.
  pace.answered(t0, t0 + 40us);
  pace.answered(t0, t0 + 80us);  // took 40 us, not 80 (which would average 50 us)
  EXPECT_EQ(pace.window(2, ring, 45us, t0 + 80us), 2u);
}

TEST(worker_pace, the_threshold_is_fifty_round_trips_within_bounds) {
  EXPECT_EQ(rd::long_call(1ms), std::chrono::milliseconds{50});
  EXPECT_EQ(rd::long_call(5us), rd::long_call_min);  // never below 20 ms
  EXPECT_EQ(rd::long_call(1s), rd::long_call_max);   // nor above 100 ms
}
