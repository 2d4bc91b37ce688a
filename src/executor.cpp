#include "rankpool/executor.hpp"

#include "local/local_core.hpp"
#include "mpi/spawn.hpp"
#include "root/executor_core.hpp"
#include "root/loop_scheduler.hpp"
#include "worker/run_call.hpp"
#include "worker/worker_loop.hpp"

#include <boost/mpi/collectives/broadcast.hpp>
#include <boost/mpi/collectives/gather.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

namespace rankpool {
namespace {

// A call's time limit: zero (none) or a positive duration a clock can hold.
void check_call_timeout(std::chrono::duration<double> timeout, const char* what) {
  if (timeout.count() < 0 || !(timeout.count() < 1e12)) {
    throw std::invalid_argument(std::string("rankpool: ") + what +
                                " must be zero (no limit) or a positive duration, got " +
                                std::to_string(timeout.count()) + " s");
  }
}

// This rank's options on their own.
void validate(const options& opts, int size) {
  if (opts.window < 1) {
    throw std::invalid_argument("rankpool: options.window must be at least 1, got " +
                                std::to_string(opts.window));
  }
  if (opts.root < 0 || opts.root >= size) {
    throw std::invalid_argument("rankpool: options.root must be a rank of the communicator (0.." +
                                std::to_string(size - 1) + "), got " + std::to_string(opts.root));
  }
  if (opts.local_workers < 0) {
    throw std::invalid_argument(
        "rankpool: options.local_workers must be 0 (one per core) or more, got " +
        std::to_string(opts.local_workers));
  }
  check_call_timeout(opts.call_timeout, "options.call_timeout");
  if (opts.isolation != isolation::process &&
      (opts.call_timeout.count() > 0 || opts.call_memory_limit > 0)) {
    throw std::invalid_argument(
        "rankpool: options.call_timeout and options.call_memory_limit need "
        "options.isolation = rankpool::isolation::process (a call can only be stopped in a "
        "call process)");
  }
  if (opts.max_message_bytes == 0 || opts.max_message_bytes > static_cast<std::size_t>(INT_MAX)) {
    throw std::invalid_argument("rankpool: options.max_message_bytes must be in 1..INT_MAX, got " +
                                std::to_string(opts.max_message_bytes));
  }
}

// Collective over `comm`, before any other: options that are invalid on
// some ranks only (or roots that differ) would otherwise let the ranks that
// accept them wait forever in MPI_Comm_dup for those that threw. Every rank
// throws the same std::invalid_argument instead. One small allreduce when
// the options are fine.
void validate_on_every_rank(const boost::mpi::communicator& comm, const options& opts) {
  std::string error;
  try {
    validate(opts, comm.size());
  } catch (const std::invalid_argument& e) {
    error = e.what();
  }
  // max of {size - rank if invalid, root, -root}: the lowest invalid rank and
  // the range of roots (clamped: an out-of-range root is already an error).
  const int root = std::clamp(opts.root, -1, comm.size());
  int local[3] = {error.empty() ? 0 : comm.size() - comm.rank(), root, -root};
  int all[3] = {0, 0, 0};
  MPI_Allreduce(local, all, 3, MPI_INT, MPI_MAX, comm);
  if (all[0] > 0) {
    const int first = comm.size() - all[0];
    boost::mpi::broadcast(comm, error, first);
    throw std::invalid_argument(error + " (in the options of rank " + std::to_string(first) + ")");
  }
  if (all[1] != -all[2]) {
    throw std::invalid_argument("rankpool: options.root differs between ranks (from " +
                                std::to_string(-all[2]) + " to " + std::to_string(all[1]) +
                                "); pass the same options on every rank");
  }
}

int local_thread_count(const options& opts) {
  if (opts.local_workers > 0) return opts.local_workers;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

void require_mpi() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    throw std::logic_error(
        "rankpool: MPI is not initialized; create a boost::mpi::environment before the executor");
  }
}

}  // namespace

executor::executor(const boost::mpi::communicator& comm, options opts) : comm_(comm) {
  require_mpi();
  // A process started by executor::spawn(): its first executor serves the
  // parent's pool (whatever communicator it names), then is false.
  if (detail::take_parent()) {
    detail::serve_parent();
    return;
  }
  validate_on_every_rank(comm, opts);
  isolation_ = opts.isolation;
  call_timeout_ = opts.call_timeout;
  call_memory_limit_ = opts.call_memory_limit;
  const char* stats_env = std::getenv("RANKPOOL_STATS");
  print_stats_ = opts.print_stats || (stats_env != nullptr && std::strcmp(stats_env, "1") == 0);
  if (comm.size() == 1) {
    max_workers_ = local_thread_count(opts);
    core_ = detail::make_local_core(opts, max_workers_);
    is_root_ = true;
    return;
  }
  // A private duplicate: the executor's messages never mix with the application's.
  boost::mpi::communicator own(comm, boost::mpi::comm_duplicate);
  MPI_Comm_set_errhandler(own, MPI_ERRORS_RETURN);
  max_workers_ = comm.size() - 1;
  remote_workers_ = true;
  // Each rank's host, for stats(): one small gather, once.
  std::vector<std::string> hosts;
  boost::mpi::gather(own, detail::this_host(), hosts, opts.root);
  if (comm.rank() == opts.root) {
    core_ = detail::make_loop_scheduler(own, opts, std::move(hosts));
    is_root_ = true;
  } else {
    detail::run_worker(own, opts);
  }
}

executor executor::spawn(int workers, options opts, std::string program,
                         std::vector<std::string> args) {
  require_mpi();
  if (detail::take_parent()) {  // a spawned copy of this program reached the same call
    detail::serve_parent();
    return executor(served_tag{});
  }
  opts.root = 0;
  validate(opts, workers + 1);  // before any process starts: the workers would throw too
  auto spawned = detail::spawn_workers(workers, opts, program, args);
  return executor(std::move(spawned), std::move(opts));
}

executor::executor(detail::spawned_pool pool, options opts) : executor(pool.comm, std::move(opts)) {
  spawned_ = std::move(pool.link);
}

void executor::release_spawned() {
  if (!spawned_) return;
  if (core_) final_stats_ = core_->stats();
  core_.reset();  // frees the executor's duplicate of the pool's communicator
  comm_ = boost::mpi::communicator();
  spawned_.reset();  // MPI_Comm_disconnect, with the released workers
}

void serve() {
  require_mpi();
  if (!detail::take_parent()) {
    throw std::logic_error(
        "rankpool::serve(): this process was not started by rankpool::executor::spawn() (or "
        "has served its pool already)");
  }
  detail::serve_parent();
}

executor& executor::operator=(executor&& other) noexcept {
  if (this != &other) {
    if (core_) core_->shutdown(true, false);
    print_stats_once();
    release_spawned();
    comm_ = std::move(other.comm_);
    core_ = std::move(other.core_);
    is_root_ = other.is_root_;
    max_workers_ = other.max_workers_;
    remote_workers_ = other.remote_workers_;
    isolation_ = other.isolation_;
    call_timeout_ = other.call_timeout_;
    call_memory_limit_ = other.call_memory_limit_;
    print_stats_ = other.print_stats_;
    spawned_ = std::move(other.spawned_);
    final_stats_ = std::move(other.final_stats_);
    other.is_root_ = false;
    other.print_stats_ = false;
  }
  return *this;
}

executor::~executor() {
  if (core_) core_->shutdown(true, false);
  print_stats_once();
  release_spawned();
}

void executor::shutdown(bool wait, bool cancel_futures) {
  if (core_) core_->shutdown(wait, cancel_futures);
  if (wait) {
    print_stats_once();
    release_spawned();
  }
}

pool_stats executor::stats() const {
  if (core_) return core_->stats();
  if (final_stats_) return *final_stats_;
  throw std::runtime_error("rankpool: stats() on a worker rank; only the root has them");
}

// The table at shutdown, once, where options::print_stats or RANKPOOL_STATS=1 asks for it.
void executor::print_stats_once() {
  if (!print_stats_ || !core_) return;
  print_stats_ = false;
  std::cerr << "rankpool: pool statistics at shutdown\n" << core_->stats().table() << std::flush;
}

std::optional<detail::wire::call_limits> executor::call_limits_of(const call_options& c) const {
  if (!c.timeout && !c.memory_limit) return std::nullopt;
  const auto timeout = c.timeout.value_or(call_timeout_);
  const auto memory = c.memory_limit.value_or(call_memory_limit_);
  check_call_timeout(timeout, "call_options.timeout");
  if (isolation_ != isolation::process && (timeout.count() > 0 || memory > 0)) {
    throw std::invalid_argument(
        "rankpool: submit_with() limits need a pool made with options.isolation = "
        "rankpool::isolation::process");
  }
  return detail::wire::call_limits{detail::wire::limit_us(timeout), memory};
}

void executor::check_chunksize(std::size_t chunksize, const char* what) {
  if (chunksize == 0) {
    throw std::invalid_argument(std::string("rankpool: ") + what + " chunksize must be at least 1");
  }
  if (chunksize > UINT32_MAX) {
    throw std::invalid_argument(std::string("rankpool: ") + what + " chunksize is too large");
  }
}

std::optional<std::chrono::steady_clock::time_point> executor::deadline_after(
    std::chrono::duration<double> timeout, const char* what) {
  if (std::isnan(timeout.count())) {
    throw std::invalid_argument(std::string("rankpool: ") + what +
                                " timeout must be a duration, got NaN seconds");
  }
  // About 30 years: a limit no job reaches, and far from the clock's overflow.
  if (timeout.count() > 1e9) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(std::max(timeout.count(), -1e9)));
}

void executor::enqueue_state(std::shared_ptr<detail::state_base> state, std::string item) {
  if (!core_ && final_stats_) throw std::runtime_error("rankpool: cannot submit after shutdown()");
  if (!core_) {
    throw std::runtime_error(
        "rankpool: submit() on a worker rank; only the root (where the executor is true) submits");
  }
  core_->submit(std::move(state), std::move(item));
}

void executor::enqueue_on(const std::weak_ptr<detail::executor_core>& core,
                          std::shared_ptr<detail::state_base> state, std::string item) {
  const auto live = core.lock();
  if (!live) {
    throw std::runtime_error(
        "rankpool: the pool was destroyed (a then(pool, g) or imap() call "
        "came after its end)");
  }
  live->submit(std::move(state), std::move(item));
}

detail::driver* executor::loop_driver() const noexcept {
  return core_.get();
}

void executor::bulk_step() {
  if (core_ && core_->background()) core_->progress();  // without one, submit already steps
}

std::weak_ptr<detail::driver> executor::progress_driver() const {
  // Every kind of core: an MPI core is stepped by its waiters; a local core
  // has nothing to step (progress() is false), but its waiters still spin
  // briefly before blocking, which spares a futex wake-up for quick calls.
  if (!core_) return {};
  return core_;
}

}  // namespace rankpool
