// The call process's lifecycle and its owner's side: see call_process.hpp.
// The owner wakes every few milliseconds while a call runs, to enforce the
// time limit and take terminate requests.
#include "isolation/call_process.hpp"

#include "isolation/call_child.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <system_error>
#include <thread>

namespace rankpool::detail {

namespace {

using clock = std::chrono::steady_clock;

// While a call runs, the owner looks at the clock, its process and its
// terminate requests this often.
constexpr auto watch_interval = std::chrono::milliseconds(5);
// A call stopped for its time limit or terminate() gets SIGTERM, then this
// long to exit before SIGKILL.
constexpr auto stop_grace = std::chrono::seconds(1);

std::string signal_name(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

std::string describe_seconds(std::chrono::microseconds t) {
  std::ostringstream out;
  out << static_cast<double>(t.count()) / 1e6 << " s";
  return out.str();
}

}  // namespace

run_limits pool_limits(const options& opts) {
  return {std::chrono::microseconds(wire::limit_us(opts.call_timeout)), opts.call_memory_limit};
}

run_limits limits_for(const wire::call_view& item, const run_limits& pool) {
  if (!(item.flags & wire::limits_flag)) return pool;
  return {std::chrono::microseconds(item.limits.timeout_us),
          static_cast<std::size_t>(item.limits.memory_bytes)};
}

call_process::call_process(call_site site, bool blocks) : site_(std::move(site)), blocks_(blocks) {}

call_process::~call_process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    reap(true);
  }
}

void call_process::start() {
  if (pid_ > 0) return;
  channel_.open();
  const auto began = clock::now();
  // Output buffered in this process would otherwise be written twice.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  const pid_t owner = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    channel_.close_pipe();
    throw std::system_error(error, std::generic_category(), "rankpool: fork of a call process");
  }
  if (pid == 0) {
    channel_.keep_child_end();
    // Dies with its owner: a worker rank that ends leaves no call process.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != owner) _exit(70);
    serve_calls(channel_, site_, blocks_);
  }
  channel_.keep_owner_end();
  pid_ = pid;
  // Its first answer says it is serving.
  for (;;) {
    const auto r = channel_.wait_answer(clock::now() + std::chrono::seconds(1));
    if (r == call_channel::wait_result::answered) break;
    if (r == call_channel::wait_result::died || reap(false) >= 0) {
      reap(true);
      throw std::runtime_error("rankpool: a new call process died before serving any call");
    }
  }
  last_start_ = clock::now() - began;
}

// The call process's wait status once it has ended (reaping it), or -1 if it
// still runs (only without `wait`).
int call_process::reap(bool wait) {
  if (pid_ <= 0) return 0;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return -1;
  if (r < 0) status = 0;  // reaped by someone else (SIGCHLD ignored): its status is lost
  pid_ = -1;
  channel_.close_pipe();
  return status;
}

// SIGTERM (or SIGKILL), then SIGKILL after the grace period; reaps it.
void call_process::stop(int first_signal) {
  kill(pid_, first_signal);
  const auto until = clock::now() + stop_grace;
  while (first_signal != SIGKILL && clock::now() < until) {
    if (reap(false) >= 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid_, SIGKILL);
  reap(true);
}

void call_process::fail(const wire::call_view& item, std::string_view type, std::string message,
                        std::string& reply, int signal, int exit_code, bool died) {
  wire::error_info error{std::string(type), std::move(message), site_.host, site_.rank};
  error.died = died;
  error.signal = signal;
  error.exit_code = exit_code;
  wire::append_error(reply, item.id, error);
}

std::unique_ptr<call_process> call_process::make_started(call_site site, bool blocks) {
  try {
    auto process = std::make_unique<call_process>(std::move(site), blocks);
    process->start();
    return process;
  } catch (const std::exception& e) {
    throw std::runtime_error(
        std::string("could not start a call process (options.isolation = process): ") + e.what());
  }
}

void call_process::run(const wire::call_view& item, const run_limits& limits, call_owner& owner,
                       std::string& reply) {
  result_block_ = {};
  const std::size_t reply_size = reply.size();
  const std::string where = (blocks_ ? "worker rank " : "a local worker thread of rank ") +
                            std::to_string(site_.rank) + " (host " + site_.host + ")";
  try {
    run_in_process(item, limits, owner, reply, where);
  } catch (const std::exception& e) {
    // No call process could be forked (or the arena could not grow): this
    // call fails saying so, and the next one tries to fork again.
    reply.resize(reply_size);
    result_block_ = {};
    fail(item, "rankpool::broken_executor",
         "rankpool: call '" + std::string(item.name) + "' could not run in a call process on " +
             where + ": " + e.what(),
         reply, 0, 0, false);
  }
}

// A fresh call process after one was lost; if it cannot be forked now, the
// next call tries again (and fails saying why), while this one keeps its error.
void call_process::restart() noexcept {
  try {
    start();
  } catch (const std::exception&) {
  }
}

void call_process::run_in_process(const wire::call_view& item, const run_limits& limits,
                                  call_owner& owner, std::string& reply, const std::string& where) {
  start();
  channel_.reserve(item.raw.size());
  std::memcpy(channel_.arena(), item.raw.data(), item.raw.size());
  const std::string call = "rankpool: call '" + std::string(item.name) + "'";
  // A map() chunk may take its calls' time limits together.
  const auto allowed = limits.timeout * static_cast<std::int64_t>(item.count);
  const auto deadline =
      limits.timeout.count() > 0 ? clock::now() + allowed : clock::time_point::max();
  channel_.request(call_channel::request_kind::run, item.raw.size(), limits.memory);
  for (;;) {
    const auto slice_end = std::min(deadline, clock::now() + watch_interval);
    const auto r = channel_.wait_answer(slice_end);
    if (r == call_channel::wait_result::answered) {
      const auto answer = channel_.last_answer();
      if (answer.kind == call_channel::answer_kind::block) {
        channel_.reserve(answer.bytes);
        owner.receive_block(channel_.arena(), answer.bytes);
        channel_.request(call_channel::request_kind::block, answer.bytes, 0);
        continue;
      }
      channel_.map_arena();
      reply.append(channel_.arena(), answer.bytes);
      result_block_ = std::string_view(channel_.arena() + answer.bytes, answer.block);
      return;
    }
    int status = -1;
    if (r == call_channel::wait_result::died) {
      status = reap(true);
    } else {
      status = reap(false);  // its pipe may stay open in a process it forked
    }
    if (status >= 0) {
      const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
      std::string why = sig != 0 ? call + " died of " + signal_name(sig) + " on " + where
                                 : call + " exited with code " + std::to_string(code) +
                                       " before returning a result on " + where;
      if (sig == SIGKILL) {
        why += limits.memory > 0
                   ? "; the likely cause is its memory limit of " + std::to_string(limits.memory) +
                         " bytes (the kernel kills "
                         "a process that runs out of memory with SIGKILL)"
                   : "; SIGKILL was not sent by rankpool: the kernel's "
                     "out-of-memory killer is a likely cause";
      }
      fail(item, wire::crashed_type, std::move(why), reply, sig, code, true);
      restart();
      return;
    }
    if (clock::now() >= deadline) {
      stop(SIGTERM);
      fail(item, wire::timed_out_type,
           call + " ran past its time limit of " + describe_seconds(allowed) + " on " + where +
               " and was stopped",
           reply, 0, 0, false);
      restart();
      return;
    }
    if (owner.terminate_requested(item.id)) {
      stop(SIGTERM);
      fail(item, wire::terminated_type, call + " was terminated on " + where, reply, 0, 0, false);
      restart();
      return;
    }
  }
}

}  // namespace rankpool::detail
