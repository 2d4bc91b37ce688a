// Executor options. Pass the same options on every rank: the constructor is collective.
#pragma once

#include "rankpool/detail/registry.hpp"
#include "rankpool/detail/value_codec.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace rankpool {

namespace detail {
struct initializer_access;
}  // namespace detail

/// @brief A registered callable with its arguments, run once on every worker before its
/// first call.
///
/// With a one-rank communicator each local worker thread runs it. If it throws, the pool
/// is broken: its calls fail with broken_executor.
///
/// @code
/// void load_table(const std::string& path);
/// RANKPOOL_REGISTER(load_table);
///
/// rankpool::options opts;
/// opts.initializer = rankpool::initializer(load_table, std::string("table.dat"));
/// rankpool::executor pool(comm, opts);
/// @endcode
class initializer {
 public:
  /// @brief No initializer: workers start serving calls at once.
  initializer() = default;

  /// @brief Encodes the call f(args...) to run on every worker.
  /// @param f A callable registered with RANKPOOL_REGISTER, RANKPOOL_REGISTER_AS or
  ///          RANKPOOL_REGISTER_TYPE.
  /// @param args Its arguments, serialized here.
  /// @throws std::invalid_argument if @p f was never registered.
  template <class F, class... A>
  explicit initializer(F f, A&&... args);

  /// @brief True if this holds a call (was not default-constructed).
  explicit operator bool() const noexcept { return name_ != nullptr; }
  /// @brief The callable's registered name; only for an initializer that is true.
  const std::string& name() const { return *name_; }
  /// @brief The encoded call (the callable's state and its arguments).
  const std::string& payload() const noexcept { return payload_; }

 private:
  friend struct detail::initializer_access;
  const std::string* name_ = nullptr;
  std::string payload_;
};

namespace detail {
// A spawned worker's copy of its parent's initializer (src/mpi/spawn.cpp).
struct initializer_access {
  static initializer make(const std::string* name, std::string payload) {
    initializer i;
    i.name_ = name;
    i.payload_ = std::move(payload);
    return i;
  }
};
}  // namespace detail

/// @brief Where calls run on a worker.
enum class isolation {
  /// @brief In the worker itself (the default, and the fastest): a call that crashes the
  /// process ends the MPI job.
  none,
  /// @brief In a call process forked from the worker after its initializer: a call that
  /// crashes, hangs past its time limit or exceeds its memory limit fails its own future
  /// (worker_crashed, call_timed_out, std::bad_alloc) and the worker serves the next call
  /// in a fresh call process. Needed for call limits and future::terminate().
  process,
};

/// @brief Settings of an executor. Pass the same options on every rank: the constructor is
/// collective, and options invalid on any rank make it throw std::invalid_argument on all.
struct options {
  /// @brief Rank of the communicator that runs the executor; every other rank is a worker.
  int root = 0;
  /// @brief The most calls sent to one worker and not yet answered (at least 1).
  ///
  /// Calls beyond this wait on the root, where cancel() still succeeds. 2 hides the round
  /// trip. The window adapts below this: a worker gets a second call only while its calls
  /// are short (under 20 ms, or 50 round trips on a slower network); longer calls get one
  /// call in flight per worker, so none waits behind a long one while another worker could
  /// take it. A worker's first call goes alone.
  int window = 2;
  /// @brief Threads that run calls when the communicator has one rank; 0 means one per core.
  int local_workers = 0;
  /// @brief Messages larger than this are split into parts (MPI counts are int); at most
  /// INT_MAX.
  std::size_t max_message_bytes = std::size_t{1} << 30;
  /// @brief Run once on every worker before its first call; none by default.
  rankpool::initializer initializer;
  /// @brief Where calls run: isolation::process runs each in a call process that the
  /// worker watches (see docs/reliability.md, "Isolated calls").
  rankpool::isolation isolation = rankpool::isolation::none;
  /// @brief The longest a call may run (zero: no limit). A call still running then is
  /// stopped (SIGTERM, then SIGKILL after a second) and fails with call_timed_out. For a
  /// map() chunk the limit is per call: a chunk of n calls may run n times as long.
  /// Needs isolation::process.
  std::chrono::duration<double> call_timeout{0};
  /// @brief The most bytes a call may allocate in its call process (0: no limit): the
  /// process's address space when the call starts plus this. An allocation beyond it fails
  /// (std::bad_alloc in the call). Needs isolation::process.
  std::size_t call_memory_limit = 0;
  /// @brief Print the pool's statistics (executor::stats()) as a table on stderr when it
  /// shuts down; also on when the environment variable RANKPOOL_STATS is 1.
  bool print_stats = false;
};

/// @brief Limits of one call, for executor::submit_with(). A field left unset takes the
/// pool's (options::call_timeout, options::call_memory_limit).
struct call_options {
  /// @brief The longest this call may run; zero: no limit.
  std::optional<std::chrono::duration<double>> timeout;
  /// @brief The most bytes this call may allocate; 0: no limit.
  std::optional<std::size_t> memory_limit;
};

template <class F, class... A>
initializer::initializer(F f, A&&... args) {
  using fn = std::decay_t<F>;
  static_assert(detail::check_callable<fn>());
  name_ = &detail::name_of<fn>(f);
  detail::save_call(payload_, static_cast<const fn&>(f), std::forward<A>(args)...);
}

}  // namespace rankpool
