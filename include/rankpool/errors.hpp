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
