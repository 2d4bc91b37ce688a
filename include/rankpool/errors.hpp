// Exceptions a rankpool user may catch.
#pragma once

#include <stdexcept>
#include <string>

namespace rankpool {

/// @brief An exception thrown by a call on a worker.
///
/// Also reports a failure on the worker to decode the call's arguments, to encode its
/// result, or to find the function; the worker keeps serving. what() is the original
/// message.
class remote_error : public std::runtime_error {
 public:
  /// @brief Makes the error as the root receives it from a worker.
  /// @param message The original exception's what().
  /// @param type_name The demangled type of the original exception.
  /// @param rank The worker's rank in the executor's communicator.
  /// @param host The worker's host name.
  remote_error(const std::string& message, std::string type_name, int rank, std::string host)
      : std::runtime_error(message),
        type_name_(std::move(type_name)),
        rank_(rank),
        host_(std::move(host)) {}

  /// @brief The demangled type of the original exception, e.g. "std::out_of_range".
  const std::string& type_name() const noexcept { return type_name_; }
  /// @brief The rank (in the executor's communicator) that ran the call.
  int rank() const noexcept { return rank_; }
  /// @brief The host that ran the call.
  const std::string& host() const noexcept { return host_; }

 private:
  std::string type_name_;
  int rank_;
  std::string host_;
};

/// @brief The call's process died before the call returned: a signal (SIGSEGV, SIGABRT,
/// SIGKILL, ...) or an exit() inside the call. Only with options::isolation = process;
/// the worker goes on serving calls in a fresh call process.
class worker_crashed : public remote_error {
 public:
  /// @brief Makes the error as the root receives it.
  /// @param signal The signal that ended the call process, 0 if it exited.
  /// @param exit_code Its exit status if it exited, else 0.
  worker_crashed(const std::string& message, int signal, int exit_code, int rank, std::string host)
      : remote_error(message, "rankpool::worker_crashed", rank, std::move(host)),
        signal_(signal),
        exit_code_(exit_code) {}
  /// @brief The signal that ended the call process (e.g. SIGSEGV), 0 if it exited.
  int signal() const noexcept { return signal_; }
  /// @brief The exit status of a call process that exited, else 0.
  int exit_code() const noexcept { return exit_code_; }

 private:
  int signal_;
  int exit_code_;
};

/// @brief The call ran past its time limit (options::call_timeout or call_options::timeout)
/// and was stopped. Only with options::isolation = process.
class call_timed_out : public remote_error {
 public:
  /// @brief Makes the error as the root receives it.
  call_timed_out(const std::string& message, int rank, std::string host)
      : remote_error(message, "rankpool::call_timed_out", rank, std::move(host)) {}
};

/// @brief From get() or exception() of a future whose call was cancelled.
class cancelled_error : public std::runtime_error {
 public:
  /// @brief Makes the error; @p what defaults to a generic message.
  explicit cancelled_error(const std::string& what = "rankpool: the call was cancelled")
      : std::runtime_error(what) {}
};

/// @brief The pool can no longer run calls.
///
/// An initializer failed, a worker was lost, or the executor's communication failed.
/// Calls that had not finished fail with it, and so does every later submit().
class broken_executor : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// @brief From iterating as_completed() with a timeout when the next future is not done
/// in time.
class timeout_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace rankpool
