// map/starmap ordering and chunking, wait() and as_completed().
#include "mpi/test_calls.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <tuple>

using namespace std::chrono_literals;

TEST(collections, map_yields_results_in_input_order) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<int> inputs(257);
  for (int i = 0; i < 257; ++i) inputs[i] = i;
  for (std::size_t chunksize : {1u, 7u, 64u, 1000u}) {
    auto results = pool.map(calls::square, inputs, chunksize);
    ASSERT_EQ(results.size(), inputs.size());
    int i = 0;
    for (int r : results) {
      EXPECT_EQ(r, i * i) << "chunksize " << chunksize;
      ++i;
    }
    EXPECT_EQ(i, 257);
    EXPECT_EQ(results.chunk_count(), (inputs.size() + chunksize - 1) / chunksize);
  }
}

TEST(collections, cancelling_a_map_cancels_the_chunks_not_yet_sent) {
  rankpool::executor pool;
  if (!pool) return;
  // Calls that hold every worker's window (a local thread runs one at a
  // time) for a second: the map's chunks all wait on the root meanwhile.
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers() * rankpool::options{}.window; ++i) {
    busy.push_back(pool.submit(calls::sleep_ms, 1000));
  }
  const std::vector<int> inputs{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto results = pool.map(calls::square, inputs, 3);
  ASSERT_EQ(results.chunk_count(), 4u);
  EXPECT_EQ(results.cancel(), 4u);
  EXPECT_EQ(results.cancel(), 0u);  // nothing left to cancel
  EXPECT_THROW(results.get(), rankpool::cancelled_error);
  EXPECT_THROW((void)results.at(9), rankpool::cancelled_error);
  for (const auto& f : busy) EXPECT_EQ(f.get(), 1000);  // the pool goes on
  EXPECT_EQ(pool.map(calls::square, inputs, 3).get().back(), 100);
}

TEST(collections, map_of_function_objects_and_empty_input) {
  rankpool::executor pool;
  if (!pool) return;
  const std::vector<double> xs{1, 2, 3, 4, 5};
  EXPECT_EQ(pool.map(calls::scale{10}, xs, 2).get(), (std::vector<double>{10, 20, 30, 40, 50}));
  const auto empty = pool.map(calls::square, std::vector<int>{});
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.begin() == empty.end());
  EXPECT_THROW(pool.map(calls::square, xs, 0), std::invalid_argument);
}

TEST(collections, starmap_unpacks_tuples_and_pairs) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<std::tuple<double, double>> tuples{{1, 2}, {3, 4}, {5, 6}};
  EXPECT_EQ(pool.starmap(calls::add, tuples).get(), (std::vector<double>{3, 7, 11}));
  std::vector<std::pair<int, int>> pairs{{1, 9}, {2, 9}, {3, 9}};
  EXPECT_EQ(pool.starmap(calls::fail_on, pairs, 2).get(), (std::vector<int>{1, 2, 3}));
}

TEST(collections, map_rethrows_the_first_failure_when_reached) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<std::pair<int, int>> inputs;
  for (int i = 0; i < 20; ++i) inputs.emplace_back(i, 13);
  auto results = pool.starmap(calls::fail_on, inputs, 4);
  auto it = results.begin();
  for (int i = 0; i < 12; ++i, ++it) EXPECT_EQ(*it, i);  // chunk [12..15] holds the failure
  try {
    (void)*it;
    FAIL() << "the failed chunk must rethrow";
  } catch (const rankpool::remote_error& e) {
    EXPECT_STREQ(e.what(), "failed on 13");
  }
  EXPECT_EQ(results.at(16), 16);  // later chunks are unaffected
}

TEST(collections, wait_all_completed) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit(calls::sleep_ms, 5 * i));
  auto [done, not_done] = rankpool::wait(fs);
  EXPECT_EQ(done.size(), 10u);
  EXPECT_TRUE(not_done.empty());
  for (auto& f : fs) EXPECT_TRUE(f.done());
}

TEST(collections, wait_first_completed_and_timeout) {
  rankpool::executor pool;
  if (!pool) return;
  // The quick call first: with one worker the calls run in submission order.
  std::vector<rankpool::future<int>> fs{pool.submit(calls::sleep_ms, 1),
                                        pool.submit(calls::sleep_ms, 1500)};
  auto first = rankpool::wait(fs, rankpool::return_when::first_completed);
  ASSERT_EQ(first.done.size(), 1u);
  EXPECT_EQ(first.done.front().get(), 1);
  auto timed = rankpool::wait(fs, rankpool::return_when::all_completed, 10ms);
  EXPECT_EQ(timed.not_done.size(), 1u);
  EXPECT_EQ(timed.not_done.front(), fs[1]);
  EXPECT_EQ(rankpool::wait(fs).done.size(), 2u);
}

TEST(collections, wait_first_exception) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<rankpool::future<int>> fs{pool.submit(calls::throw_out_of_range, 1),
                                        pool.submit(calls::sleep_ms, 1500)};
  auto r = rankpool::wait(fs, rankpool::return_when::first_exception);
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_NE(r.done.front().exception(), nullptr);
  EXPECT_EQ(r.not_done.size(), 1u);
  // Without any failure, first_exception waits for all.
  std::vector<rankpool::future<int>> ok{pool.submit(calls::square, 2),
                                        pool.submit(calls::square, 3)};
  EXPECT_EQ(rankpool::wait(ok, rankpool::return_when::first_exception).done.size(), 2u);
}

TEST(collections, as_completed_yields_in_completion_order) {
  rankpool::options opts;
  opts.window = 1;  // one call per worker, so the two calls run side by side
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  if (pool.max_workers() < 2) GTEST_SKIP() << "needs two workers to finish out of order";
  std::vector<rankpool::future<int>> fs{pool.submit(calls::sleep_ms, 600),
                                        pool.submit(calls::sleep_ms, 1)};
  std::vector<int> order;
  for (const auto& f : rankpool::as_completed(fs)) order.push_back(f.get());
  EXPECT_EQ(order, (std::vector<int>{1, 600}));
}

TEST(collections, as_completed_yields_every_future_once) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(pool.submit(calls::square, i));
  fs.front().wait();  // some already finished, some not
  std::multiset<int> seen;
  for (const auto& f : rankpool::as_completed(fs)) seen.insert(f.get());
  EXPECT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen.count(i * i), 1u);
}

TEST(collections, as_completed_timeout_throws) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<rankpool::future<int>> fs{pool.submit(calls::sleep_ms, 1500)};
  EXPECT_THROW(
      {
        for (const auto& f : rankpool::as_completed(fs, 20ms)) (void)f;
      },
      rankpool::timeout_error);
  EXPECT_EQ(fs[0].get(), 1500);
}
