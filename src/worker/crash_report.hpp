// Names the call that killed a worker. Under Open MPI's default error
// handling a worker that dies of a signal ends the whole job, and mpirun
// reports only "rank N exited on signal 11": the user cannot tell which call
// did it. While a crash_reporter lives, a fatal signal (SIGSEGV, SIGBUS,
// SIGFPE, SIGILL, SIGABRT) first writes one line to stderr, e.g.
//
//   rankpool: worker rank 2 on host node7 died of signal SIGSEGV while running 'crash' (call 17)
//
// and then takes the course it would have taken without us: the handler
// installed before (Open MPI's backtrace printer, or the user's own), or the
// default action (core dump, termination), so the job still ends.
#pragma once

#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rankpool::detail {

class crash_reporter {
 public:
  // rank: in the executor's communicator; world_rank: in MPI_COMM_WORLD,
  // named too when it differs (mpirun's own notice uses it).
  crash_reporter(int rank, int world_rank, const std::string& host);
  crash_reporter(const crash_reporter&) = delete;
  crash_reporter& operator=(const crash_reporter&) = delete;
  ~crash_reporter();

  // Around each call: a few stores, no allocation (this is the worker's hot path).
  // id 0 is the initializer.
  void call_started(std::string_view name, std::uint64_t id) noexcept;
  void call_finished() noexcept;

 private:
  // The thread's alternate signal stack, so a stack overflow can still be
  // reported; kept if the thread already had one (e.g. a sanitizer's).
  std::unique_ptr<char[]> alt_stack_;
  stack_t previous_stack_{};
};

}  // namespace rankpool::detail
