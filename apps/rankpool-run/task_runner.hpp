// The worker's side of the task farm: one task is one call of run_task, a
// registered function that runs the task's command and says what came of it.
#pragma once

#include <cstdint>
#include <string>

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

// Runs one task's command on this worker (registered with RANKPOOL_REGISTER).
task_outcome run_task(task_request request);

}  // namespace rankpool::run
