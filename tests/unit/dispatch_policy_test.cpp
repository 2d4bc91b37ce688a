// The root's dispatch policy (src/root/dispatch_policy.hpp) driven with
// made-up answers: idle workers first, ties to the worker that answered
// last, and windows that open only for short calls. No MPI.
#include "root/dispatch_policy.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

using namespace std::chrono_literals;
namespace rd = rankpool::detail;

namespace {

const rd::dispatch_policy::clock::time_point t0{};
constexpr auto long_call = std::chrono::microseconds{100};

// Workers with a window of `window` each, and a policy over them.
struct pool_model {
  explicit pool_model(std::size_t workers, int window)
      : rings(workers, rd::call_ring(window)), policy(pointers(rings)) {}

  static std::vector<const rd::call_ring*> pointers(const std::vector<rd::call_ring>& r) {
    std::vector<const rd::call_ring*> out;
    for (const auto& ring : r) out.push_back(&ring);
    return out;
  }

  // Hands out up to `calls` calls; returns which worker took each, in order.
  std::vector<std::size_t> dispatch(std::size_t calls, rd::dispatch_policy::clock::time_point now) {
    std::vector<std::size_t> taken;
    policy.assign(long_call, now, [&](std::size_t i) {
      if (taken.size() == calls) return false;
      rings[i].push(next_id++, std::make_shared<rd::state<void>>(), now);
      taken.push_back(i);
      return true;
    });
    return taken;
  }

  // Worker i answers its oldest call at `now`.
  void answer(std::size_t i, rd::dispatch_policy::clock::time_point now) {
    std::uint64_t oldest = 0;
    bool found = false;
    rings[i].for_each([&](std::uint64_t id, const auto&) {
      if (!found) oldest = id;
      found = true;
    });
    ASSERT_TRUE(found);
    rd::call_ring::send_record sent;
    ASSERT_NE(rings[i].take(oldest, &sent), nullptr);
    policy.answered(i, sent.at, now);
  }

  std::vector<rd::call_ring> rings;
  rd::dispatch_policy policy;
  std::uint64_t next_id = 1;
};

}  // namespace

TEST(dispatch_policy, every_idle_worker_gets_a_call_before_any_gets_a_second) {
  pool_model pool(3, 4);
  // Nothing measured yet: one call each, in turn from worker 0.
  EXPECT_EQ(pool.dispatch(10, t0), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(pool.dispatch(10, t0), (std::vector<std::size_t>{}));  // every window is full
}

TEST(dispatch_policy, ties_go_first_to_the_worker_that_answered_last) {
  pool_model pool(3, 1);
  pool.dispatch(3, t0);
  pool.answer(0, t0 + 10us);
  pool.answer(2, t0 + 20us);
  // Both 0 and 2 are idle; 2 answered last and is still awake.
  EXPECT_EQ(pool.dispatch(1, t0 + 20us), (std::vector<std::size_t>{2}));
  EXPECT_EQ(pool.dispatch(5, t0 + 20us), (std::vector<std::size_t>{0}));
}

TEST(dispatch_policy, short_calls_open_the_window_breadth_first) {
  pool_model pool(2, 3);
  pool.dispatch(2, t0);
  pool.answer(0, t0 + 10us);  // short calls: both windows open to 3
  pool.answer(1, t0 + 10us);
  // Worker 1 answered last, so it leads each level; no worker gets a third
  // call before the other has two.
  EXPECT_EQ(pool.dispatch(6, t0 + 10us), (std::vector<std::size_t>{1, 0, 1, 0, 1, 0}));
}

TEST(dispatch_policy, long_calls_keep_one_call_per_worker_and_idle_ones_are_served) {
  pool_model pool(2, 4);
  pool.dispatch(2, t0);
  pool.answer(0, t0 + 5ms);  // a long call: worker 0 keeps a window of one
  EXPECT_EQ(pool.dispatch(4, t0 + 5ms), (std::vector<std::size_t>{0}));
  // Worker 1 is still on its first call (window one): nothing more goes out,
  // so the next call waits on the root for whichever worker frees first.
  EXPECT_EQ(pool.dispatch(4, t0 + 5ms), (std::vector<std::size_t>{}));
}

TEST(dispatch_policy, the_largest_load_given_is_reported) {
  pool_model pool(2, 2);
  pool.dispatch(2, t0);
  pool.answer(0, t0 + 10us);
  pool.answer(1, t0 + 10us);
  std::size_t deepest = pool.policy.assign(long_call, t0 + 10us, [&](std::size_t i) {
    pool.rings[i].push(pool.next_id++, std::make_shared<rd::state<void>>(), t0 + 10us);
    return true;
  });
  EXPECT_EQ(deepest, 2u);
}

TEST(dispatch_policy, a_busy_worker_gets_nothing_until_the_others_catch_up) {
  pool_model pool(2, 3);
  pool.dispatch(2, t0);
  pool.answer(1, t0 + 10us);  // short calls: both windows open
  pool.answer(0, t0 + 10us);
  EXPECT_EQ(pool.dispatch(4, t0 + 10us), (std::vector<std::size_t>{0, 1, 0, 1}));
  pool.answer(1, t0 + 20us);
  pool.answer(1, t0 + 30us);  // worker 1 is idle, worker 0 still has two calls
  EXPECT_EQ(pool.dispatch(3, t0 + 30us), (std::vector<std::size_t>{1, 1, 1}));
}
