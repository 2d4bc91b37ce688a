// Calls of unequal length: dispatch serves idle workers first, and a
// worker's window opens only while its calls are short, so no call waits
// behind a long one while another worker could take it. Orderings and
// generous bounds only: no tight timings.
#include "mpi/test_calls.hpp"
#include "support/executor_access.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace scheduling_gates {

// A call that runs until the file `path` exists (30 s at most), then returns
// `value`; -1 if it never appeared.
int wait_for_file(std::string path, int value) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (::access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(1ms);
  }
  return value;
}

}  // namespace scheduling_gates

RANKPOOL_REGISTER(scheduling_gates::wait_for_file);

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
  // The long call runs until its gate opens, so it cannot end (and let the
  // next call run legitimately) while the test looks.
  const std::string gate = "/tmp/rankpool-scheduling-gate-" + std::to_string(::getpid());
  struct remove_gate {
    const std::string& path;
    ~remove_gate() { std::remove(path.c_str()); }
  } cleanup{gate};
  const auto long_call = pool.submit(scheduling_gates::wait_for_file, gate, 1500);
  ASSERT_TRUE(test_support::becomes_running(long_call));
  // A call is long once it has run past the adaptive window's threshold
  // (worker_pace.hpp: 100 ms at most); this one has run for 3 times that.
  const auto long_since = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < long_since) std::this_thread::sleep_for(1ms);
  const auto next = pool.submit(calls::sleep_ms, 1);
  // The root would send it within a loop turn or two (a millisecond each):
  // for a generous second, it must stay on the root, not start.
  const auto looked_until = std::chrono::steady_clock::now() + 1s;
  while (!next.running() && !next.done() && std::chrono::steady_clock::now() < looked_until) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_FALSE(next.running() || next.done())
      << "sent into the window of a worker busy with a long call";
  EXPECT_EQ(pool.stats().pending, 1u) << "the second call should wait on the root";
  EXPECT_TRUE(next.cancel());
  std::ofstream(gate) << "open\n";
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
