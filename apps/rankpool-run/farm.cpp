#include "farm.hpp"

#include "deadline.hpp"
#include "resources.hpp"
#include "run_command.hpp"
#include "staged_file.hpp"
#include "status.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

RANKPOOL_REGISTER(rankpool::run::run_task);

namespace rankpool::run {

std::atomic<bool> stop_requested{false};
std::atomic<bool> drain_requested{false};

void request_drain() noexcept {
  drain_requested = true;
}

void drain_watch(double grace_seconds, const std::atomic<bool>& done) {
  std::optional<std::chrono::steady_clock::time_point> since;
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!drain_requested) continue;
    const auto now = std::chrono::steady_clock::now();
    if (!since) since = now;
    if (now - *since >= std::chrono::duration<double>(grace_seconds)) stop_requested = true;
  }
}

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

namespace {

using clock = std::chrono::steady_clock;

// Completed calls, handed from done-callbacks (any thread) to the root's loop.
class completions {
 public:
  void push(std::uint64_t slot) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      slots_.push_back(slot);
    }
    cv_.notify_one();
  }
  std::optional<std::uint64_t> pop(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [this] { return !slots_.empty(); })) return std::nullopt;
    const auto slot = slots_.front();
    slots_.pop_front();
    return slot;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::uint64_t> slots_;
};

struct attempt {
  std::size_t task_index = 0;
  int number = 1;
  rankpool::future<task_outcome> future;
};

struct stats {
  std::size_t ok = 0, failed = 0, timeout = 0, skipped = 0, retried = 0;
  double task_seconds = 0;
  std::vector<std::pair<double, std::size_t>> slowest;  // (seconds, task index)
};

// Writes a task's output as one block per stream, each with a single write,
// so blocks of different tasks never interleave.
void print_block(int fd, const std::string& text, bool tag, std::uint64_t id) {
  if (text.empty()) return;
  std::string block;
  if (tag) {
    const std::string prefix = "[" + std::to_string(id) + "] ";
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) block += prefix + line + "\n";
  } else {
    block = text;
    if (block.back() != '\n') block += '\n';
  }
  std::size_t done = 0;
  while (done < block.size()) {
    const ssize_t n = ::write(fd, block.data() + done, block.size() - done);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

class farm {
 public:
  farm(rankpool::executor& pool, const std::vector<task>& tasks, const farm_options& opts,
       std::optional<allocation_end> end)
      : pool_(pool),
        tasks_(tasks),
        opts_(opts),
        journal_(opts.journal_path, opts.sync_journal),
        end_(std::move(end)) {
    show_progress_ = opts.progress || ::isatty(2);
  }

  int run(const journal_state& before) {
    const auto started = clock::now();
    started_unix_ = unix_now();
    // A task's last attempt in the journal says how long it takes.
    for (const auto& t : tasks_) {
      const auto it = before.last.find(t.id);
      if (it != before.last.end() && it->second.command == t.command) {
        known_seconds_[t.id] = std::max(0.0, it->second.end - it->second.start);
      }
    }
    std::vector<std::vector<std::size_t>> phases;
    for (std::size_t i = 0; i < tasks_.size(); ++i) {
      const auto& t = tasks_[i];
      if (phases.size() <= t.phase) phases.resize(t.phase + 1);
      if (already_done(before, t)) {
        ++stats_.skipped;
        if (before.last.at(t.id).status != "ok") ++skipped_failed_;
      } else {
        phases[t.phase].push_back(i);
        ++to_run_;
      }
    }
    for (const auto& phase : phases) {
      run_phase(phase);
      if (stopping_) break;
    }
    update_status(true);
    if (show_progress_) std::cerr << '\n';
    summary(std::chrono::duration<double>(clock::now() - started).count());
    const bool all_ok = stats_.failed == 0 && stats_.timeout == 0 && !stopping_ &&
                        stats_.ok == to_run_ && skipped_failed_ == 0;
    return all_ok ? 0 : 1;
  }

 private:
  bool already_done(const journal_state& before, const task& t) const {
    if (!opts_.resume) return false;
    const auto it = before.last.find(t.id);
    if (it == before.last.end() || it->second.command != t.command ||
        it->second.repeat_index != t.repeat_index) {
      return false;
    }
    if (it->second.status == "ok") return true;
    return !opts_.retry_failed;  // failed or timed out: re-run only when asked
  }

  void run_phase(const std::vector<std::size_t>& phase) {
    std::deque<std::pair<std::size_t, int>> queue;  // (task index, attempt number)
    for (auto i : phase) queue.emplace_back(i, 1);
    // Keep a few calls queued beyond the workers, so a worker that frees up
    // is fed by the executor at once; they stay cancellable until then.
    const std::size_t ahead = static_cast<std::size_t>(pool_.max_workers()) * 2;
    while (!queue.empty() || !in_flight_.empty()) {
      if (stop_requested && !stopping_) stop("rankpool-run: stopping on a signal");
      if (drain_requested && !stopping_) {
        drained_ = true;
        stop("rankpool-run: draining (SIGUSR1): no new tasks; running ones may take " +
             std::to_string(opts_.grace_seconds) + " s more");
      }
      while (!stopping_ && !queue.empty() && in_flight_.size() < ahead) {
        const auto [index, number] = queue.front();
        queue.pop_front();
        const double latest = latest_start(index);
        if (latest > 0 && unix_now() > latest) {
          ++no_time_;  // cannot end before the allocation does: left for a --resume
          continue;
        }
        submit(index, number, latest);
      }
      if (stopping_) queue.clear();
      if (in_flight_.empty()) continue;
      const auto slot = done_->pop(std::chrono::milliseconds(200));
      if (slot) finish(*slot, queue);
      draw_progress();
      update_status(false);
    }
  }

  // The last moment task `index` may start and still end, with --grace to
  // spare, before the allocation does; 0 without a known end. Its length:
  // its own last attempt in the journal, else --task-time, else the longest
  // task of this run so far.
  double latest_start(std::size_t index) const {
    if (!end_) return 0;
    const auto it = known_seconds_.find(tasks_[index].id);
    double expected = it != known_seconds_.end() ? it->second : opts_.task_time;
    if (it == known_seconds_.end() && expected <= 0 && !stats_.slowest.empty()) {
      expected = stats_.slowest.front().first;
    }
    return end_->at - opts_.grace_seconds - expected;
  }

  void submit(std::size_t index, int number, double latest) {
    const auto& t = tasks_[index];
    task_request request;
    request.id = t.id;
    request.line = t.line;
    request.command = t.command;
    request.has_repeat_index = t.repeat_index.has_value();
    request.repeat_index = t.repeat_index.value_or(0);
    request.timeout_seconds = opts_.timeout_seconds;
    request.grace_seconds = opts_.grace_seconds;
    request.output_dir = opts_.output_dir;
    request.sync_outputs = opts_.sync_journal;
    request.nworkers = pool_.max_workers();
    request.latest_start = latest;
    request.report_start = !opts_.status_path.empty();
    const auto slot = next_slot_++;
    auto f = pool_.submit(run_task, request);
    in_flight_.emplace(slot, attempt{index, number, f});
    // The callback owns the queue it pushes to: it may still be returning
    // from push() when the farm has already taken the slot and ended.
    f.add_done_callback(
        [done = done_, slot](const rankpool::future<task_outcome>&) { done->push(slot); });
  }

  void finish(std::uint64_t slot, std::deque<std::pair<std::size_t, int>>& queue) {
    const auto it = in_flight_.find(slot);
    if (it == in_flight_.end()) return;
    const attempt a = it->second;
    in_flight_.erase(it);
    starts_.erase(tasks_[a.task_index].id);
    if (a.future.cancelled()) return;  // never started: not an attempt
    const auto& t = tasks_[a.task_index];
    task_outcome outcome;
    try {
      outcome = a.future.get();
    } catch (const std::exception& e) {
      // The worker could not run the command at all (e.g. no /bin/bash).
      outcome.status = "failed";
      outcome.exit_code = 127;
      outcome.err = std::string(e.what()) + "\n";
    }
    if (outcome.status == "interrupted") {  // not an attempt: --resume runs it again
      print_output(t, outcome);
      return;
    }
    if (outcome.status == "no_time") {  // reached a worker too late: not an attempt either
      ++no_time_;
      return;
    }
    std::optional<int> signal;
    if (outcome.signal >= 0) signal = outcome.signal;
    const record r{t.id,          t.line,        t.command,   outcome.status, outcome.exit_code,
                   signal,        outcome.start, outcome.end, outcome.host,   outcome.rank,
                   t.repeat_index};
    journal_.append(r);  // recorded before anything else is decided
    print_output(t, outcome);
    account(a, outcome, queue);
  }

  void print_output(const task& t, const task_outcome& outcome) {
    if (show_progress_) std::cerr << "\r\033[K" << std::flush;  // clear the bar before output
    std::cout.flush();
    print_block(1, outcome.out, opts_.tag, t.id);
    print_block(2, outcome.err, opts_.tag, t.id);
  }

  void account(const attempt& a, const task_outcome& outcome,
               std::deque<std::pair<std::size_t, int>>& queue) {
    const double seconds = std::max(0.0, outcome.end - outcome.start);
    stats_.task_seconds += seconds;
    stats_.slowest.emplace_back(seconds, a.task_index);
    std::sort(stats_.slowest.begin(), stats_.slowest.end(), std::greater<>());
    if (stats_.slowest.size() > 5) stats_.slowest.pop_back();
    if (outcome.status == "ok") {
      ++stats_.ok;
      return;
    }
    if (a.number <= opts_.retries && !stopping_) {
      ++stats_.retried;
      queue.emplace_front(a.task_index, a.number + 1);
      return;
    }
    ++(outcome.status == "timeout" ? stats_.timeout : stats_.failed);
    if (opts_.fail_fast && !stopping_) {
      stop("rankpool-run: --fail-fast: task " + std::to_string(tasks_[a.task_index].id) +
           " (line " + std::to_string(tasks_[a.task_index].line) + ") " + outcome.status +
           "; letting running tasks finish");
    }
  }

  // Stops dispatching; calls not yet on a worker are cancelled (not recorded,
  // so a --resume runs them), running ones finish and are recorded.
  void stop(const std::string& why) {
    stopping_ = true;
    std::cerr << (show_progress_ ? "\r\033[K" : "") << why << '\n';
    for (auto& entry : in_flight_) entry.second.future.cancel();
  }

  void draw_progress() {
    if (!show_progress_) return;
    const auto now = clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    const std::size_t finished = stats_.ok + stats_.failed + stats_.timeout;
    const double elapsed = std::chrono::duration<double>(now - first_draw()).count();
    const double rate = elapsed > 0 ? static_cast<double>(finished) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(to_run_ - finished) / rate : 0;
    const int width = 30;
    const int filled = to_run_ ? static_cast<int>(width * finished / to_run_) : width;
    char line[256];
    std::snprintf(line, sizeof line,
                  "\r\033[K[%s%s] %zu/%zu done, %zu failed, %zu running | %.1f tasks/s | ETA %.0fs",
                  std::string(static_cast<std::size_t>(filled), '#').c_str(),
                  std::string(static_cast<std::size_t>(width - filled), '.').c_str(), finished,
                  to_run_, stats_.failed + stats_.timeout,
                  std::min(in_flight_.size(), static_cast<std::size_t>(pool_.max_workers())), rate,
                  eta);
    std::cerr << line << std::flush;
  }

  // --status: rewrites the snapshot about once a second (and at the end).
  void update_status(bool force) {
    if (opts_.status_path.empty()) return;
    collect_starts(starts_);
    const auto now = clock::now();
    if (!force && now - last_status_ < std::chrono::seconds(1)) return;
    last_status_ = now;
    status_snapshot s;
    s.taskfile = opts_.taskfile;
    s.total = tasks_.size();
    s.ok = stats_.ok;
    s.failed = stats_.failed;
    s.timeout = stats_.timeout;
    s.skipped = stats_.skipped;
    s.not_started_no_time = no_time_;
    s.workers = pool_.max_workers();
    s.started = started_unix_;
    for (const auto& [slot, a] : in_flight_) {
      const auto& t = tasks_[a.task_index];
      const auto where = starts_.find(t.id);
      if (where == starts_.end() && !a.future.running()) continue;  // still queued
      running_task r{t.id, t.line, t.command, std::nullopt};
      if (where != starts_.end()) r.where = where->second;
      s.running.push_back(std::move(r));
    }
    std::sort(s.running.begin(), s.running.end(),
              [](const running_task& a, const running_task& b) { return a.id < b.id; });
    const std::size_t finished = stats_.ok + stats_.failed + stats_.timeout;
    const std::size_t ended = finished + no_time_ + s.running.size();
    s.queued = to_run_ > ended && !stopping_ ? to_run_ - ended : 0;
    const double elapsed = unix_now() - started_unix_;
    s.tasks_per_s = elapsed > 0 ? static_cast<double>(finished) / elapsed : 0;
    if (s.tasks_per_s > 0) {
      s.eta_s = static_cast<double>(s.queued + s.running.size()) / s.tasks_per_s;
    }
    if (end_) s.allocation_end = end_->at;
    write_status(opts_.status_path, s);
  }

  clock::time_point first_draw() {
    if (!progress_start_) progress_start_ = clock::now();
    return *progress_start_;
  }

  void summary(double wall) const {
    const std::size_t not_run = to_run_ - stats_.ok - stats_.failed - stats_.timeout;
    const double capacity = wall * pool_.max_workers();
    std::fprintf(stderr,
                 "rankpool-run: %zu tasks: %zu ok, %zu failed, %zu timeout, %zu skipped (journal: "
                 "%zu of them not ok), %zu not run, %zu retried attempts\n"
                 "rankpool-run: wall %.2f s, task time %.2f s, %d workers %.1f%% busy\n",
                 tasks_.size(), stats_.ok, stats_.failed, stats_.timeout, stats_.skipped,
                 skipped_failed_, not_run, stats_.retried, wall, stats_.task_seconds,
                 pool_.max_workers(), capacity > 0 ? 100.0 * stats_.task_seconds / capacity : 0.0);
    if (no_time_ > 0) {
      std::fprintf(stderr,
                   "rankpool-run: %zu not started: not enough time left in the allocation (it "
                   "ends %s, from %s); run again with --resume to finish them\n",
                   no_time_, describe_time(end_->at, unix_now()).c_str(), end_->source.c_str());
    }
    if (drained_) {
      std::fprintf(stderr,
                   "rankpool-run: %zu not started: the farm was asked to drain (SIGUSR1); run "
                   "again with --resume to finish them\n",
                   not_run - no_time_);
    }
    for (std::size_t k = 0; k < stats_.slowest.size() && k < 3 && tasks_.size() > 1; ++k) {
      const auto& [seconds, index] = stats_.slowest[k];
      const auto& t = tasks_[index];
      std::fprintf(stderr, "rankpool-run:   slowest: task %llu (line %llu) %.2f s: %.60s\n",
                   static_cast<unsigned long long>(t.id), static_cast<unsigned long long>(t.line),
                   seconds, t.command.c_str());
    }
  }

  rankpool::executor& pool_;
  const std::vector<task>& tasks_;
  const farm_options& opts_;
  journal_writer journal_;
  std::shared_ptr<completions> done_ = std::make_shared<completions>();
  std::unordered_map<std::uint64_t, attempt> in_flight_;
  std::uint64_t next_slot_ = 0;
  std::size_t to_run_ = 0;
  std::size_t skipped_failed_ = 0;
  std::optional<allocation_end> end_;
  std::unordered_map<std::uint64_t, double> known_seconds_;  // by task id, from the journal
  std::size_t no_time_ = 0;  // tasks not started: they could not end before end_
  std::unordered_map<std::uint64_t, task_start> starts_;  // running tasks, by id (--status)
  clock::time_point last_status_{};
  double started_unix_ = 0;
  bool drained_ = false;
  bool stopping_ = false;
  bool show_progress_ = false;
  stats stats_;
  clock::time_point last_draw_{};
  std::optional<clock::time_point> progress_start_;
};

}  // namespace

int run_farm(rankpool::executor& pool, const std::vector<task>& tasks, const farm_options& opts) {
  if (!opts.output_dir.empty()) std::filesystem::create_directories(opts.output_dir);
  const auto before = read_journal(opts.journal_path);
  if (before.torn_lines > 0) {
    std::cerr << "rankpool-run: skipped " << before.torn_lines << " unreadable line(s) in "
              << opts.journal_path << " (a record cut short by a kill)\n";
  }
  std::optional<allocation_end> end;
  if (!opts.deadline.empty()) {
    end = allocation_end{parse_deadline(opts.deadline, unix_now()), "--deadline"};
  } else {
    end = scheduler_end();
  }
  if (end) {
    std::cerr << "rankpool-run: the allocation ends " << describe_time(end->at, unix_now())
              << " (from " << end->source << "); tasks that cannot end by then are not started\n";
  }
  farm f(pool, tasks, opts, end);
  return f.run(before);
}

}  // namespace rankpool::run
