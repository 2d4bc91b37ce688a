// Below MPI_THREAD_MULTIPLE there is no background thread: the executor
// makes progress inside submit, get, wait and as_completed. (This binary
// initialises MPI with MPI_THREAD_FUNNELED.)
#include "mpi/test_calls.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

using namespace std::chrono_literals;

TEST(no_background_thread, submit_get_and_errors) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 500; ++i) fs.push_back(pool.submit(calls::square, i));
  for (int i = 0; i < 500; ++i) EXPECT_EQ(fs[i].get(), i * i);
  EXPECT_THROW(pool.submit(calls::throw_out_of_range, 1).get(), rankpool::remote_error);
}

TEST(no_background_thread, map_wait_and_as_completed) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<int> xs(100);
  for (int i = 0; i < 100; ++i) xs[i] = i;
  const auto squares = pool.map(calls::square, xs, 8).get();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(squares[i], i * i);
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 20; ++i) fs.push_back(pool.submit(calls::sleep_ms, i % 3));
  const auto all = rankpool::wait(fs);
  EXPECT_EQ(all.done.size(), 20u);
  EXPECT_TRUE(all.not_done.empty());
  int total = 0;
  for (const auto& f : all.done) total += f.get();
  EXPECT_EQ(total, 19);  // 0+1+2 six times, then 0 and 1
  std::vector<rankpool::future<int>> more;
  for (int i = 0; i < 20; ++i) more.push_back(pool.submit(calls::square, i));
  std::vector<int> seen;
  for (const auto& f : rankpool::as_completed(more)) {
    EXPECT_TRUE(f.done());
    seen.push_back(f.get());
  }
  std::sort(seen.begin(), seen.end());
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(i * i);
  EXPECT_EQ(seen, expected);  // each future once, with its own value
}

TEST(no_background_thread, wait_for_and_cancel_while_queued) {
  rankpool::options opts;
  opts.window = 1;
  opts.local_workers = 1;
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers(); ++i) busy.push_back(pool.submit(calls::sleep_ms, 200));
  auto queued = pool.submit(calls::square, 3);
  EXPECT_EQ(busy[0].wait_for(1ms), std::future_status::timeout);
  EXPECT_TRUE(queued.cancel());
  for (auto& f : busy) EXPECT_EQ(f.get(), 200);
  EXPECT_THROW(queued.get(), rankpool::cancelled_error);
}

TEST(no_background_thread, shutdown_finishes_calls_in_flight) {
  rankpool::executor pool;
  if (!pool) return;
  auto f = pool.submit(calls::sleep_ms, 50);
  pool.shutdown();
  EXPECT_TRUE(f.done());
  EXPECT_EQ(f.get(), 50);
}
