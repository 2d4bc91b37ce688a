// rankpool::pool_stats: what a pool has done so far, from executor::stats().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rankpool {

/// @brief One worker's share of a pool's calls (executor::stats()).
struct worker_stats {
  /// @brief The worker's rank in the pool's communicator; for a one-rank communicator, the
  /// local thread's number.
  int rank = -1;
  /// @brief The host the worker runs on.
  std::string host;
  /// @brief Call items it answered (a map() chunk is one).
  std::uint64_t calls = 0;
  /// @brief Of those, how many ended in an error.
  std::uint64_t failed = 0;
  /// @brief Wall time it spent on calls: for a worker rank, the time it held at least one
  /// call, from the call's send (or its previous answer) to its answer, seen from the root;
  /// for a local thread, the time inside calls.
  double busy_seconds = 0;
  /// @brief Bytes of call items and argument blocks sent to it (0 for local threads).
  std::uint64_t bytes_in = 0;
  /// @brief Bytes of results it sent back (0 for local threads).
  std::uint64_t bytes_out = 0;
};

/// @brief Mean and longest time calls waited on the root before a worker took them.
struct queue_wait_stats {
  /// @brief Mean over the calls handed to a worker so far, in seconds.
  double mean = 0;
  /// @brief The longest, in seconds.
  double max = 0;
};

/// @brief What a pool has done so far: executor::stats(), or the table that
/// options::print_stats (or RANKPOOL_STATS=1) prints at shutdown.
///
/// Counts are of calls as submitted: submit() adds one, a map() chunk one per chunk.
struct pool_stats {
  /// @brief Calls submitted.
  std::uint64_t submitted = 0;
  /// @brief Calls that returned a value.
  std::uint64_t completed = 0;
  /// @brief Calls that ended in an error (thrown, crashed, timed out, lost with the pool).
  std::uint64_t failed = 0;
  /// @brief Calls cancelled (before they started, or terminated).
  std::uint64_t cancelled = 0;
  /// @brief Calls waiting on the root for a worker now.
  std::uint64_t pending = 0;
  /// @brief How long calls waited on the root before a worker took them.
  queue_wait_stats queue_wait;
  /// @brief One entry per worker rank, or per local thread for a one-rank communicator.
  std::vector<worker_stats> workers;

  /// @brief The figures as a table, one line per worker, for a terminal or a log.
  std::string table() const;
};

}  // namespace rankpool
