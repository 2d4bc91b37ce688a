// What the root does when the MPI library reports a failure on the
// executor's communicator (which has MPI_ERRORS_RETURN). Open MPI 4.1 never
// reports a dead peer this way (docs/reliability.md), so the failure is
// injected: this binary interposes MPI_Testsome and MPI_Isend through the MPI
// profiling interface, and the root's tests of its posted receives (its
// sends) fail while `fail_receives` (`fail_sends`) is set, as they would
// under an MPI that reports process failures (e.g. ULFM's MPI_ERR_PROC_FAILED).
#include "mpi/test_calls.hpp"
#include "support/executor_access.hpp"
#include "wire/wire.hpp"

#include <gtest/gtest.h>

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::atomic<bool> fail_receives{false};
std::atomic<bool> fail_sends{false};

}  // namespace

// Every MPI_Isend of this process (the root's outbox uses it) comes here.
extern "C" int MPI_Isend(const void* buffer, int count, MPI_Datatype type, int dest, int tag,
                         MPI_Comm comm, MPI_Request* request) {
  if (fail_sends.load(std::memory_order_relaxed)) return MPI_ERR_OTHER;
  return PMPI_Isend(buffer, count, type, dest, tag, comm, request);
}

// Every MPI_Testsome of this process (the root's posted receives use it) comes here.
extern "C" int MPI_Testsome(int count, MPI_Request requests[], int* done, int indices[],
                            MPI_Status statuses[]) {
  if (fail_receives.load(std::memory_order_relaxed)) return MPI_ERR_OTHER;
  return PMPI_Testsome(count, requests, done, indices, statuses);
}

namespace {

template <class T>
std::string broken_reason(const rankpool::future<T>& f) {
  try {
    f.get();
  } catch (const rankpool::broken_executor& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not broken_executor: ") + e.what();
  }
  return "no error";
}

// The broken pool never sends its workers the stop message, nor reads the
// results of the calls they were running: the test does both, so that the
// workers leave the worker loop and no message is left in flight when the
// communicator is freed (Open MPI reuses its context id for a later one).
void release_workers(const rankpool::executor& pool, int running_per_worker) {
  const auto* comm = rankpool::detail::executor_access::private_comm(pool);
  for (int w = 0; w < comm->size(); ++w) {
    if (w == comm->rank()) continue;
    comm->send(w, rankpool::detail::wire::stop_tag);
    for (int i = 0; i < running_per_worker; ++i) {
      MPI_Status status;
      MPI_Probe(w, rankpool::detail::wire::result_tag, *comm, &status);
      int count = 0;
      MPI_Get_count(&status, MPI_BYTE, &count);
      std::string result(static_cast<std::size_t>(count), '\0');
      MPI_Recv(result.data(), count, MPI_BYTE, w, rankpool::detail::wire::result_tag, *comm,
               MPI_STATUS_IGNORE);
    }
  }
}

}  // namespace

TEST(mpi_errors, reported_failure_fails_lost_calls_with_broken_executor_and_later_submits_fast) {
  boost::mpi::communicator world;
  rankpool::options opts;
  opts.window = 1;  // so that some calls stay queued on the root
  rankpool::executor pool(world, opts);
  if (!pool) return;
  if (world.size() == 1) GTEST_SKIP() << "one rank runs calls on threads, without MPI";
  std::vector<rankpool::future<int>> running;
  for (int i = 0; i < pool.max_workers(); ++i) running.push_back(pool.submit(calls::sleep_ms, 300));
  for (auto& f : running) ASSERT_TRUE(test_support::becomes_running(f));
  std::vector<rankpool::future<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit(calls::square, i));

  fail_receives = true;
  for (auto& f : running) {
    const std::string why = broken_reason(f);
    EXPECT_NE(why.find("rankpool: MPI_Testsome failed: "), std::string::npos) << why;
  }
  for (auto& f : queued) EXPECT_NE(broken_reason(f).find("MPI_Testsome failed"), std::string::npos);
  fail_receives = false;  // the root's loop has ended: nothing receives any more

  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(pool.submit(calls::square, 1), rankpool::broken_executor);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  release_workers(pool, 1);
}

// A send that fails breaks the pool too, and every call the root had taken
// from its queue for that dispatch fails, not only those already recorded as
// sent: the loop is held in a done callback while calls queue up for every
// worker, so one dispatch takes several and its first send fails.
TEST(mpi_errors, a_failed_send_fails_every_call_taken_for_it) {
  boost::mpi::communicator world;
  rankpool::options opts;
  opts.window = 1;
  rankpool::executor pool(world, opts);
  if (!pool) return;
  if (world.size() == 1) GTEST_SKIP() << "one rank runs calls on threads, without MPI";
  auto first = pool.submit(calls::sleep_ms, 100);
  // The management loop runs the callback: it waits there, held by a gate
  // (30 s at most), until every call below is queued.
  std::atomic<bool> holding{false};
  std::atomic<bool> release{false};
  std::atomic<bool> held_until_released{false};
  first.add_done_callback([&](const rankpool::future<int>&) {
    holding = true;
    const auto limit = std::chrono::steady_clock::now() + 30s;
    while (!release && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(1ms);
    }
    held_until_released = release.load();
  });
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!holding && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(holding) << "the first call never ended";
  fail_sends = true;
  std::vector<rankpool::future<int>> queued;
  for (int i = 0; i < 2 * pool.max_workers(); ++i) queued.push_back(pool.submit(calls::square, i));
  for (auto& f : queued) EXPECT_FALSE(f.done()) << "dispatched while the loop was held";
  release = true;
  for (auto& f : queued) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready) << "a call was left without an outcome";
    const std::string why = broken_reason(f);
    EXPECT_NE(why.find("rankpool: MPI_Isend failed: "), std::string::npos) << why;
  }
  fail_sends = false;
  EXPECT_TRUE(held_until_released) << "the loop was not held while the calls queued";
  EXPECT_THROW(pool.submit(calls::square, 1), rankpool::broken_executor);
  release_workers(pool, 0);
}

TEST(mpi_errors, the_job_goes_on_after_a_broken_pool) {
  rankpool::executor pool;
  if (pool) {
    EXPECT_EQ(pool.submit(calls::square, 9).get(), 81);
  }
}
