// Executor options. Pass the same options on every rank: the constructor is collective.
#pragma once

#include "rankpool/detail/registry.hpp"
#include "rankpool/detail/value_codec.hpp"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace rankpool {

// A registered callable with its arguments, run once on every worker before
// its first call: rankpool::initializer(load_table, std::string("table.dat")).
class initializer {
 public:
  initializer() = default;

  template <class F, class... A>
  explicit initializer(F f, A&&... args);

  explicit operator bool() const noexcept { return name_ != nullptr; }
  const std::string& name() const { return *name_; }
  const std::string& payload() const noexcept { return payload_; }

 private:
  const std::string* name_ = nullptr;
  std::string payload_;
};

struct options {
  // Rank of the communicator that runs the executor; every other rank is a worker.
  int root = 0;
  // Calls sent to one worker and not yet answered. Calls beyond this wait on
  // the root, where cancel() still succeeds. 2 hides the round trip.
  int window = 2;
  // Threads that run calls when the communicator has one rank; 0 means one per core.
  int local_workers = 0;
  // Messages larger than this are split into parts (MPI counts are int).
  std::size_t max_message_bytes = std::size_t{1} << 30;
  rankpool::initializer initializer;
};

template <class F, class... A>
initializer::initializer(F f, A&&... args) {
  using fn = std::decay_t<F>;
  static_assert(detail::check_callable<fn>());
  name_ = &detail::name_of<fn>(f);
  detail::save_call(payload_, static_cast<const fn&>(f), std::forward<A>(args)...);
}

}  // namespace rankpool
