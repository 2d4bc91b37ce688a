// The task farm's scheduler on the root: each task is one call of run_task
// (task_runner.hpp) on a worker; the root schedules, retries, journals and
// hands output and progress to farm_report.hpp.
#pragma once

#include "farm_signals.hpp"
#include "journal.hpp"
#include "task_runner.hpp"
#include "taskfile.hpp"

#include <rankpool/rankpool.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace rankpool::run {

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
