// Exceptions a rankpool user may catch.
#pragma once

#include <stdexcept>
#include <string>

namespace rankpool {

// An exception thrown by a call on a worker (or a failure to decode its
// arguments or encode its result there). what() is the original message.
class remote_error : public std::runtime_error {
 public:
  remote_error(const std::string& message, std::string type_name, int rank, std::string host)
      : std::runtime_error(message),
        type_name_(std::move(type_name)),
        rank_(rank),
        host_(std::move(host)) {}

  // The demangled type of the original exception, e.g. "std::out_of_range".
  const std::string& type_name() const noexcept { return type_name_; }
  // The rank (in the executor's communicator) and host that ran the call.
  int rank() const noexcept { return rank_; }
  const std::string& host() const noexcept { return host_; }

 private:
  std::string type_name_;
  int rank_;
  std::string host_;
};

// From get() or exception() of a future whose call was cancelled.
class cancelled_error : public std::runtime_error {
 public:
  explicit cancelled_error(const std::string& what = "rankpool: the call was cancelled")
      : std::runtime_error(what) {}
};

// The pool can no longer run calls: an initializer failed, a worker was lost,
// or the executor's communication failed.
class broken_executor : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// From as_completed() or map iteration when the timeout passes first.
class timeout_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace rankpool
