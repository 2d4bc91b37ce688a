// The call process of isolated calls (options::isolation = process): a child
// forked from an initialised worker (or local worker thread) that runs its
// calls and never touches MPI. The owner hands it each call item through
// memory the two share, watches it while the call runs, enforces the call's
// time limit, stops it on terminate(), and forks a fresh one when it dies, so
// a call that crashes, hangs or runs out of memory fails only its own future.
// This file is the owner's side and the process's lifecycle; the memory they
// share is call_channel.hpp, and what the call process runs call_child.hpp.
#pragma once

#include "isolation/call_channel.hpp"
#include "wire/wire.hpp"
#include "worker/run_call.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rankpool::detail {

// The limits one call runs under; zero: none.
struct run_limits {
  std::chrono::microseconds timeout{0};
  std::size_t memory = 0;
};

// The pool's limits (options::call_timeout, call_memory_limit).
run_limits pool_limits(const options& opts);
// One call's limits: its own (submit_with) when its item carries them, else the pool's.
run_limits limits_for(const wire::call_view& item, const run_limits& pool);

// What the call process needs from its owner while a call runs.
class call_owner {
 public:
  virtual ~call_owner() = default;
  // Receives the call's next argument block (a worker: from the root).
  virtual void receive_block(char* into, std::size_t bytes) = 0;
  // Asked every few milliseconds while the call runs: true to terminate it
  // (future::terminate()).
  virtual bool terminate_requested(std::uint64_t id) = 0;
};

class call_process {
 public:
  // `site` names the owner in error reports; `blocks`: whether its calls
  // may take argument blocks and return large results as blocks (a worker
  // rank; local threads return every result inline).
  call_process(call_site site, bool blocks);
  call_process(const call_process&) = delete;
  call_process& operator=(const call_process&) = delete;
  // Kills the call process and reaps it.
  ~call_process();

  // A call process forked and serving, for worker ranks and local threads
  // alike; throws std::runtime_error saying that no call process could start.
  static std::unique_ptr<call_process> make_started(call_site site, bool blocks);

  // Forks the call process if none runs; throws std::system_error if it cannot.
  void start();

  // Runs `item` in the call process and appends its result item to `reply`,
  // as run_call does; a call that dies, runs past its time limit or is
  // stopped gets an error item instead (worker_crashed, call_timed_out, or
  // a terminated call's), and a fresh call process is started. If no call
  // process can be forked (or the arena cannot grow), the call fails with a
  // broken_executor item saying so, and the next call tries again. A large
  // result's bytes are result_block() until the next run.
  void run(const wire::call_view& item, const run_limits& limits, call_owner& owner,
           std::string& reply);
  std::string_view result_block() const noexcept { return result_block_; }

  // How long the last fork took to give a ready call process.
  std::chrono::nanoseconds last_start_time() const noexcept { return last_start_; }

 private:
  void run_in_process(const wire::call_view& item, const run_limits& limits, call_owner& owner,
                      std::string& reply, const std::string& where);
  void restart() noexcept;
  void stop(int first_signal);
  int reap(bool wait);
  void fail(const wire::call_view& item, std::string_view type, std::string message,
            std::string& reply, int signal, int exit_code, bool died);

  call_site site_;
  bool blocks_;
  call_channel channel_;  // the memory and the wake-up pipe the two processes share
  pid_t pid_ = -1;
  std::string_view result_block_;
  std::chrono::nanoseconds last_start_{0};
};

}  // namespace rankpool::detail
