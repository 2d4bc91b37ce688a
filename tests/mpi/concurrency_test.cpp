// The executor under concurrent use: many application threads at once,
// done callbacks that submit more work, futures dropped before they finish,
// destruction with calls in flight, and pools created and destroyed over and
// over on one communicator. executor_test.cpp has the simple forms of some
// of these (4 threads of square(), one callback that submits once, dropped
// futures without checks); these go further and check every outcome.
#include "mpi/test_calls.hpp"
#include "support/proc_stats.hpp"

#include <gtest/gtest.h>

#include <boost/mpi/communicator.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// Counts events from any thread; the test thread waits for a total.
class counter {
 public:
  // Notifies under the lock: once the waiter sees the total it may destroy
  // the counter, and this thread must not touch it after unlocking.
  void add(int n = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    count_ += n;
    cv_.notify_all();
  }
  bool wait_for_at_least(int n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }
  int value() {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int count_ = 0;
};

rankpool::options one_call_per_worker() {
  rankpool::options opts;
  opts.window = 1;
  opts.local_workers = 2;
  return opts;
}

std::vector<char> pattern(std::size_t size, int seed) {
  std::vector<char> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 31 + seed);
  return bytes;
}

// 1 byte to 256 KiB: payloads of the k-th echo call.
std::size_t echo_size(int k) {
  return std::size_t{1} << (2 * k);
}

// One application thread's share of mixed work: plain calls (the 8th
// throws), byte payloads of several sizes, and a map.
struct mixed_work {
  int first = 0;  // this thread's arguments are first, first + 1, ...
  std::vector<rankpool::future<int>> ints;
  std::vector<rankpool::future<std::vector<char>>> echoes;
  std::vector<int> xs;
  rankpool::map_result<int> squares;

  static constexpr int throwing = 7;

  mixed_work(rankpool::executor& pool, int thread) : first(thread * 1000), xs(200) {
    for (int i = 0; i < 100; ++i) {
      ints.push_back(pool.submit(calls::fail_on, first + i, first + throwing));
      if (i % 10 == 0)
        echoes.push_back(pool.submit(calls::echo_bytes, pattern(echo_size(i / 10), first + i)));
    }
    std::iota(xs.begin(), xs.end(), first);
    squares = pool.map(calls::square, xs, 16);
  }

  // Every outcome checked; returns how many were wrong.
  int wrong_outcomes() const {
    // Completion order first (as_completed on several threads at once), then values.
    std::size_t seen = 0;
    for (const auto& f : rankpool::as_completed(ints)) seen += f.done() ? 1 : 0;
    int wrong = seen != ints.size();
    for (int i = 0; i < 100; ++i)
      wrong += i == throwing ? !throws(ints[i]) : ints[i].get() != first + i;
    for (int k = 0; k < static_cast<int>(echoes.size()); ++k)
      wrong += echoes[k].get() != pattern(echo_size(k), first + 10 * k);
    for (int k = 0; k < 200; ++k) wrong += squares.at(k) != xs[k] * xs[k];
    return wrong;
  }

  static bool throws(const rankpool::future<int>& f) {
    try {
      f.get();
      return false;
    } catch (const rankpool::remote_error& e) {
      return e.type_name() == "std::runtime_error";
    }
  }
};

}  // namespace

TEST(concurrency, eight_threads_submit_mixed_work_at_once) {
  rankpool::executor pool;
  if (!pool) return;
  std::atomic<int> wrong{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      // Start together, so submissions really overlap.
      ++ready;
      while (ready.load() < 8) std::this_thread::yield();
      wrong += mixed_work(pool, t).wrong_outcomes();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

TEST(concurrency, cancel_races_with_dispatch_and_each_future_ends_one_way) {
  rankpool::executor pool;
  if (!pool) return;
  constexpr int n = 2000;
  std::vector<rankpool::future<int>> fs;
  fs.reserve(n);
  for (int i = 0; i < n; ++i) fs.push_back(pool.submit(calls::square, i));
  // Another thread cancels every other call while the pool dispatches them.
  std::vector<char> cancelled(n, 0);
  std::thread canceller([&] {
    for (int i = 0; i < n; i += 2) cancelled[i] = fs[i].cancel() ? 1 : 0;
  });
  canceller.join();
  int wrong = 0;
  int cancel_count = 0;
  for (int i = 0; i < n; ++i) {
    if (cancelled[i]) {
      ++cancel_count;
      wrong += !fs[i].cancelled();
      try {
        fs[i].get();
        ++wrong;
      } catch (const rankpool::cancelled_error&) {
      }
    } else {
      wrong += fs[i].cancelled();
      wrong += fs[i].get() != i * i;
    }
  }
  EXPECT_EQ(wrong, 0) << cancel_count << " of " << n / 2 << " cancels succeeded";
  // The pool counts the same cancels, and every other call as completed.
  const auto stats = pool.stats();
  EXPECT_EQ(stats.cancelled, static_cast<std::uint64_t>(cancel_count));
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(n - cancel_count));
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(pool.submit(calls::square, 12).get(), 144);
}

TEST(concurrency, callback_chains_and_fan_out_run_to_completion) {
  // What the callbacks touch is declared before the pool, so it outlives the
  // pool's destructor, which waits for every call (and callback) to end.
  constexpr int chains = 16;
  constexpr int links = 40;
  constexpr int tree_depth = 7;  // 127 calls
  counter finished;
  counter tree_calls;
  std::mutex last_mutex;
  std::vector<int> last(chains, -1);
  std::function<void(int, int, int)> link;
  std::function<void(int)> grow;
  rankpool::executor pool;
  if (!pool) return;
  // 16 chains of 40 links: each link's callback submits the next with its
  // result and drops the new future at once (only its callback holds it).
  link = [&](int chain, int step, int value) {
    pool.submit(calls::fail_on, value + 1, -1)
        .add_done_callback([&, chain, step](const rankpool::future<int>& f) {
          const int next = f.get();
          if (step + 1 < links) {
            link(chain, step + 1, next);
            return;
          }
          {
            std::lock_guard<std::mutex> lock(last_mutex);
            last[chain] = next;
          }
          finished.add();
        });
  };
  // A binary tree: each callback submits two children.
  grow = [&](int depth) {
    pool.submit(calls::square, depth).add_done_callback([&, depth](const rankpool::future<int>& f) {
      EXPECT_EQ(f.get(), depth * depth);
      if (depth + 1 < tree_depth) {
        grow(depth + 1);
        grow(depth + 1);
      }
      tree_calls.add();
    });
  };
  for (int c = 0; c < chains; ++c) link(c, 0, c * 1000);
  grow(0);
  ASSERT_TRUE(finished.wait_for_at_least(chains, 60s)) << finished.value() << " chains ended";
  ASSERT_TRUE(tree_calls.wait_for_at_least(127, 60s)) << tree_calls.value() << " tree calls";
  pool.shutdown(true);
  std::lock_guard<std::mutex> lock(last_mutex);
  for (int c = 0; c < chains; ++c) EXPECT_EQ(last[c], c * 1000 + links);
  EXPECT_EQ(tree_calls.value(), 127);  // and no more
}

TEST(concurrency, callbacks_that_submit_during_shutdown_see_a_clean_error) {
  std::atomic<int> submitted{0};
  std::atomic<int> completed{0};
  std::atomic<int> refused{0};
  std::function<void()> again;
  rankpool::executor pool;
  if (!pool) return;
  // Endless chains: every callback submits again until submit() refuses.
  again = [&] {
    try {
      auto f = pool.submit(calls::square, 3);
      ++submitted;
      f.add_done_callback([&](const rankpool::future<int>& done) {
        if (done.get() == 9) ++completed;
        again();
      });
    } catch (const std::runtime_error&) {
      ++refused;  // after shutdown(): expected, and the chain ends here
    }
  };
  for (int i = 0; i < 8; ++i) again();
  std::this_thread::sleep_for(200ms);
  pool.shutdown(true);  // must not hang while callbacks keep submitting
  // Every call that was accepted ran; every chain ended with one refusal.
  EXPECT_EQ(completed.load(), submitted.load());
  EXPECT_EQ(refused.load(), 8);
  EXPECT_GT(submitted.load(), 8);
}

TEST(concurrency, dropped_futures_still_complete_and_release_their_state) {
  // Each callback holds a token: once every call has ended and its state is
  // gone, the test holds the only reference again.
  auto token = std::make_shared<int>(0);
  counter ran;
  std::atomic<int> wrong{0};
  rankpool::executor pool;
  if (!pool) return;
  for (int i = 0; i < 500; ++i) {
    auto f = pool.submit(calls::echo_bytes, pattern(static_cast<std::size_t>(i) * 64, i));
    f.add_done_callback([token, &ran, &wrong, i](const rankpool::future<std::vector<char>>& done) {
      if (done.get() != pattern(static_cast<std::size_t>(i) * 64, i)) ++wrong;
      ran.add();
    });
  }  // every future is dropped here, most before their call has run
  for (int i = 0; i < 500; ++i) pool.submit(calls::sleep_ms, 0);  // not even kept
  ASSERT_TRUE(ran.wait_for_at_least(500, 60s)) << ran.value() << " of 500 callbacks ran";
  EXPECT_EQ(wrong, 0);
  // The pool keeps serving after all of that.
  EXPECT_EQ(pool.submit(calls::square, 11).get(), 121);
  pool.shutdown(true);
  EXPECT_EQ(token.use_count(), 1) << "callbacks (and so call states) were not released";
}

// executor.hpp: the destructor calls shutdown(true): it waits for every
// call, queued or running, to end, then releases the workers.
TEST(concurrency, destructor_waits_for_queued_and_running_calls) {
  std::vector<rankpool::future<int>> slow;
  std::vector<rankpool::future<int>> queued;
  counter callbacks;
  boost::mpi::communicator world;
  const auto start = std::chrono::steady_clock::now();
  {
    rankpool::executor pool(world, one_call_per_worker());
    if (!pool) return;
    for (int i = 0; i < pool.max_workers(); ++i) slow.push_back(pool.submit(calls::sleep_ms, 200));
    for (int i = 0; i < 50; ++i) {
      queued.push_back(pool.submit(calls::square, i));
      queued.back().add_done_callback([&](const rankpool::future<int>&) { callbacks.add(); });
    }
  }  // destroyed here with every call still queued or running
  EXPECT_GE(std::chrono::steady_clock::now() - start, 190ms) << "the destructor did not wait";
  EXPECT_EQ(callbacks.value(), 50) << "callbacks must have run by the time the destructor returns";
  for (auto& f : slow) {
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.get(), 200);  // results outlive the executor
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(queued[i].done());
    EXPECT_FALSE(queued[i].cancelled());
    EXPECT_EQ(queued[i].get(), i * i);
  }
}

TEST(concurrency, destruction_while_other_threads_wait_on_its_futures) {
  std::vector<rankpool::future<int>> fs;
  std::vector<std::thread> waiters;
  std::atomic<int> wrong{0};
  {
    rankpool::executor pool(boost::mpi::communicator(), one_call_per_worker());
    if (!pool) return;
    for (int i = 0; i < 40; ++i) fs.push_back(pool.submit(calls::sleep_ms, i % 4));
    // Waiting threads drive the loop while the executor goes away under them.
    for (int t = 0; t < 4; ++t) {
      waiters.emplace_back([&, t] {
        for (int i = t; i < 40; i += 4) wrong += fs[i].get() != i % 4;
      });
    }
  }
  for (auto& t : waiters) t.join();
  EXPECT_EQ(wrong, 0);
}

// A new pool on the communicator while the old one still finishes its calls:
// shutdown(false) lets the root go on to the (collective) constructor, and
// the workers join it once the old pool releases them. (Assigning a new
// executor over one that was not shut down cannot work on several ranks:
// the right-hand side is constructed, collectively, while the workers still
// serve the old pool.)
TEST(concurrency, a_new_pool_overlaps_the_end_of_one_shut_down_without_waiting) {
  boost::mpi::communicator world;
  std::vector<rankpool::future<int>> first;
  rankpool::executor pool(world, one_call_per_worker());
  if (pool) {
    for (int i = 0; i < 20; ++i) first.push_back(pool.submit(calls::sleep_ms, 5));
    pool.shutdown(false);
  }
  pool = rankpool::executor(world);  // the old pool's destructor waits here
  if (!pool) return;
  for (auto& f : first) {
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.get(), 5);
  }
  EXPECT_EQ(pool.submit(calls::square, 8).get(), 64);
}

TEST(concurrency, create_and_destroy_100_executors_on_one_communicator) {
  boost::mpi::communicator world;
  const auto one_round = [&](int round) {
    rankpool::executor pool(world);
    if (pool) {
      EXPECT_EQ(pool.submit(calls::square, round).get(), round * round);
    }
  };
  // A few rounds first: MPI and the allocator set up what they keep for good.
  for (int round = 0; round < 5; ++round) one_round(round);
  const auto fds_before = proc_stats::open_fd_count();
  const long threads_before = proc_stats::thread_count();
  const long rss_before = proc_stats::rss_kib();
  const auto start = std::chrono::steady_clock::now();
  for (int round = 5; round < 100; ++round) one_round(round);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Every rank checks itself: workers serve inside the constructor, so a
  // leak there shows on them, not on the root.
  EXPECT_EQ(proc_stats::open_fd_count(), fds_before)
      << "descriptors leaked on rank " << world.rank();
  EXPECT_EQ(proc_stats::thread_count(), threads_before)
      << "threads leaked on rank " << world.rank();
  if (!proc_stats::sanitized()) {
    // Loose: 95 executors leaking even 40 KiB each would pass 4 MiB.
    EXPECT_LT(proc_stats::rss_kib() - rss_before, 4096) << "RSS grew on rank " << world.rank();
  }
  if (world.rank() == 0) {
    std::cout << "[ figures  ] 95 create/call/destroy rounds at " << world.size()
              << " ranks: " << seconds / 95 * 1000 << " ms each; fds " << fds_before << " -> "
              << proc_stats::open_fd_count() << ", threads " << threads_before << " -> "
              << proc_stats::thread_count() << ", RSS " << rss_before << " -> "
              << proc_stats::rss_kib() << " KiB\n";
  }
}
