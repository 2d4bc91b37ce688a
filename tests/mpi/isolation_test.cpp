// Isolated calls (options::isolation = process): a call that crashes, exits,
// hangs past its time limit or runs out of memory fails its own future with
// the error that says so, and the pool goes on serving; terminate() stops a
// running call; nothing is left in the process table afterwards.
#include "mpi/test_calls.hpp"

#include <rankpool/rankpool.hpp>

#include <gtest/gtest.h>

#include <boost/mpi/communicator.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RANKPOOL_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RANKPOOL_TEST_SANITIZED 1
#endif
#endif
#ifndef RANKPOOL_TEST_SANITIZED
#define RANKPOOL_TEST_SANITIZED 0
#endif

namespace crash {

// A store to a page without access: a real SIGSEGV, and no undefined
// behaviour for UBSan to stop first (as a null pointer would be).
int segfault(int x) {
  void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) throw std::runtime_error("mmap failed");
  *static_cast<volatile int*>(page) = x;
  return x;
}
int aborts(int x) {
  std::abort();
  return x;
}
int exits(int code) {
  std::exit(code);
}
int exits_quietly(int x) {
  _exit(0);
  return x;
}
int kills_itself(int x) {
  raise(SIGKILL);
  return x;
}
int loops(int x) {
  volatile unsigned long spins = 0;
  for (;;) ++spins;
  return x;
}
// Creates the file `path`, then loops forever: the test sees it in the loop.
int marks_then_loops(std::string path) {
  std::ofstream(path) << "looping\n";
  volatile unsigned long spins = 0;
  for (;;) ++spins;
  return 0;
}
int sleeps_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
// Allocates and touches `bytes`; returns how many it got.
std::size_t allocates(std::size_t bytes) {
  std::vector<char> v(bytes, 1);
  return v.size() + static_cast<std::size_t>(v[bytes / 2] - 1);
}
// Dies of SIGKILL after `ms`, as if killed from outside while it ran.
int killed_after_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  raise(SIGKILL);
  return ms;
}
int closes_output(int x) {
  std::fflush(nullptr);
  close(1);
  close(2);
  return x;
}
// Writes `kib` KiB to each of stdout and stderr.
int floods_output(int kib) {
  const std::string line(1023, 'x');
  for (int i = 0; i < kib; ++i) {
    std::fprintf(stdout, "%s\n", line.c_str());
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return kib;
}
int process_id(int) {
  return static_cast<int>(getpid());
}
// Set by every local thread's initializer at 1 rank: atomic, not a race.
std::atomic<int> initialized{0};
void initialize(int value) {
  initialized = value;
}
int initialized_value(int) {
  return initialized;
}
std::vector<double> doubled(std::vector<double> v) {
  for (auto& x : v) x *= 2;
  return v;
}
int twice(int x) {
  return 2 * x;
}

}  // namespace crash

// Registered by their qualified names, which error messages then show.
RANKPOOL_REGISTER(crash::segfault);
RANKPOOL_REGISTER(crash::aborts);
RANKPOOL_REGISTER(crash::exits);
RANKPOOL_REGISTER(crash::exits_quietly);
RANKPOOL_REGISTER(crash::kills_itself);
RANKPOOL_REGISTER(crash::loops);
RANKPOOL_REGISTER(crash::marks_then_loops);
RANKPOOL_REGISTER(crash::sleeps_ms);
RANKPOOL_REGISTER(crash::allocates);
RANKPOOL_REGISTER(crash::killed_after_ms);
RANKPOOL_REGISTER(crash::closes_output);
RANKPOOL_REGISTER(crash::floods_output);
RANKPOOL_REGISTER(crash::process_id);
RANKPOOL_REGISTER(crash::initialize);
RANKPOOL_REGISTER(crash::initialized_value);
RANKPOOL_REGISTER(crash::doubled);
RANKPOOL_REGISTER(crash::twice);

namespace {

// Hundreds of calls crash here on purpose: no core files for them.
const bool no_core_files = [] {
  const rlimit none{0, 0};
  return setrlimit(RLIMIT_CORE, &none) == 0;
}();

rankpool::options isolated() {
  rankpool::options o;
  o.isolation = rankpool::isolation::process;
  o.local_workers = 2;
  return o;
}

rankpool::call_options within(std::chrono::milliseconds t) {
  rankpool::call_options c;
  c.timeout = t;
  return c;
}

template <class E, class T>
E failure_of(const rankpool::future<T>& f) {
  try {
    f.get();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception: " << e.what();
    throw;
  }
  ADD_FAILURE() << "the call succeeded";
  throw std::logic_error("no failure");
}

// This process's children, live or zombie: after a pool is gone, none may
// remain (its call processes are killed and reaped).
std::vector<std::string> children_of_this_process() {
  std::vector<std::string> found;
  const std::string me = std::to_string(getpid());
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (const dirent* entry = readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat("/proc/" + pid + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after its ')'.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == me) found.push_back(pid + " (state " + state + ")");
  }
  closedir(proc);
  return found;
}

}  // namespace

TEST(isolation, each_way_a_call_process_can_die_fails_only_that_call) {
  boost::mpi::communicator world;
  rankpool::executor pool(world, isolated());
  if (!pool) return;
  struct crash_case {
    const char* name;
    rankpool::future<int> f;
    int signal;
    int exit_code;
  };
  std::vector<crash_case> cases;
  cases.push_back({"crash::segfault", pool.submit(crash::segfault, 1), SIGSEGV, 0});
  cases.push_back({"crash::aborts", pool.submit(crash::aborts, 1), SIGABRT, 0});
  cases.push_back({"crash::exits", pool.submit(crash::exits, 3), 0, 3});
  cases.push_back({"crash::exits_quietly", pool.submit(crash::exits_quietly, 1), 0, 0});
  cases.push_back({"crash::kills_itself", pool.submit(crash::kills_itself, 1), SIGKILL, 0});
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto e = failure_of<rankpool::worker_crashed>(c.f);
    EXPECT_EQ(e.signal(), c.signal);
    EXPECT_EQ(e.exit_code(), c.exit_code);
    EXPECT_EQ(e.type_name(), "rankpool::worker_crashed");
    const std::string what = e.what();
    EXPECT_NE(what.find(std::string("'") + c.name + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("rank " + std::to_string(e.rank())), std::string::npos) << what;
    EXPECT_NE(what.find(e.host()), std::string::npos) << what;
    if (c.signal == SIGSEGV) {
      EXPECT_NE(what.find("died of SIGSEGV"), std::string::npos) << what;
    }
    if (c.signal == 0) {
      EXPECT_NE(what.find("exited with code " + std::to_string(c.exit_code)), std::string::npos)
          << what;
    }
  }
  // Every worker still serves, the crashed ones in fresh call processes.
  std::vector<rankpool::future<int>> after;
  for (int i = 0; i < 4 * pool.max_workers(); ++i) after.push_back(pool.submit(calls::square, i));
  for (int i = 0; i < 4 * pool.max_workers(); ++i) EXPECT_EQ(after[i].get(), i * i);
}

TEST(isolation, a_call_past_its_time_limit_fails_with_call_timed_out) {
  boost::mpi::communicator world;
  auto o = isolated();
  o.call_timeout = 300ms;  // the pool's limit: a loop forever ends with it
  rankpool::executor pool(world, o);
  if (!pool) return;
  const auto began = std::chrono::steady_clock::now();
  auto looping = pool.submit(crash::loops, 1);
  const auto e = failure_of<rankpool::call_timed_out>(looping);
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 20s);
  const std::string what = e.what();
  EXPECT_NE(what.find("'crash::loops'"), std::string::npos) << what;
  EXPECT_NE(what.find("time limit of 0.3 s"), std::string::npos) << what;
  EXPECT_NE(what.find("rank " + std::to_string(e.rank())), std::string::npos) << what;
  // A call's own limit overrides the pool's, both ways.
  auto sleeper = pool.submit_with(within(50ms), crash::sleeps_ms, 2000);
  failure_of<rankpool::call_timed_out>(sleeper);
  EXPECT_EQ(pool.submit_with(within(5000ms), crash::sleeps_ms, 500).get(), 500);
  EXPECT_EQ(pool.submit(calls::square, 7).get(), 49);
}

TEST(isolation, output_closed_or_flooded_by_a_call_harms_nothing_else) {
  boost::mpi::communicator world;
  rankpool::executor pool(world, isolated());
  if (!pool) return;
  EXPECT_EQ(pool.submit(crash::floods_output, 64).get(), 64);
  std::vector<rankpool::future<int>> closers;
  for (int i = 0; i < pool.max_workers(); ++i)
    closers.push_back(pool.submit(crash::closes_output, i));
  for (int i = 0; i < pool.max_workers(); ++i) EXPECT_EQ(closers[i].get(), i);
  EXPECT_EQ(pool.submit(crash::floods_output, 16).get(), 16);
  EXPECT_EQ(pool.submit(calls::square, 5).get(), 25);
}

TEST(isolation, memory_limit_makes_a_large_allocation_fail_as_bad_alloc) {
#if RANKPOOL_TEST_SANITIZED
  GTEST_SKIP() << "sanitizers reserve address space of their own and abort when it runs out";
#endif
  boost::mpi::communicator world;
  auto o = isolated();
  o.call_memory_limit = std::size_t{256} << 20;
  rankpool::executor pool(world, o);
  if (!pool) return;
  auto big = pool.submit(crash::allocates, std::size_t{1} << 30);
  const auto e = failure_of<rankpool::remote_error>(big);
  EXPECT_EQ(e.type_name(), "std::bad_alloc") << e.what();
  EXPECT_EQ(pool.submit(crash::allocates, std::size_t{64} << 20).get(), std::size_t{64} << 20);
  // A call's own limit overrides the pool's.
  rankpool::call_options roomy;
  roomy.memory_limit = std::size_t{2} << 30;
  EXPECT_EQ(pool.submit_with(roomy, crash::allocates, std::size_t{512} << 20).get(),
            std::size_t{512} << 20);
  EXPECT_EQ(pool.submit(calls::square, 3).get(), 9);
}

TEST(isolation, large_arguments_and_results_and_maps_travel_intact) {
  boost::mpi::communicator world;
  rankpool::executor pool(world, isolated());
  if (!pool) return;
  std::vector<double> v(std::size_t{8} << 20);  // 64 MiB, sent as a block
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 1000);
  const auto doubled = pool.submit(crash::doubled, v);
  const auto& twice = doubled.get();
  ASSERT_EQ(twice.size(), v.size());
  for (std::size_t i = 0; i < v.size(); i += 4099) ASSERT_EQ(twice[i], 2 * v[i]) << i;
  EXPECT_EQ(twice.back(), 2 * v.back());
  std::vector<int> xs(1000);
  for (int i = 0; i < 1000; ++i) xs[static_cast<std::size_t>(i)] = i;
  int i = 0;
  for (int y : pool.map(crash::twice, xs, 64)) EXPECT_EQ(y, 2 * i++);
  EXPECT_EQ(i, 1000);
}

TEST(isolation, the_initializer_state_is_in_every_fresh_call_process) {
  boost::mpi::communicator world;
  auto o = isolated();
  o.initializer = rankpool::initializer(crash::initialize, 42);
  rankpool::executor pool(world, o);
  if (!pool) return;
  std::vector<rankpool::future<int>> crashes;
  for (int i = 0; i < 2 * pool.max_workers(); ++i) crashes.push_back(pool.submit(crash::aborts, i));
  for (auto& f : crashes) failure_of<rankpool::worker_crashed>(f);
  for (int i = 0; i < 2 * pool.max_workers(); ++i) {
    EXPECT_EQ(pool.submit(crash::initialized_value, 0).get(), 42);
  }
  // Calls run in a process of their own, not in the worker (or this process).
  EXPECT_NE(pool.submit(crash::process_id, 0).get(), static_cast<int>(getpid()));
}

TEST(isolation, terminate_stops_a_running_call_and_the_worker_serves_on) {
  boost::mpi::communicator world;
  rankpool::executor pool(world, isolated());
  if (!pool) return;
  // The call marks a file once it runs, then loops: waiting for the file
  // (30 s at most) is waiting for the call to be in its loop.
  const std::string mark = "/tmp/rankpool-isolation-loop-" + std::to_string(getpid());
  struct remove_mark {
    const std::string& path;
    ~remove_mark() { std::remove(path.c_str()); }
  } cleanup{mark};
  auto stuck = pool.submit(crash::marks_then_loops, mark);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (access(mark.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(access(mark.c_str(), F_OK), 0) << "the call never started its loop";
  EXPECT_TRUE(stuck.running());
  EXPECT_TRUE(stuck.terminate());
  EXPECT_TRUE(stuck.cancelled());
  EXPECT_THROW(stuck.get(), rankpool::cancelled_error);
  auto done = pool.submit(calls::square, 6);
  EXPECT_EQ(done.get(), 36);
  EXPECT_FALSE(done.terminate());  // finished: nothing to stop
  auto failed = pool.submit(crash::aborts, 1);
  failed.wait();
  EXPECT_FALSE(failed.terminate());
  // A call still queued behind busy workers is cancelled by terminate().
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers(); ++i) busy.push_back(pool.submit(crash::sleeps_ms, 300));
  auto queued = pool.submit(calls::square, 2);
  EXPECT_TRUE(queued.terminate());
  EXPECT_TRUE(queued.cancelled());
  for (auto& f : busy) EXPECT_EQ(f.get(), 300);
}

TEST(isolation, limits_and_terminate_without_isolation_are_rejected) {
  boost::mpi::communicator world;
  rankpool::options o;
  o.call_timeout = 1s;
  EXPECT_THROW(rankpool::executor(world, o), std::invalid_argument);
  rankpool::options m;
  m.call_memory_limit = 1 << 20;
  EXPECT_THROW(rankpool::executor(world, m), std::invalid_argument);
  rankpool::executor pool(world);
  if (!pool) return;
  EXPECT_THROW(pool.submit_with(within(10ms), calls::square, 2), std::invalid_argument);
  // Unset limits are fine: the call runs as submit() would.
  EXPECT_EQ(pool.submit_with(rankpool::call_options{}, calls::square, 2).get(), 4);
  auto f = pool.submit(calls::sleep_ms, 200);
  EXPECT_THROW(f.terminate(), std::invalid_argument);
  EXPECT_EQ(f.get(), 200);
}

TEST(isolation, shutdown_without_waiting_stops_a_call_stuck_in_a_loop) {
  boost::mpi::communicator world;
  std::vector<std::string> left;
  {
    rankpool::executor pool(world, isolated());
    if (pool) {
      auto stuck = pool.submit(crash::loops, 1);
      EXPECT_TRUE(test_support::becomes_running(stuck));  // bounded: 10 s
      // The call never ends by itself: shutdown(false, true) returns, and the
      // call ends, only because the pool stops it. Bounds are generous (TSan
      // on 2 cores); stopping it takes milliseconds.
      const auto began = std::chrono::steady_clock::now();
      pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
      EXPECT_LT(std::chrono::steady_clock::now() - began, 10s);
      EXPECT_EQ(stuck.wait_for(20s), std::future_status::ready)
          << "the looping call was not stopped";
      EXPECT_TRUE(stuck.cancelled());
    }
  }
  // Every rank, the pool gone: no call process left, not even a zombie.
  EXPECT_EQ(children_of_this_process(), left);
}

TEST(isolation, a_call_process_killed_while_the_pool_shuts_down_does_not_hang_it) {
  boost::mpi::communicator world;
  rankpool::future<int> killed;
  std::chrono::steady_clock::duration took{};
  {
    rankpool::executor pool(world, isolated());
    if (pool) {
      killed = pool.submit(crash::killed_after_ms, 200);
      const auto began = std::chrono::steady_clock::now();
      pool.shutdown(/*wait=*/true);
      took = std::chrono::steady_clock::now() - began;
    }
  }
  if (!killed.valid()) return;
  EXPECT_LT(took, 10s);
  const auto e = failure_of<rankpool::worker_crashed>(killed);
  EXPECT_EQ(e.signal(), SIGKILL);
}

TEST(isolation, a_thousand_calls_alternating_crash_ok_timeout_ok) {
  boost::mpi::communicator world;
  {
    rankpool::executor pool(world, isolated());
    if (pool) {
      std::vector<rankpool::future<int>> fs;
      for (int i = 0; i < 1000; ++i) {
        switch (i % 4) {
          case 0:
            fs.push_back(pool.submit(crash::segfault, i));
            break;
          case 2:
            fs.push_back(pool.submit_with(within(20ms), crash::loops, i));
            break;
          default:
            fs.push_back(pool.submit(calls::square, i));
        }
      }
      int crashed = 0, timed_out = 0, ok = 0;
      for (int i = 0; i < 1000; ++i) {
        try {
          EXPECT_EQ(fs[i].get(), i * i) << i;
          ++ok;
        } catch (const rankpool::worker_crashed& e) {
          EXPECT_EQ(i % 4, 0) << e.what();
          EXPECT_EQ(e.signal(), SIGSEGV);
          ++crashed;
        } catch (const rankpool::call_timed_out& e) {
          EXPECT_EQ(i % 4, 2) << e.what();
          ++timed_out;
        }
      }
      EXPECT_EQ(ok, 500);
      EXPECT_EQ(crashed, 250);
      EXPECT_EQ(timed_out, 250);
    }
  }
  EXPECT_EQ(children_of_this_process(), std::vector<std::string>{});
}
