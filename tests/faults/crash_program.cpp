// A worker call that kills its process, for tests/faults/test_faults.py:
//   mpirun -n 3 crash_program MODE
// MODE: segfault, abort, overflow (a stack overflow, reported from the
// alternate signal stack), chain (the program has its own SIGSEGV handler,
// which must still run after rankpool's report), reversed (the executor runs
// on a communicator whose ranks are MPI_COMM_WORLD's reversed, and the call
// crashes only on world rank 0, so the report must name both ranks),
// initializer (the executor's initializer crashes on every worker),
// stuck (a call never returns: the root gives up waiting, shuts down without
// waiting and ends the job with MPI_Abort, the documented way out), exit_ok (no crash: the control
// case). The root first runs a few normal calls, then fatal ones, and waits; the job is expected to
// end meanwhile.
#include <rankpool/rankpool.hpp>

#include <boost/mpi/environment.hpp>

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace crash {

int square(int x) {
  return x * x;
}

int segfault(int x) {
  volatile int* volatile nowhere = nullptr;
  *nowhere = x;  // SIGSEGV
  return x;
}

int segfault_on_world_rank_0(int x) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank == 0 ? segfault(x) : x;
}

int abort_now(int x) {
  std::abort();
  return x;
}

// Far deeper than any stack allows (8 MiB / 1 KiB frames), so it overflows;
// the volatile array and the use of the result after the call keep the
// compiler from turning it into a loop.
int overflow(int depth) {
  if (depth > 1'000'000'000) return depth;
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  return overflow(depth + 1) + frame[0];
}

// Never returns (sleeps until the process is killed).
int stuck(int x) {
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  return x;
}

}  // namespace crash

RANKPOOL_REGISTER(crash::square);
RANKPOOL_REGISTER(crash::segfault);
RANKPOOL_REGISTER(crash::segfault_on_world_rank_0);
RANKPOOL_REGISTER(crash::abort_now);
RANKPOOL_REGISTER(crash::overflow);
RANKPOOL_REGISTER(crash::stuck);

namespace {

extern "C" void user_segv_handler(int) {
  static const char text[] = "crash_program: the user's own SIGSEGV handler ran\n";
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, text, sizeof text - 1);
  _exit(7);
}

int (*call_for(const std::string& mode))(int) {
  if (mode == "segfault" || mode == "chain") return crash::segfault;
  if (mode == "abort") return crash::abort_now;
  if (mode == "overflow") return crash::overflow;
  if (mode == "reversed") return crash::segfault_on_world_rank_0;
  return nullptr;
}

// Exits if the call does not return normally: the job should have ended.
void report(rankpool::future<int>& fatal, std::chrono::steady_clock::time_point give_up) {
  if (fatal.wait_until(give_up) == std::future_status::timeout) {
    std::cerr << "crash_program: the root still waits for a fatal call after 120 s\n";
    std::exit(3);
  }
  try {
    fatal.get();
  } catch (const std::exception& e) {
    std::cerr << "crash_program: a fatal call failed on the root: " << e.what() << '\n';
    std::exit(4);
  }
}

// The recipe of docs/reliability.md for a call that never returns.
[[noreturn]] void give_up_on_a_stuck_call(rankpool::executor& pool) {
  auto f = pool.submit(crash::stuck, 0);
  if (f.wait_for(std::chrono::milliseconds(500)) == std::future_status::ready) std::exit(6);
  pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  std::cerr << "crash_program: gave up on a stuck call; MPI_Abort" << std::endl;
  MPI_Abort(MPI_COMM_WORLD, 3);
  std::exit(3);  // not reached
}

}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "exit_ok" && mode != "initializer" && mode != "stuck" && call_for(mode) == nullptr) {
    std::cerr << "usage: crash_program "
                 "segfault|abort|overflow|chain|reversed|initializer|stuck|exit_ok\n";
    return 2;
  }
  if (mode == "chain") std::signal(SIGSEGV, user_segv_handler);
  const boost::mpi::communicator world;
  // key -rank: the last world rank becomes rank 0, the executor's root.
  const auto comm = mode == "reversed" ? world.split(0, -world.rank()) : world;
  rankpool::options opts;
  if (mode == "initializer") opts.initializer = rankpool::initializer(crash::segfault, 0);
  rankpool::executor pool(comm, opts);
  if (!pool) return 0;
  for (int i = 0; i < 10; ++i) pool.submit(crash::square, i).get();
  std::cout << "crash_program: root ran 10 calls" << std::endl;
  if (mode == "exit_ok" || mode == "initializer") return 0;
  if (mode == "stuck") give_up_on_a_stuck_call(pool);
  // One fatal call; in reversed mode, which crashes on one worker only,
  // enough that some reach every worker.
  const int count = mode == "reversed" ? 4 * pool.max_workers() : 1;
  std::vector<rankpool::future<int>> fatal_calls;
  for (int i = 0; i < count; ++i) fatal_calls.push_back(pool.submit(call_for(mode), i));
  // The job should end before this wait does; if it does not, say so.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (auto& fatal : fatal_calls) report(fatal, give_up);
  std::cerr << "crash_program: every fatal call returned\n";
  return 5;
}
