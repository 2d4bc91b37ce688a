// submit/get, errors, cancellation and shutdown, at 1 rank (local threads)
// and with MPI workers.
#include "mpi/test_calls.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace gates {

// A call that stays running until the test opens its gate (creates the file
// `path`; ranks share a file system, hosts in tests/multihost too), then
// returns `value`. Bounded: -1 if the gate stays shut for 30 s.
int wait_for_file(std::string path, int value) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (::access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(1ms);
  }
  return value;
}

}  // namespace gates

RANKPOOL_REGISTER(gates::wait_for_file);

namespace {

// A pool whose every worker slot can be filled with a known number of calls.
rankpool::options one_slot_per_worker() {
  rankpool::options opts;
  opts.window = 1;
  opts.local_workers = 1;
  return opts;
}

// The gate of gates::wait_for_file calls, made on the root; shut until open().
class file_gate {
 public:
  file_gate()
      : path_("/tmp/rankpool-executor-test-gate-" + std::to_string(::getpid()) + "-" +
              std::to_string(next_id()++)) {}
  file_gate(const file_gate&) = delete;
  file_gate& operator=(const file_gate&) = delete;
  ~file_gate() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  void open() const { std::ofstream(path_) << "open\n"; }

 private:
  static int& next_id() {
    static int id = 0;
    return id;
  }
  std::string path_;
};

// Waits (bounded, 10 s) until the thread `tid` of this process sleeps in the
// kernel (state S in /proc): a thread that has announced it is about to block
// in a wait is then blocked in it.
bool thread_sleeps(pid_t tid) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  const std::string stat = "/proc/self/task/" + std::to_string(tid) + "/stat";
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(stat);
    std::string line;
    std::getline(in, line);
    const auto paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'S') {
      return true;
    }
    std::this_thread::sleep_for(1ms);
  }
  return false;
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
  // Every worker slot holds a call that runs until the gate opens, so the
  // queued calls stay queued for as long as the test needs.
  file_gate gate;
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers(); ++i) {
    busy.push_back(pool.submit(gates::wait_for_file, gate.path(), 200));
  }
  for (auto& f : busy) ASSERT_TRUE(test_support::becomes_running(f));
  std::vector<rankpool::future<int>> queued;
  for (int i = 0; i < 20; ++i) queued.push_back(pool.submit(calls::square, i));
  // A thread already blocked on a queued future must be released by the
  // shutdown: it waits at most 30 s, so a release that never comes fails the
  // test instead of hanging it.
  std::atomic<pid_t> waiter_tid{0};
  std::atomic<bool> released{false};
  std::future_status seen = std::future_status::deferred;
  std::thread waiter([&] {
    waiter_tid = ::gettid();
    seen = queued.back().wait_for(30s);
    released = true;
  });
  const auto started_by = std::chrono::steady_clock::now() + 10s;
  while (waiter_tid == 0 && std::chrono::steady_clock::now() < started_by) {
    std::this_thread::yield();
  }
  // EXPECT, not ASSERT: the waiter thread must still be joined below.
  EXPECT_TRUE(waiter_tid != 0 && thread_sleeps(waiter_tid)) << "the waiter never blocked";
  EXPECT_FALSE(released);
  // shutdown(wait, cancel_futures) cancels the queued calls first, then waits
  // for the running ones, which end only once the gate opens.
  std::thread stopper([&] { pool.shutdown(true, true); });
  const auto deadline = std::chrono::steady_clock::now() + 20s;  // the gate shuts for 30 s
  while (!released && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(released) << "the blocked waiter was not released by the shutdown";
  for (auto& f : busy) EXPECT_FALSE(f.done());  // the gate is still shut
  gate.open();
  waiter.join();
  stopper.join();
  EXPECT_EQ(seen, std::future_status::ready);
  for (auto& f : queued) EXPECT_TRUE(f.cancelled());
  EXPECT_THROW(queued.back().get(), rankpool::cancelled_error);
  for (auto& f : busy) EXPECT_EQ(f.get(), 200);  // running calls finish normally
}

TEST(executor, shutdown_without_wait_returns_before_calls_finish) {
  rankpool::executor pool(boost::mpi::communicator(), one_slot_per_worker());
  if (!pool) return;
  // The call runs until the gate opens (30 s at most): shutdown(false) must
  // return while it still runs, and the call must still end well after it.
  file_gate gate;
  auto slow = pool.submit(gates::wait_for_file, gate.path(), 300);
  ASSERT_TRUE(test_support::becomes_running(slow));
  pool.shutdown(false);
  EXPECT_FALSE(slow.done()) << "shutdown(false) waited for the running call";
  gate.open();
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
  EXPECT_GE(calls_seen, 1);  // the second one, at once
  // Once the pool has shut down, every callback that will ever run has run.
  pool.shutdown();
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
    std::atomic<int> ended_well{0};
    {
      rankpool::executor pool;
      if (!pool) continue;
      for (int i = 0; i < 50; ++i) {
        pool.submit(calls::sleep_ms, 1);  // future dropped at once
        // Dropped too, but a callback sees how the call ended.
        pool.submit(calls::square, i).add_done_callback([&, i](const rankpool::future<int>& f) {
          try {
            if (f.get() == i * i) ++ended_well;
          } catch (...) {
          }
        });
      }
    }  // the destructor waits for the calls (none is cancelled) and releases the workers
    EXPECT_EQ(ended_well, 50) << "round " << round;
  }
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
