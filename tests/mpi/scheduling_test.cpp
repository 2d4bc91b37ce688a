// Calls of unequal length: dispatch serves idle workers first, and a
// worker's window opens only while its calls are short, so no call waits
// behind a long one while another worker could take it. Orderings and
// generous bounds only: no tight timings.
#include "mpi/test_calls.hpp"
#include "support/executor_access.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;

namespace {

// The call that ends first of two, as wait(first_completed) sees it.
template <class T>
bool finished_first(const rankpool::future<T>& first, const rankpool::future<T>& other) {
  const auto r = rankpool::wait(std::vector<rankpool::future<T>>{first, other},
                                rankpool::return_when::first_completed);
  return first.done() && !other.done() && r.done.size() == 1;
}

}  // namespace

TEST(scheduling, a_short_call_goes_to_an_idle_worker_not_behind_a_long_one) {
  rankpool::executor pool;  // the default window of 2
  if (!pool) return;
  if (pool.max_workers() < 2) GTEST_SKIP() << "needs two workers";
  const auto long_call = pool.submit(calls::sleep_ms, 3000);
  const auto short_call = pool.submit(calls::sleep_ms, 1);
  EXPECT_TRUE(finished_first(short_call, long_call));
  EXPECT_EQ(short_call.get(), 1);
  EXPECT_EQ(long_call.get(), 3000);
}

TEST(scheduling, short_calls_all_finish_on_other_workers_while_a_long_one_runs) {
  rankpool::executor pool;
  if (!pool) return;
  if (pool.max_workers() < 2) GTEST_SKIP() << "needs two workers";
  const auto long_call = pool.submit(calls::sleep_ms, 3000);
  std::vector<rankpool::future<int>> short_calls;
  for (int i = 0; i < 20; ++i) short_calls.push_back(pool.submit(calls::sleep_ms, 5));
  for (const auto& f : short_calls) EXPECT_EQ(f.get(), 5);
  // 20 calls of 5 ms on the other workers take well under the long call's 3 s.
  EXPECT_FALSE(long_call.done()) << "a short call waited behind the long one";
  EXPECT_EQ(long_call.get(), 3000);
}

TEST(scheduling, a_call_behind_a_long_running_one_stays_on_the_root_and_can_be_cancelled) {
  rankpool::executor pool;
  if (!pool) return;
  if (pool.max_workers() != 1 || pool.comm().size() == 1) {
    GTEST_SKIP() << "one worker rank shows where the second call waits";
  }
  const auto long_call = pool.submit(calls::sleep_ms, 1500);
  ASSERT_TRUE(test_support::becomes_running(long_call));
  std::this_thread::sleep_for(100ms);  // past the adaptive window's threshold (20 ms here)
  const auto next = pool.submit(calls::sleep_ms, 1);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(next.running()) << "sent into the window of a worker busy with a long call";
  EXPECT_TRUE(next.cancel());
  EXPECT_EQ(long_call.get(), 1500);
}

TEST(scheduling, short_calls_open_the_window_for_throughput) {
  rankpool::executor pool;
  if (!pool) return;
  if (pool.comm().size() == 1) GTEST_SKIP() << "local threads take one call at a time";
  std::vector<rankpool::future<int>> fs;
  for (int round = 0; round < 20 && rankpool::detail::executor_access::deepest_window(pool) < 2;
       ++round) {
    fs.clear();
    for (int i = 0; i < 2000; ++i) fs.push_back(pool.submit(calls::square, i));
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(fs[static_cast<std::size_t>(i)].get(), i * i);
  }
  EXPECT_EQ(rankpool::detail::executor_access::deepest_window(pool), 2u)
      << "short calls never had a second call in flight on a worker";
}

TEST(scheduling, the_window_never_exceeds_options_window) {
  rankpool::options opts;
  opts.window = 3;
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 5000; ++i) fs.push_back(pool.submit(calls::square, i));
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(fs[static_cast<std::size_t>(i)].get(), i * i);
  EXPECT_LE(rankpool::detail::executor_access::deepest_window(pool), 3u);
}
