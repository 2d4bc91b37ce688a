// Executor options. Pass the same options on every rank: the constructor is collective.
#pragma once

#include "rankpool/detail/archive.hpp"
#include "rankpool/detail/registry.hpp"

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

namespace detail {

// Encodes a call's arguments as the callable's own parameter types, so the
// worker decodes exactly what the callable takes.
template <class P, class A>
void save_arg(oarchive& out, A&& arg) {
  using value_t = std::decay_t<P>;
  if constexpr (std::is_same_v<std::decay_t<A>, value_t>) {
    out << arg;  // no copy when the caller already has the parameter type
  } else {
    static_assert(std::is_constructible_v<value_t, A&&>,
                  "rankpool: an argument cannot be converted to the callable's parameter type");
    const value_t converted(std::forward<A>(arg));
    out << converted;
  }
}

template <class... P, class... A>
void save_args_as(std::tuple<P...>*, oarchive& out, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A),
                "rankpool: wrong number of arguments for the submitted callable");
  if constexpr (sizeof...(P) == sizeof...(A)) (save_arg<P>(out, std::forward<A>(args)), ...);
}

// Appends the callable's state (function objects) and its arguments to `payload`.
template <class F, class... A>
void save_call(std::string& payload, const F& f, A&&... args) {
  using traits = callable_traits<F>;
  oarchive_buffer buffer(payload);
  if constexpr (traits::is_object) buffer.archive() << f;
  save_args_as(static_cast<typename traits::params*>(nullptr), buffer.archive(),
               std::forward<A>(args)...);
}

// The registered name of a callable, or std::invalid_argument naming the fix.
template <class F>
const std::string& name_of(const F& f) {
  const std::string* name = nullptr;
  if constexpr (callable_traits<F>::is_object) {
    name = registered_name(typeid(F));
  } else {
    name = registered_name(reinterpret_cast<function_key>(f));
  }
  if (name == nullptr) {
    throw std::invalid_argument(
        "rankpool: the callable was never registered; add RANKPOOL_REGISTER(function) or "
        "RANKPOOL_REGISTER_TYPE(type) at namespace scope (every rank must register it)");
  }
  return *name;
}

}  // namespace detail

template <class F, class... A>
initializer::initializer(F f, A&&... args) {
  using fn = std::decay_t<F>;
  static_assert(detail::check_callable<fn>());
  name_ = &detail::name_of<fn>(f);
  detail::save_call(payload_, static_cast<const fn&>(f), std::forward<A>(args)...);
}

}  // namespace rankpool
