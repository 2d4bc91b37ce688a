// then(), when_all(), when_any(), and two concurrent.futures semantics: a
// done callback added to a finished future reports its exception rather
// than throwing, and wait()/as_completed() take each distinct future once.
#include "mpi/test_calls.hpp"
#include "support/proc_stats.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

using namespace std::chrono_literals;


TEST(continuations, callback_on_a_finished_future_reports_and_does_not_throw) {
  rankpool::executor pool;
  if (!pool) return;
  auto f = pool.submit(calls::square, 3);
  f.wait();
  bool ran_next = false;
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(f.add_done_callback(
      [](const rankpool::future<int>&) { throw std::runtime_error("callback failed"); }));
  f.add_done_callback([&](const rankpool::future<int>&) { ran_next = true; });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("a done callback threw: callback failed"), std::string::npos) << err;
  EXPECT_TRUE(ran_next);
  EXPECT_EQ(f.get(), 9);
}

TEST(continuations, as_completed_and_wait_take_each_distinct_future_once) {
  rankpool::executor pool;
  if (!pool) return;
  auto f = pool.submit(calls::square, 2);
  auto g = pool.submit(calls::square, 3);
  int yielded = 0;
  for (const auto& done : rankpool::as_completed(std::vector{f, f, g, f})) {
    EXPECT_TRUE(done == f || done == g);
    ++yielded;
  }
  EXPECT_EQ(yielded, 2);
  const auto result = rankpool::wait(std::vector{f, g, f, g});
  EXPECT_EQ(result.done.size(), 2u);
  EXPECT_TRUE(result.not_done.empty());
  auto slow = pool.submit(calls::sleep_ms, 300);
  const auto partial =
      rankpool::wait(std::vector{slow, slow}, rankpool::return_when::all_completed, 10ms);
  EXPECT_EQ(partial.not_done.size(), 1u);
  EXPECT_EQ(slow.get(), 300);
}

TEST(continuations, then_on_the_root_passes_values_errors_and_cancellation) {
  rankpool::executor pool;
  if (!pool) return;
  auto g = pool.submit(calls::square, 4).then([](rankpool::future<int> done) {
    return std::to_string(done.get());
  });
  EXPECT_EQ(g.get(), "16");

  std::atomic<bool> ran{false};
  auto failed = pool.submit(calls::fail_on, 1, 1).then([&](rankpool::future<int>) {
    ran = true;
    return 0;
  });
  EXPECT_THROW(failed.get(), rankpool::remote_error);
  EXPECT_FALSE(ran);

  // A continuation's own exception becomes its future's.
  auto thrown = pool.submit(calls::square, 2).then([](rankpool::future<int>) -> int {
    throw std::domain_error("continuation failed");
  });
  EXPECT_THROW(thrown.get(), std::domain_error);

  // void on either side.
  std::atomic<int> seen{0};
  auto v = pool.submit(calls::square, 5).then([&](rankpool::future<int> d) { seen = d.get(); });
  v.get();
  EXPECT_EQ(seen, 25);
  EXPECT_EQ(pool.submit(calls::noop).then([](rankpool::future<void>) { return 7; }).get(), 7);

  // Cancellation passes on: a call cancelled while it waits cancels its continuation.
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers() * rankpool::options{}.window; ++i) {
    busy.push_back(pool.submit(calls::sleep_ms, 300));
  }
  auto queued = pool.submit(calls::square, 6);
  auto after = queued.then([&](rankpool::future<int>) {
    ran = true;
    return 0;
  });
  ASSERT_TRUE(queued.cancel());
  EXPECT_TRUE(after.cancelled());
  EXPECT_THROW(after.get(), rankpool::cancelled_error);
  EXPECT_FALSE(ran);
  for (auto& b : busy) b.get();
}

TEST(continuations, then_on_the_pool_submits_once_the_call_has_ended) {
  rankpool::executor pool;
  if (!pool) return;
  auto h = pool.submit(calls::square, 3).then(pool, calls::increment);
  EXPECT_EQ(h.get(), 10);
  // A failure is passed on without submitting the next call.
  auto failed = pool.submit(calls::fail_on, 2, 2).then(pool, calls::increment);
  EXPECT_THROW(failed.get(), rankpool::remote_error);
  // Its own failure on a worker.
  auto bad = pool.submit(calls::square, 2).then(pool, calls::throw_out_of_range);
  EXPECT_THROW(bad.get(), rankpool::remote_error);
  // After a call without a result, a callable without parameters.
  // It runs on a worker: another rank than the root's, or the root's own
  // process with local threads.
  const int root_rank = boost::mpi::communicator().rank();
  const int ran_on = pool.submit(calls::noop).then(pool, calls::world_rank).get();
  if (pool.comm().size() > 1) {
    EXPECT_NE(ran_on, root_rank);
    EXPECT_GE(ran_on, 0);
  } else {
    EXPECT_EQ(ran_on, root_rank);
  }
}

TEST(continuations, a_chain_of_1000_pool_steps_takes_no_thread_and_no_stack) {
  rankpool::executor pool;
  if (!pool) return;
  const int threads_before = proc_stats::thread_count();
  auto f = pool.submit(calls::increment, 0);
  for (int i = 0; i < 999; ++i) f = f.then(pool, calls::increment);
  EXPECT_LE(proc_stats::thread_count(), threads_before);
  EXPECT_EQ(f.get(), 1000);
  EXPECT_LE(proc_stats::thread_count(), threads_before);
}

TEST(continuations, a_long_chain_on_the_root_runs_in_constant_stack) {
  rankpool::executor pool;
  if (!pool) return;
  // 200,000 links, all waiting on one call: were each link run inside the
  // one before, they would need far more than a thread's 8 MiB of stack.
  auto start = pool.submit(calls::sleep_ms, 50);
  auto f = start.then([](rankpool::future<int> d) { return d.get(); });
  for (int i = 0; i < 200000; ++i) {
    f = f.then([](rankpool::future<int> d) { return d.get() + 1; });
  }
  EXPECT_EQ(f.get(), 200050);
}

TEST(continuations, when_all_gathers_every_outcome_without_rethrowing) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit(calls::fail_on, i, 7));
  auto all = rankpool::when_all(fs);
  const auto& done = all.get();
  ASSERT_EQ(done.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(done[i] == fs[i]);
    EXPECT_TRUE(done[i].done());
    if (i == 7) {
      EXPECT_THROW(done[i].get(), rankpool::remote_error);
    } else {
      EXPECT_EQ(done[i].get(), i);
    }
  }
  EXPECT_TRUE(rankpool::when_all(std::vector<rankpool::future<int>>{}).get().empty());
}

TEST(continuations, when_any_holds_the_first_to_end) {
  rankpool::executor pool;
  if (!pool) return;
  if (pool.max_workers() < 2) GTEST_SKIP() << "needs two workers to finish out of order";
  auto slow = pool.submit(calls::sleep_ms, 2000);
  ASSERT_TRUE(test_support::becomes_running(slow));
  auto quick = pool.submit(calls::sleep_ms, 1);
  auto any = rankpool::when_any(std::vector{slow, quick});
  const auto& first = any.get();
  EXPECT_EQ(first.index, 1u);
  ASSERT_EQ(first.futures.size(), 2u);
  EXPECT_EQ(first.futures[first.index].get(), 1);
  EXPECT_FALSE(slow.done());
  const auto none = rankpool::when_any(std::vector<rankpool::future<int>>{}).get();
  EXPECT_EQ(none.index, static_cast<std::size_t>(-1));
  EXPECT_EQ(slow.get(), 2000);
}

TEST(continuations, cancelling_a_continuation_before_its_call_ends_stops_it) {
  rankpool::executor pool;
  if (!pool) return;
  std::atomic<bool> ran{false};
  auto f = pool.submit(calls::sleep_ms, 100);
  auto g = f.then([&](rankpool::future<int>) {
    ran = true;
    return 1;
  });
  auto h = f.then(pool, calls::increment);
  EXPECT_TRUE(g.cancel());
  EXPECT_TRUE(h.cancel());
  EXPECT_EQ(f.get(), 100);
  EXPECT_TRUE(g.cancelled());
  EXPECT_TRUE(h.cancelled());
  EXPECT_FALSE(ran);
}
