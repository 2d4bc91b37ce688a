// rankpool-run: run a file of shell commands across the ranks of one
// allocation, resumably.   mpirun -n N rankpool-run [options] TASKFILE
#include "deadline.hpp"
#include "farm.hpp"
#include "resources.hpp"
#include "status.hpp"
#include "taskfile.hpp"

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/program_options.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace po = boost::program_options;
namespace rr = rankpool::run;

namespace {

constexpr int usage_error = 2;

struct command_line {
  std::string taskfile;
  rr::farm_options farm;
  rr::resource_request resources;
};

void request_stop(int) {
  rr::stop_requested = true;
}

void request_drain(int) {
  rr::request_drain();
}

// Parsed identically on every rank, before any collective call, so a usage
// error ends every rank the same way instead of leaving some waiting.
command_line parse(int argc, char** argv) {
  command_line c;
  po::options_description visible(
      "rankpool-run [options] TASKFILE   (TASKFILE '-' reads standard input)");
  // clang-format off
  visible.add_options()
    ("help,h", "show this help")
    ("journal", po::value(&c.farm.journal_path), "JSON Lines journal (default TASKFILE.journal, or rankpool.journal for stdin)")
    ("resume", po::bool_switch(&c.farm.resume), "skip tasks whose last journal record is ok (same command)")
    ("retry-failed", po::bool_switch(&c.farm.retry_failed), "with --resume, also re-run failed and timed-out tasks")
    ("timeout", po::value(&c.farm.timeout_seconds), "seconds per task; then SIGTERM, and SIGKILL after --grace")
    ("grace", po::value(&c.farm.grace_seconds)->default_value(5.0), "seconds between SIGTERM and SIGKILL")
    ("retries", po::value(&c.farm.retries)->default_value(0), "re-run a failed or timed-out task up to N times")
    ("fail-fast", po::bool_switch(&c.farm.fail_fast), "stop dispatching after the first failure")
    ("tag", po::bool_switch(&c.farm.tag), "prefix each output line with [task id]")
    ("output-dir", po::value(&c.farm.output_dir), "write task-<id>.out/.err there, whole (renamed into place when the task ends), instead of printing")
    ("progress", po::bool_switch(&c.farm.progress), "show a progress bar even when stderr is not a terminal")
    ("sync", po::bool_switch(&c.farm.sync_journal), "fdatasync each journal record, fsync output files before renaming them (survives a node crash)")
    ("deadline", po::value(&c.farm.deadline), "when the allocation ends: seconds from now (3600), a clock time (14:30) or ISO 8601 (2026-11-30T14:30:00Z); default: the Slurm job's end. Tasks that cannot end before it (with --grace to spare) are not started")
    ("status", po::value(&c.farm.status_path), "keep a JSON snapshot of the run in FILE (counts, running tasks with host, rank and start, throughput, ETA, time left), rewritten about once a second")
    ("show-status", po::value<std::string>(), "print the snapshot in FILE (from --status) as a table, and exit; needs no mpirun")
    ("cpus-per-task", po::value(&c.resources.cpus_per_task), "give each task N cores of its node (a CPU affinity mask and OMP_NUM_THREADS=N); no two running tasks share a core")
    ("gpus-per-task", po::value(&c.resources.gpus_per_task), "give each task N GPUs of its node (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, ZE_AFFINITY_MASK); no two running tasks share a GPU")
    ("gpus", po::value(&c.resources.gpus), "the node's GPUs, e.g. 0,1,2,3 (default: CUDA_VISIBLE_DEVICES, SLURM_STEP_GPUS, SLURM_JOB_GPUS, else /dev/nvidia*)")
    ("task-time", po::value(&c.farm.task_time), "seconds a task is expected to take when the journal has no earlier attempt of it (for --deadline)");
  // clang-format on
  po::options_description hidden;
  hidden.add_options()("taskfile", po::value(&c.taskfile));
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("taskfile", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << visible << '\n';
    std::exit(0);
  }
  if (c.taskfile.empty()) throw po::error("missing TASKFILE");
  c.farm.taskfile = c.taskfile;
  if (c.farm.retry_failed && !c.farm.resume) throw po::error("--retry-failed needs --resume");
  if (c.farm.timeout_seconds < 0) throw po::error("--timeout must not be negative");
  if (c.farm.grace_seconds < 0) throw po::error("--grace must not be negative");
  if (c.farm.retries < 0) throw po::error("--retries must not be negative");
  if (c.farm.task_time < 0) throw po::error("--task-time must not be negative");
  if (c.resources.cpus_per_task < 0) throw po::error("--cpus-per-task must not be negative");
  if (c.resources.gpus_per_task < 0) throw po::error("--gpus-per-task must not be negative");
  if (!c.farm.deadline.empty()) {
    try {
      rr::parse_deadline(c.farm.deadline,
                         rr::unix_now());  // the root reads it again when it starts
    } catch (const rr::deadline_error& e) {
      throw po::error(e.what());
    }
  }
  if (c.farm.journal_path.empty()) {
    c.farm.journal_path = c.taskfile == "-" ? "rankpool.journal" : c.taskfile + ".journal";
  }
  return c;
}

std::vector<rr::task> read_tasks(const std::string& path) {
  if (path == "-") return rr::parse_taskfile(std::cin, "<stdin>");
  std::ifstream in(path);
  if (!in) throw rr::taskfile_error(path + ": cannot open the task file");
  return rr::parse_taskfile(in, path);
}

// --show-status FILE reads a file: no MPI, so it works from a login node.
std::optional<std::string> show_status_path(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--show-status" && i + 1 < argc) return std::string(argv[i + 1]);
    if (arg.rfind("--show-status=", 0) == 0) return arg.substr(14);
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  if (const auto path = show_status_path(argc, argv)) return rr::show_status(*path);
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  command_line cl;
  try {
    cl = parse(argc, argv);
  } catch (const po::error& e) {
    // Every rank parsed the same arguments and fails the same way; one message is enough.
    if (boost::mpi::communicator().rank() == 0) {
      std::cerr << "rankpool-run: " << e.what() << " (see --help)\n";
    }
    return usage_error;
  }
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  std::signal(SIGUSR1, request_drain);
  // After a drain signal, running tasks get --grace seconds, then are stopped.
  std::atomic<bool> finished{false};
  std::thread watch([&] { rr::drain_watch(cl.farm.grace_seconds, finished); });
  struct join_on_exit {
    std::atomic<bool>& finished;
    std::thread& watch;
    ~join_on_exit() {
      finished = true;
      watch.join();
    }
  } joiner{finished, watch};

  // Collective: the ranks of each node share their table of core and GPU slots.
  std::unique_ptr<rr::node_resources> resources;
  try {
    resources = std::make_unique<rr::node_resources>(cl.resources);
  } catch (const std::runtime_error& e) {
    if (boost::mpi::communicator().rank() == 0) std::cerr << "rankpool-run: " << e.what() << '\n';
    return usage_error;
  }
  rr::task_resources = resources.get();

  rankpool::options opts;
  opts.window = 1;  // a task waits on the root, not behind a long task on a busy worker
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return 0;  // workers: served tasks until the root finished

  try {
    const auto tasks = read_tasks(cl.taskfile);
    return rr::run_farm(pool, tasks, cl.farm);
  } catch (const rr::taskfile_error& e) {
    std::cerr << "rankpool-run: " << e.what() << '\n';
    return usage_error;
  } catch (const std::exception& e) {
    std::cerr << "rankpool-run: " << e.what() << '\n';
    return usage_error;
  }
}
