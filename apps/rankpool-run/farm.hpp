// The task farm on top of rankpool: each task is one registered call
// (run_task) on a worker; the root schedules, journals and prints.
#pragma once

#include "journal.hpp"
#include "taskfile.hpp"

#include <rankpool/rankpool.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace rankpool::run {

// What a worker needs to run one task.
struct task_request {
  std::uint64_t id = 0;
  std::uint64_t line = 0;
  std::string command;
  bool has_repeat_index = false;
  std::int64_t repeat_index = 0;
  double timeout_seconds = 0;
  double grace_seconds = 5;
  std::string output_dir;     // empty: capture output and send it to the root
  bool sync_outputs = false;  // --sync: output files survive a power loss once renamed
  int nworkers = 1;
  double latest_start = 0;    // unix seconds; a worker reaching the task later does not start it
  bool report_start = false;  // --status: tell the root where and when the task starts

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& id& line& command& has_repeat_index& repeat_index& timeout_seconds& grace_seconds&
        output_dir& sync_outputs& nworkers& latest_start& report_start;
  }
};

// What came of one attempt.
struct task_outcome {
  std::string status;  // ok, failed, timeout; interrupted, no_time (not attempts)
  int exit_code = 0;
  int signal = -1;  // -1: none
  double start = 0;
  double end = 0;
  std::string host;
  int rank = 0;
  std::string out;
  std::string err;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& status& exit_code& signal& start& end& host& rank& out& err;
  }
};

task_outcome run_task(task_request request);

// Set by SIGTERM/SIGINT on any rank: workers end their running command, the
// root stops dispatching.
extern std::atomic<bool> stop_requested;
// Set by SIGUSR1 (e.g. Slurm's --signal=USR1@N before the time limit): the
// root starts no more tasks; running ones get --grace seconds to end, then
// stop_requested is set (see drain_watch).
extern std::atomic<bool> drain_requested;

// Call from the signal handler of the drain signal, on every rank.
void request_drain() noexcept;
// Run on a thread of every rank: sets stop_requested `grace` seconds after
// a drain was requested. Returns when `done` becomes true.
void drain_watch(double grace_seconds, const std::atomic<bool>& done);

struct farm_options {
  double timeout_seconds = 0;
  double grace_seconds = 5;
  int retries = 0;
  bool fail_fast = false;
  bool tag = false;
  std::string output_dir;
  bool progress = false;
  bool resume = false;
  bool retry_failed = false;
  bool sync_journal = false;
  std::string journal_path;
  std::string deadline;     // --deadline text; empty: the scheduler's end, if any
  double task_time = 0;     // --task-time: a task's expected seconds when its journal has none
  std::string status_path;  // --status: a JSON snapshot rewritten about once a second
  std::string taskfile;     // named in the status file
};

// Runs the tasks on the pool (root only); returns the exit status:
// 0 all ok, 1 some task failed, timed out or was not run.
int run_farm(rankpool::executor& pool, const std::vector<task>& tasks, const farm_options& opts);

}  // namespace rankpool::run
