// executor::stats(): the counts match the calls made, per pool and per worker;
// the table at shutdown (options::print_stats).
#include "mpi/test_calls.hpp"

#include <gtest/gtest.h>

#include <numeric>

TEST(stats, counts_match_the_calls_made) {
  rankpool::executor pool;
  if (!pool) return;
  const int busy_count = pool.max_workers() * rankpool::options{}.window;
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < busy_count; ++i) busy.push_back(pool.submit(calls::sleep_ms, 200));
  std::vector<rankpool::future<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit(calls::square, i));
  const auto waiting = pool.stats();
  EXPECT_GE(waiting.pending, 5u);
  EXPECT_LE(waiting.pending, 5u + static_cast<unsigned>(busy_count));
  EXPECT_EQ(waiting.submitted, static_cast<std::uint64_t>(busy_count + 5));
  // Two of the queued calls cancelled while they wait.
  EXPECT_TRUE(queued[3].cancel());
  EXPECT_TRUE(queued[4].cancel());
  for (int i = 0; i < 7; ++i) (void)pool.submit(calls::fail_on, i, i).exception();
  const std::vector<char> megabyte(1 << 20, 'x');
  EXPECT_EQ(pool.submit(calls::byte_count, megabyte).get(), megabyte.size());
  const auto mapped = pool.map(calls::square, std::vector<int>(100, 3), 10).get();
  EXPECT_EQ(mapped.size(), 100u);
  for (auto& f : busy) f.get();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(queued[i].get(), i * i);

  const auto s = pool.stats();
  // busy + 5 queued + 7 failing + 1 large + 10 map chunks
  EXPECT_EQ(s.submitted, static_cast<std::uint64_t>(busy_count + 5 + 7 + 1 + 10));
  EXPECT_EQ(s.completed, static_cast<std::uint64_t>(busy_count + 3 + 1 + 10));
  EXPECT_EQ(s.failed, 7u);
  EXPECT_EQ(s.cancelled, 2u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_GT(s.queue_wait.max, 0.1);  // the queued calls waited behind 200 ms calls
  EXPECT_LE(s.queue_wait.mean, s.queue_wait.max);

  ASSERT_EQ(s.workers.size(), static_cast<std::size_t>(pool.max_workers()));
  std::uint64_t calls = 0, failed = 0, bytes_in = 0, bytes_out = 0;
  double busy_seconds = 0;
  for (const auto& w : s.workers) {
    EXPECT_FALSE(w.host.empty());
    if (pool.comm().size() > 1) {
      EXPECT_NE(w.rank, pool.comm().rank());
      EXPECT_GE(w.rank, 0);
      EXPECT_LT(w.rank, pool.comm().size());
    }
    calls += w.calls;
    failed += w.failed;
    busy_seconds += w.busy_seconds;
    bytes_in += w.bytes_in;
    bytes_out += w.bytes_out;
  }
  EXPECT_EQ(calls, s.completed + s.failed);  // every call that ran, on exactly one worker
  EXPECT_EQ(failed, 7u);
  EXPECT_GE(busy_seconds, 0.2 * busy_count * 0.95);
  if (pool.comm().size() > 1) {
    EXPECT_GE(bytes_in, megabyte.size());  // the megabyte went out as an argument
    EXPECT_GT(bytes_out, 0u);
  } else {
    EXPECT_EQ(bytes_in, 0u);
  }
}

TEST(stats, the_table_is_printed_at_shutdown_when_asked) {
  rankpool::options opts;
  opts.print_stats = true;
  testing::internal::CaptureStderr();
  {
    rankpool::executor pool(boost::mpi::communicator(), opts);
    if (!pool) {
      testing::internal::GetCapturedStderr();
      return;
    }
    for (int i = 0; i < 3; ++i) pool.submit(calls::square, i).get();
  }
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("rankpool: pool statistics at shutdown"), std::string::npos) << err;
  EXPECT_NE(err.find("calls: 3 submitted, 3 completed, 0 failed, 0 cancelled, 0 pending"),
            std::string::npos)
      << err;
}

TEST(stats, stats_on_a_worker_rank_throw) {
  rankpool::executor pool;
  if (pool) {
    EXPECT_EQ(pool.stats().submitted, 0u);
    return;
  }
  EXPECT_THROW(pool.stats(), std::runtime_error);
}
