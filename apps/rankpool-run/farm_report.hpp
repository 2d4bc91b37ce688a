// What the task farm shows a person on the root: each task's output as whole
// blocks (never interleaved), a progress bar on a terminal, and the summary
// that ends every run; and the counts they are drawn from.
#pragma once

#include "deadline.hpp"
#include "task_runner.hpp"
#include "taskfile.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rankpool::run {

// How the attempts so far ended.
struct farm_tally {
  std::size_t ok = 0, failed = 0, timeout = 0, skipped = 0, retried = 0;
  double task_seconds = 0;
  std::vector<std::pair<double, std::size_t>> slowest;  // (seconds, task index), longest first

  std::size_t finished() const noexcept { return ok + failed + timeout; }
  // An attempt of task `index` took `seconds` (whatever its status).
  void took(double seconds, std::size_t index);
};

// What the summary says beyond the tally.
struct farm_ending {
  double wall = 0;                 // seconds the run took
  int workers = 0;                 // the pool's
  std::size_t to_run = 0;          // tasks this run meant to run
  std::size_t skipped_failed = 0;  // skipped by --resume although their last attempt failed
  std::size_t no_time = 0;         // not started: they could not end before the allocation
  std::optional<allocation_end> end;
  bool drained = false;  // SIGUSR1 stopped the dispatching
};

class farm_report {
 public:
  // `tag`: prefix output lines with [id]; `progress`: draw the bar (stderr).
  farm_report(bool tag, bool progress) : tag_(tag), progress_(progress) {}

  farm_tally tally;

  // A task's output, each stream as one block with a single write.
  void output(std::uint64_t id, const task_outcome& outcome) const;
  // A line on stderr (the bar, if drawn, is cleared first).
  void message(const std::string& line) const;
  // Redraws the bar, at most every 200 ms.
  void progress(std::size_t to_run, std::size_t running);
  // Ends the bar's line and prints the summary on stderr.
  void summary(const std::vector<task>& tasks, const farm_ending& e) const;

 private:
  bool tag_;
  bool progress_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::optional<std::chrono::steady_clock::time_point> first_draw_;
};

}  // namespace rankpool::run
