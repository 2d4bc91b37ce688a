// submit/get, errors, cancellation and shutdown, at 1 rank (local threads)
// and with MPI workers.
#include "mpi/test_calls.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace std::chrono_literals;

namespace {

// A pool whose every worker slot can be filled with a known number of calls.
rankpool::options one_slot_per_worker() {
  rankpool::options opts;
  opts.window = 1;
  opts.local_workers = 1;
  return opts;
}

}  // namespace

TEST(executor, many_calls_return_their_own_results) {
  rankpool::executor pool;
  if (!pool) return;
  EXPECT_TRUE(pool.is_root());
  EXPECT_GE(pool.max_workers(), 1);
  std::vector<rankpool::future<int>> futures;
  for (int i = 0; i < 2000; ++i) futures.push_back(pool.submit(calls::square, i));
  for (int i = 0; i < 2000; ++i) EXPECT_EQ(futures[i].get(), i * i);
  EXPECT_TRUE(futures[0].done());
  EXPECT_FALSE(futures[0].cancelled());
  EXPECT_EQ(futures[0].exception(), nullptr);
}

TEST(executor, arguments_convert_to_parameter_types) {
  rankpool::executor pool;
  if (!pool) return;
  EXPECT_DOUBLE_EQ(pool.submit(calls::add, 1, 2.5f).get(), 3.5);     // int, float -> double
  EXPECT_EQ(pool.submit(calls::greet, "rank").get(), "hello rank");  // const char* -> std::string
  EXPECT_DOUBLE_EQ(pool.submit(calls::sum, std::vector<double>{1, 2, 3.5}).get(), 6.5);
  pool.submit(calls::noop).get();  // void results work too
}

TEST(executor, function_objects_carry_their_state) {
  rankpool::executor pool;
  if (!pool) return;
  EXPECT_DOUBLE_EQ(pool.submit(calls::scale{3.0}, 2.0).get(), 6.0);
  EXPECT_DOUBLE_EQ(pool.submit(calls::scale{-0.5}, 4.0).get(), -2.0);
}

TEST(executor, exceptions_arrive_as_remote_errors_with_origin) {
  rankpool::executor pool;
  if (!pool) return;
  auto f = pool.submit(calls::throw_out_of_range, 7);
  try {
    f.get();
    FAIL() << "get() should rethrow";
  } catch (const rankpool::remote_error& e) {
    EXPECT_STREQ(e.what(), "index 7 out of range");
    EXPECT_EQ(e.type_name(), "std::out_of_range");
    EXPECT_FALSE(e.host().empty());
    if (pool.comm().size() > 1) {
      EXPECT_NE(e.rank(), pool.comm().rank());
      EXPECT_GE(e.rank(), 0);
      EXPECT_LT(e.rank(), pool.comm().size());
    }
  }
  EXPECT_NE(f.exception(), nullptr);
  // The worker keeps serving after a failure.
  EXPECT_EQ(pool.submit(calls::square, 5).get(), 25);
}

TEST(executor, non_standard_exceptions_are_reported_with_their_type) {
  rankpool::executor pool;
  if (!pool) return;
  try {
    pool.submit(calls::throw_int, 42).get();
    FAIL() << "get() should rethrow";
  } catch (const rankpool::remote_error& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_NE(std::string(e.what()).find("'calls::throw_int' threw a non-standard exception"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(pool.submit(calls::square, 5).get(), 25);  // the worker keeps serving
}

TEST(executor, argument_and_result_serialization_failures_fail_only_that_call) {
  rankpool::executor pool;
  if (!pool) return;
  try {
    pool.submit(calls::take_unloadable, calls::unloadable{3}).get();
    FAIL() << "decoding the argument should fail on the worker";
  } catch (const rankpool::remote_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("could not decode the arguments of 'calls::take_unloadable'"),
        std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("unloadable cannot be loaded"), std::string::npos);
  }
  try {
    pool.submit(calls::make_unsavable, 3).get();
    FAIL() << "encoding the result should fail on the worker";
  } catch (const rankpool::remote_error& e) {
    EXPECT_NE(
        std::string(e.what()).find("could not serialize the result of 'calls::make_unsavable'"),
        std::string::npos)
        << e.what();
  }
  EXPECT_EQ(pool.submit(calls::square, 6).get(), 36);
}

int never_registered(int x) {
  return x;
}

TEST(executor, unregistered_callables_are_rejected_at_submit) {
  rankpool::executor pool;
  if (!pool) return;
  try {
    pool.submit(never_registered, 1);
    FAIL() << "submit() of an unregistered callable must throw";
  } catch (const std::invalid_argument& e) {
    // A function pointer carries no name: the message names the fix instead.
    EXPECT_NE(std::string(e.what()).find("was never registered; add RANKPOOL_REGISTER(function)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(pool.submit(calls::square, 5).get(), 25);  // nothing was queued; the pool serves
}

TEST(executor, submit_after_shutdown_throws) {
  rankpool::executor pool;
  if (!pool) return;
  auto f = pool.submit(calls::square, 3);
  pool.shutdown();
  EXPECT_EQ(f.get(), 9);  // calls submitted before shutdown still run
  EXPECT_THROW(pool.submit(calls::square, 4), std::runtime_error);
  pool.shutdown();  // a second shutdown is harmless
}

TEST(executor, queued_calls_can_be_cancelled_running_ones_cannot) {
  rankpool::executor pool(boost::mpi::communicator(), one_slot_per_worker());
  if (!pool) return;
  // Fill every worker slot with a slow call, then queue one more behind them.
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers(); ++i) busy.push_back(pool.submit(calls::sleep_ms, 300));
  for (auto& f : busy) ASSERT_TRUE(test_support::becomes_running(f));
  auto queued = pool.submit(calls::square, 9);
  EXPECT_FALSE(queued.running());
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancel());  // still true once cancelled
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.done());
  EXPECT_THROW(queued.get(), rankpool::cancelled_error);
  EXPECT_THROW(queued.exception(), rankpool::cancelled_error);
  EXPECT_FALSE(busy[0].cancel());
  EXPECT_FALSE(busy[0].cancelled());
  for (auto& f : busy) EXPECT_EQ(f.get(), 300);
  EXPECT_FALSE(busy[0].cancel());  // finished calls cannot be cancelled either
}

TEST(executor, shutdown_with_cancel_futures_notifies_waiters) {
  rankpool::executor pool(boost::mpi::communicator(), one_slot_per_worker());
  if (!pool) return;
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers(); ++i) busy.push_back(pool.submit(calls::sleep_ms, 200));
  for (auto& f : busy) ASSERT_TRUE(test_support::becomes_running(f));
  std::vector<rankpool::future<int>> queued;
  for (int i = 0; i < 20; ++i) queued.push_back(pool.submit(calls::square, i));
  // A thread already blocked on a queued future must be released by the shutdown.
  std::atomic<bool> released{false};
  std::thread waiter([&] {
    EXPECT_THROW(queued.back().get(), rankpool::cancelled_error);
    released = true;
  });
  std::this_thread::sleep_for(20ms);
  pool.shutdown(true, true);
  waiter.join();
  EXPECT_TRUE(released);
  for (auto& f : queued) EXPECT_TRUE(f.cancelled());
  for (auto& f : busy) EXPECT_EQ(f.get(), 200);  // running calls finish normally
}

TEST(executor, shutdown_without_wait_returns_before_calls_finish) {
  rankpool::executor pool(boost::mpi::communicator(), one_slot_per_worker());
  if (!pool) return;
  auto slow = pool.submit(calls::sleep_ms, 300);
  ASSERT_TRUE(test_support::becomes_running(slow));
  const auto start = std::chrono::steady_clock::now();
  pool.shutdown(false);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 250ms);
  EXPECT_EQ(slow.get(), 300);
}

TEST(executor, wait_for_times_out_then_succeeds) {
  rankpool::executor pool;
  if (!pool) return;
  auto f = pool.submit(calls::sleep_ms, 300);
  EXPECT_EQ(f.wait_for(1ms), std::future_status::timeout);
  EXPECT_FALSE(f.done());
  EXPECT_EQ(f.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(f.wait_until(std::chrono::system_clock::now()), std::future_status::ready);
  EXPECT_EQ(f.get(), 300);
}

TEST(executor, done_callbacks_run_exactly_once) {
  rankpool::executor pool;
  if (!pool) return;
  std::atomic<int> calls_seen{0};
  std::atomic<int> value_seen{0};
  auto f = pool.submit(calls::sleep_ms, 50);
  f.add_done_callback([&](const rankpool::future<int>& done) {
    value_seen = done.get();
    ++calls_seen;
  });
  f.wait();
  // Already finished: the callback runs at once, on this thread.
  f.add_done_callback([&](const rankpool::future<int>&) { ++calls_seen; });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (calls_seen < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls_seen, 2);
  EXPECT_EQ(value_seen, 50);
}

TEST(executor, callbacks_may_submit_more_work) {
  rankpool::executor pool;
  if (!pool) return;
  std::mutex m;
  std::condition_variable cv;
  std::optional<rankpool::future<int>> second;
  pool.submit(calls::square, 3).add_done_callback([&](const rankpool::future<int>& first) {
    auto next = pool.submit(calls::square, first.get());
    std::lock_guard<std::mutex> lock(m);
    second = next;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(m);
  ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return second.has_value(); }));
  EXPECT_EQ(second->get(), 81);
}

TEST(executor, submit_from_several_threads) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<rankpool::future<int>> fs;
      for (int i = 0; i < 300; ++i) fs.push_back(pool.submit(calls::square, t * 1000 + i));
      for (int i = 0; i < 300; ++i) {
        if (fs[i].get() != (t * 1000 + i) * (t * 1000 + i)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

TEST(executor, dropped_futures_and_destruction_with_calls_in_flight) {
  for (int round = 0; round < 3; ++round) {
    rankpool::executor pool;
    if (!pool) continue;
    for (int i = 0; i < 50; ++i) pool.submit(calls::sleep_ms, 1);  // futures dropped at once
  }  // the destructor waits for the calls and releases the workers
}

TEST(executor, initializer_runs_on_every_worker_before_calls) {
  rankpool::options opts;
  opts.initializer = rankpool::initializer(calls::set_offset, 1000);
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 40; ++i) fs.push_back(pool.submit(calls::add_offset, i));
  for (int i = 0; i < 40; ++i) EXPECT_EQ(fs[i].get(), 1000 + i);
}

TEST(executor, failing_initializer_breaks_the_pool) {
  rankpool::options opts;
  opts.initializer = rankpool::initializer(calls::failing_initializer);
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  try {
    pool.submit(calls::square, 2).get();
    FAIL() << "a call on a broken pool must fail";
  } catch (const rankpool::broken_executor& e) {
    EXPECT_NE(std::string(e.what()).find("no license file"), std::string::npos) << e.what();
  }
  // Later submits fail fast (or their futures fail) with broken_executor.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool failed_fast = false;
  while (!failed_fast && std::chrono::steady_clock::now() < deadline) {
    try {
      pool.submit(calls::square, 2).get();
    } catch (const rankpool::broken_executor&) {
      failed_fast = true;
    }
  }
  EXPECT_TRUE(failed_fast);
}
