// Runs one shell command the way a task farm must: its own process group
// (so a timeout or a signal ends everything it started), posix_spawn rather
// than fork (Open MPI discourages fork in MPI processes), output captured
// or sent to files, SIGTERM then SIGKILL after a grace period on timeout.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace rankpool::run {

struct spawn_request {
  std::string command;           // run as: /bin/bash -c command
  std::vector<std::string> env;  // KEY=VALUE, added to (or replacing in) this environment
  double timeout_seconds = 0;    // 0: no limit
  double grace_seconds = 5;      // between SIGTERM and SIGKILL
  std::string stdout_path;       // empty: capture into spawn_result::out
  std::string stderr_path;       // empty: capture into spawn_result::err
  std::vector<int> cpus;         // non-empty: the command may run on these cores only
};

struct spawn_result {
  int exit_code = 0;          // the exit status, or 128 + signal number
  std::optional<int> signal;  // the signal that ended the command
  bool timed_out = false;
  bool stopped = false;  // ended because *stop became true
  double start = 0;      // unix seconds
  double end = 0;
  std::string out;
  std::string err;
};

// Runs the command to completion. If *stop becomes true (the farm was asked
// to end), the command is ended as on a timeout. Throws std::system_error
// if the command cannot be started at all.
spawn_result run_command(const spawn_request& request, const std::atomic<bool>* stop = nullptr);

}  // namespace rankpool::run
