// Future states without MPI: transitions, waiting, callbacks.
#include <rankpool/rankpool.hpp>

#include <gtest/gtest.h>

#include <thread>

using namespace std::chrono_literals;
namespace rd = rankpool::detail;

namespace {

std::string encoded(int value) {
  std::string p;
  rd::encode_result(p, value);
  return p;
}

}  // namespace

TEST(future_state, pending_running_finished) {
  auto s = rd::make_state<int>();
  auto f = rd::future_access::make(s);
  EXPECT_FALSE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_EQ(f.wait_for(1ms), std::future_status::timeout);
  EXPECT_TRUE(s->try_start());
  EXPECT_TRUE(f.running());
  EXPECT_FALSE(f.cancel());
  std::thread finisher([s] {
    std::this_thread::sleep_for(20ms);
    s->set_payload(encoded(7));
  });
  EXPECT_EQ(f.get(), 7);  // blocks until the other thread finishes it
  finisher.join();
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_FALSE(f.cancel());
}

TEST(future_state, cancel_only_while_pending) {
  auto s = rd::make_state<int>();
  auto f = rd::future_access::make(s);
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(f.cancelled());
  EXPECT_FALSE(s->try_start());  // the loop skips cancelled work
  EXPECT_THROW(f.get(), rankpool::cancelled_error);
  s->set_payload(encoded(1));  // a late result does not un-cancel
  EXPECT_TRUE(f.cancelled());
}

TEST(future_state, exceptions_are_rethrown_by_get) {
  auto s = rd::make_state<void>();
  auto f = rd::future_access::make(s);
  s->set_exception(
      std::make_exception_ptr(rankpool::remote_error("boom", "std::runtime_error", 2, "h")));
  EXPECT_THROW(f.get(), rankpool::remote_error);
  EXPECT_NE(f.exception(), nullptr);
}

TEST(future_state, callbacks_run_once_whether_added_before_or_after) {
  auto s = rd::make_state<int>();
  auto f = rd::future_access::make(s);
  int before = 0, after = 0;
  f.add_done_callback([&](const rankpool::future<int>& done) { before += done.get(); });
  s->set_payload(encoded(5));
  s->set_payload(encoded(6));  // a duplicate result is ignored
  f.add_done_callback([&](const rankpool::future<int>& done) { after += done.get(); });
  EXPECT_EQ(before, 5);
  EXPECT_EQ(after, 5);
}

TEST(future_state, a_throwing_callback_does_not_stop_the_others) {
  auto s = rd::make_state<int>();
  auto f = rd::future_access::make(s);
  int ran = 0;
  f.add_done_callback([](const rankpool::future<int>&) { throw std::runtime_error("cb"); });
  f.add_done_callback([&](const rankpool::future<int>&) { ++ran; });
  s->set_payload(encoded(1));
  EXPECT_EQ(ran, 1);
}

TEST(future_state, undecodable_result_is_an_error_not_a_crash) {
  auto s = rd::make_state<std::string>();
  auto f = rd::future_access::make(s);
  // A string length within max_size() but beyond the 3 bytes that follow it:
  // rankpool's own length check must refuse it (its message, not a later error).
  std::string payload(8, '\0');
  payload[1] = '\x01';  // the length (u64, little-endian): 256 characters
  s->set_payload(payload + "abc");
  for (int attempt = 0; attempt < 2; ++attempt) {  // and stays an error
    try {
      f.get();
      ADD_FAILURE() << "an undecodable result must throw";
    } catch (const std::length_error& e) {
      EXPECT_NE(
          std::string(e.what()).find("a value claims 256 elements but its message holds fewer"),
          std::string::npos)
          << e.what();
    }
  }
}

TEST(future_state, empty_future_is_a_logic_error) {
  rankpool::future<int> f;
  EXPECT_FALSE(f.valid());
  EXPECT_THROW(f.get(), std::logic_error);
}

TEST(wait_functions, wait_and_as_completed_without_an_executor) {
  auto a = rd::make_state<int>();
  auto b = rd::make_state<int>();
  std::vector<rankpool::future<int>> fs{rd::future_access::make(a), rd::future_access::make(b)};
  auto r = rankpool::wait(fs, rankpool::return_when::first_completed, 5ms);
  EXPECT_TRUE(r.done.empty());
  EXPECT_EQ(r.not_done.size(), 2u);
  std::thread t([b] {
    std::this_thread::sleep_for(10ms);
    b->set_payload(encoded(2));
  });
  r = rankpool::wait(fs, rankpool::return_when::first_completed);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_EQ(r.done[0].get(), 2);
  t.join();
  // b is already done and comes first; a finishes while the loop waits.
  std::thread late([a] {
    std::this_thread::sleep_for(10ms);
    a->set_payload(encoded(1));
  });
  std::vector<int> order;
  for (const auto& f : rankpool::as_completed(fs)) order.push_back(f.get());
  late.join();
  EXPECT_EQ(order, (std::vector<int>{2, 1}));
}
