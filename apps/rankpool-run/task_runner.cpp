// The worker's side of the task farm: see task_runner.hpp.
#include "task_runner.hpp"

#include "deadline.hpp"
#include "farm_signals.hpp"
#include "resources.hpp"
#include "run_command.hpp"
#include "staged_file.hpp"
#include "status.hpp"

#include <rankpool/rankpool.hpp>

#include <mpi.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>

RANKPOOL_REGISTER(rankpool::run::run_task);

namespace rankpool::run {

namespace {

std::string host_name() {
  char buffer[256] = {};
  return ::gethostname(buffer, sizeof buffer - 1) == 0 ? std::string(buffer) : "unknown-host";
}

// The MPI rank of this worker, or for a one-rank run the number (1..n) of
// the local thread, so RANKPOOL_WORKER_RANK always tells workers apart.
int worker_rank() {
  int size = 1;
  int rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (size > 1) return rank;
  static std::atomic<int> next{1};
  thread_local const int local = next++;
  return local;
}

}  // namespace

task_outcome run_task(task_request request) {
  spawn_request spawn;
  spawn.command = std::move(request.command);
  spawn.timeout_seconds = request.timeout_seconds;
  spawn.grace_seconds = request.grace_seconds;
  const int rank = worker_rank();
  spawn.env = {"RANKPOOL_TASK_ID=" + std::to_string(request.id),
               "RANKPOOL_TASK_LINE=" + std::to_string(request.line),
               "RANKPOOL_WORKER_RANK=" + std::to_string(rank),
               "RANKPOOL_NWORKERS=" + std::to_string(request.nworkers)};
  if (request.has_repeat_index) {
    spawn.env.push_back("RANKPOOL_REPEAT_INDEX=" + std::to_string(request.repeat_index));
  }
  task_outcome outcome;
  if (stop_requested || drain_requested) {  // the farm is stopping: do not start anything
    outcome.status = "interrupted";
    outcome.rank = rank;
    return outcome;
  }
  // Queued on the root while workers were busy, it reached one too late to
  // end before the allocation does.
  if (request.latest_start > 0 && unix_now() > request.latest_start) {
    outcome.status = "no_time";
    outcome.rank = rank;
    return outcome;
  }
  // --cpus-per-task, --gpus-per-task: a slot of the node's cores and GPUs,
  // held while the command runs (waiting here if every slot is taken).
  std::optional<lease> held;
  if (task_resources != nullptr && task_resources->enabled()) {
    held = task_resources->acquire(stop_requested);
    if (!held) {
      outcome.status = "interrupted";
      outcome.rank = rank;
      return outcome;
    }
    if (request.latest_start > 0 && unix_now() > request.latest_start) {
      task_resources->release(*held);  // waited for a slot past the last moment to start
      outcome.status = "no_time";
      outcome.rank = rank;
      return outcome;
    }
    for (auto& v : held->environment()) spawn.env.push_back(std::move(v));
    spawn.cpus = held->cpus;
  }
  struct give_back {
    std::optional<lease>& l;
    ~give_back() {
      if (l) task_resources->release(*l);
    }
  } release_when_done{held};
  static const std::string host = host_name();
  if (request.report_start) report_start(request.id, {host, rank, unix_now()});
  // With --output-dir the command writes to temporary files, renamed into
  // place when it ends: task-<id>.out/.err are always a whole attempt's output.
  std::optional<staged_file> out_file, err_file;
  if (!request.output_dir.empty()) {
    const auto base = request.output_dir + "/task-" + std::to_string(request.id);
    spawn.stdout_path = out_file.emplace(base + ".out").temp_path();
    spawn.stderr_path = err_file.emplace(base + ".err").temp_path();
  }
  const auto result = run_command(spawn, &stop_requested);
  outcome.status = result.stopped     ? "interrupted"
                   : result.timed_out ? "timeout"
                                      : (result.exit_code == 0 ? "ok" : "failed");
  // An interrupted attempt is not recorded (--resume runs it again): its
  // partial output is dropped and the previous attempt's, if any, stays.
  if (out_file && !result.stopped) {
    out_file->commit(request.sync_outputs);
    err_file->commit(request.sync_outputs);
  }
  outcome.exit_code = result.exit_code;
  outcome.signal = result.signal.value_or(-1);
  outcome.start = result.start;
  outcome.end = result.end;
  outcome.host = host;
  outcome.rank = rank;
  outcome.out = std::move(result.out);
  outcome.err = std::move(result.err);
  return outcome;
}

}  // namespace rankpool::run
