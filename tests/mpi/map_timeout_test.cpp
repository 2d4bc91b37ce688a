// map()/starmap() with a time limit, as Python's Executor.map(timeout=...):
// ported from CPython's test_map_timeout and mpi4py's test_map_timeout_one,
// plus what the C++ API adds (at(), get(), done(), wait_for()).
#include "mpi/test_calls.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <thread>
#include <tuple>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Calls that keep every worker busy for `ms` (each worker's first call runs
// alone in its window, and a local thread runs one call at a time), so the
// calls submitted after them wait on the root, not yet started.
std::vector<rankpool::future<int>> hold_workers(rankpool::executor& pool, int ms) {
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers() * rankpool::options{}.window; ++i) {
    busy.push_back(pool.submit(calls::sleep_ms, ms));
  }
  return busy;
}

}  // namespace

// CPython: map(time.sleep, [0, 0, 1], timeout=0.25) yields two results, then
// raises TimeoutError.
TEST(map_timeout, a_late_result_raises_timeout_error_after_the_ones_in_time) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<int> results;
  auto squares = pool.map(calls::sleep_ms, std::vector<int>{0, 0, 3000}, 1, 1s);
  try {
    for (int r : squares) results.push_back(r);
    ADD_FAILURE() << "expected rankpool::timeout_error";
  } catch (const rankpool::timeout_error& e) {
    EXPECT_NE(std::string(e.what()).find("result 2 of 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(results, (std::vector<int>{0, 0}));
}

// mpi4py: map(time.sleep, [0, 0, 0], timeout=1) yields every result.
TEST(map_timeout, results_in_time_are_all_yielded) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<int> results;
  for (int r : pool.map(calls::sleep_ms, std::vector<int>{0, 0, 0}, 1, 30s)) results.push_back(r);
  EXPECT_EQ(results, (std::vector<int>{0, 0, 0}));
  const std::vector<std::tuple<double, double>> pairs{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.starmap(calls::add, pairs, 2, 30s).get(), (std::vector<double>{3, 7, 11}));
}

// When the timeout passes, the calls not yet started are cancelled: here every
// chunk, since the workers are busy until long after it.
TEST(map_timeout, the_timeout_cancels_the_calls_not_yet_started) {
  rankpool::executor pool;
  if (!pool) return;
  auto busy = hold_workers(pool, 1500);
  const std::vector<int> inputs{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto squares = pool.map(calls::square, inputs, 3, 200ms);
  ASSERT_EQ(squares.chunk_count(), 4u);
  EXPECT_THROW((void)squares.at(0), rankpool::timeout_error);
  EXPECT_TRUE(squares.done());      // all cancelled by the timeout...
  EXPECT_EQ(squares.cancel(), 0u);  // ...so nothing is left to cancel
  EXPECT_THROW((void)squares.at(9), rankpool::cancelled_error);
  for (const auto& f : busy) EXPECT_EQ(f.get(), 1500);  // the pool goes on
  EXPECT_EQ(pool.map(calls::square, inputs, 3, 30s).get().back(), 100);
}

TEST(map_timeout, get_and_starmap_raise_it_too) {
  rankpool::executor pool;
  if (!pool) return;
  auto busy = hold_workers(pool, 1000);
  const std::vector<std::tuple<double, double>> pairs{{1, 2}, {3, 4}};
  auto sums = pool.starmap(calls::add, pairs, 1, 100ms);
  EXPECT_THROW(sums.get(), rankpool::timeout_error);
  EXPECT_THROW(pool.map(calls::square, std::vector<int>{1, 2}, 1, 0s).get(),
               rankpool::timeout_error);
  for (const auto& f : busy) f.wait();
}

TEST(map_timeout, results_that_arrived_in_time_are_read_after_the_deadline) {
  rankpool::executor pool;
  if (!pool) return;
  auto squares = pool.map(calls::square, std::vector<int>{2, 3}, 1, 300ms);
  ASSERT_EQ(squares.wait_for(30s), std::future_status::ready);
  std::this_thread::sleep_for(400ms);  // time passing, not synchronisation: past the deadline
  EXPECT_EQ(squares.at(1), 9);
  EXPECT_EQ(squares.get(), (std::vector<int>{4, 9}));
}

TEST(map_timeout, wait_for_and_done_as_on_a_future) {
  rankpool::executor pool;
  if (!pool) return;
  auto sleeps = pool.map(calls::sleep_ms, std::vector<int>{500, 500}, 1);
  EXPECT_FALSE(sleeps.done());
  EXPECT_EQ(sleeps.wait_for(1ms), std::future_status::timeout);
  EXPECT_EQ(sleeps.wait_for(60s), std::future_status::ready);
  EXPECT_TRUE(sleeps.done());
  EXPECT_EQ(sleeps.get(), (std::vector<int>{500, 500}));
  // wait_for() cancels nothing, unlike a map's own timeout.
  auto busy = hold_workers(pool, 500);
  auto later = pool.map(calls::square, std::vector<int>{4}, 1);
  EXPECT_EQ(later.wait_for(1ms), std::future_status::timeout);
  EXPECT_EQ(later.get(), (std::vector<int>{16}));
  for (const auto& f : busy) f.wait();
}

TEST(map_timeout, a_timeout_that_is_not_a_number_is_refused) {
  rankpool::executor pool;
  if (!pool) return;
  const std::chrono::duration<double> nan(std::numeric_limits<double>::quiet_NaN());
  EXPECT_THROW(pool.map(calls::square, std::vector<int>{1}, 1, nan), std::invalid_argument);
  // A limit past any clock's range is no limit.
  const std::chrono::duration<double> forever(std::numeric_limits<double>::infinity());
  EXPECT_EQ(pool.map(calls::square, std::vector<int>{1, 2}, 1, forever).get(),
            (std::vector<int>{1, 4}));
}
