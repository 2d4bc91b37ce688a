// --status FILE: a JSON snapshot of the farm, rewritten atomically about once
// a second, that anyone on a shared file system can read without a socket
// (rankpool-run --show-status FILE prints it as a table).
//
// Which worker runs a task is known on the worker only: when the farm keeps a
// status file, each worker tells the root as it starts a task (one small
// message on MPI_COMM_WORLD, apart from the executor's own communicator; in a
// one-rank run, straight through memory).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rankpool::run {

// Where and when a task started.
struct task_start {
  std::string host;
  int rank = 0;
  double start = 0;
};

// On a worker: tells the root that task `id` starts now.
void report_start(std::uint64_t id, const task_start& where);
// On the root: every start reported since the last call, by task id.
void collect_starts(std::unordered_map<std::uint64_t, task_start>& into);

struct running_task {
  std::uint64_t id = 0;
  std::uint64_t line = 0;
  std::string command;
  std::optional<task_start> where;  // unknown until the worker's report arrives
};

struct status_snapshot {
  std::string taskfile;
  std::size_t total = 0, ok = 0, failed = 0, timeout = 0, skipped = 0, queued = 0,
              not_started_no_time = 0;
  std::vector<running_task> running;
  int workers = 0;
  double started = 0;  // unix seconds
  double tasks_per_s = 0;
  std::optional<double> eta_s;
  std::optional<double> allocation_end;  // unix seconds
};

// Writes the snapshot to `path` atomically (a temporary file in the same
// directory, renamed over it). Errors are reported once on stderr, not thrown:
// a status file must never stop the farm.
void write_status(const std::string& path, const status_snapshot& s);

// rankpool-run --show-status FILE: prints the snapshot as a table; returns
// the exit status (2 if the file cannot be read).
int show_status(const std::string& path);

}  // namespace rankpool::run
