// The root's per-worker record of calls in flight (src/root/call_ring.hpp).
#include "root/call_ring.hpp"

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

TEST(call_ring, records_when_each_call_was_sent_and_whether_it_went_alone) {
  using namespace std::chrono_literals;
  const rd::call_ring::clock::time_point sent_at{};
  rd::call_ring ring(2);
  const auto a = std::make_shared<rd::state<void>>(), b = std::make_shared<rd::state<void>>();
  ring.push(1, a, sent_at + 1us);
  ring.push(2, b, sent_at + 2us);
  EXPECT_TRUE(ring.oldest_sent() == sent_at + 1us);
  rd::call_ring::send_record sent;
  EXPECT_EQ(ring.take(1, &sent), a);
  EXPECT_TRUE(sent.at == sent_at + 1us);
  EXPECT_TRUE(sent.alone);
  EXPECT_EQ(ring.take(2, &sent), b);
  EXPECT_TRUE(sent.at == sent_at + 2us);
  EXPECT_FALSE(sent.alone);  // a call was ahead of it
}
