// The root's per-worker record of calls in flight (src/call_ring.hpp).
#include "call_ring.hpp"

#include <gtest/gtest.h>

namespace rd = rankpool::detail;

namespace {

std::shared_ptr<rd::state_base> make_state() {
  return std::make_shared<rd::state<void>>();
}

}  // namespace

TEST(call_ring, answers_in_send_order_come_from_the_front) {
  rd::call_ring ring(2);
  const auto a = make_state(), b = make_state(), c = make_state();
  ring.push(1, a);
  ring.push(2, b);
  EXPECT_EQ(ring.size(), ring.capacity());
  EXPECT_EQ(ring.take(1), a);
  ring.push(3, c);  // wraps around
  EXPECT_EQ(ring.take(2), b);
  EXPECT_EQ(ring.take(3), c);
  EXPECT_TRUE(ring.empty());
}

TEST(call_ring, out_of_order_and_unknown_ids) {
  rd::call_ring ring(3);
  const auto a = make_state(), b = make_state(), c = make_state();
  ring.push(10, a);
  ring.push(11, b);
  ring.push(12, c);
  EXPECT_EQ(ring.take(11), b);        // from the middle: the others keep their order
  EXPECT_EQ(ring.take(11), nullptr);  // a duplicate answer is ignored
  EXPECT_EQ(ring.take(99), nullptr);  // so is a stray one
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.take(12), c);
  EXPECT_EQ(ring.take(10), a);
  EXPECT_TRUE(ring.empty());
}

TEST(call_ring, drain_hands_over_every_call) {
  rd::call_ring ring(4);
  ring.push(1, make_state());
  ring.push(2, make_state());
  ring.take(1);
  ring.push(3, make_state());
  std::vector<std::shared_ptr<rd::state_base>> lost;
  ring.drain(lost);
  EXPECT_EQ(lost.size(), 2u);
  EXPECT_TRUE(ring.empty());
  for (const auto& s : lost) EXPECT_NE(s, nullptr);
}
