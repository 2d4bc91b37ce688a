#include "farm.hpp"

#include "deadline.hpp"
#include "farm_report.hpp"
#include "status.hpp"

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

namespace rankpool::run {

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

class farm {
 public:
  farm(rankpool::executor& pool, const std::vector<task>& tasks, const farm_options& opts,
       std::optional<allocation_end> end)
      : pool_(pool),
        tasks_(tasks),
        opts_(opts),
        journal_(opts.journal_path, opts.sync_journal),
        end_(std::move(end)),
        report_(opts.tag, opts.progress || ::isatty(2)) {}

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
        ++report_.tally.skipped;
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
    farm_ending ending;
    ending.wall = std::chrono::duration<double>(clock::now() - started).count();
    ending.workers = pool_.max_workers();
    ending.to_run = to_run_;
    ending.skipped_failed = skipped_failed_;
    ending.no_time = no_time_;
    ending.end = end_;
    ending.drained = drained_;
    report_.summary(tasks_, ending);
    const auto& tally = report_.tally;
    const bool all_ok = tally.failed == 0 && tally.timeout == 0 && !stopping_ &&
                        tally.ok == to_run_ && skipped_failed_ == 0;
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
      report_.progress(to_run_,
                       std::min(in_flight_.size(), static_cast<std::size_t>(pool_.max_workers())));
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
    if (it == known_seconds_.end() && expected <= 0 && !report_.tally.slowest.empty()) {
      expected = report_.tally.slowest.front().first;
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
      report_.output(t.id, outcome);
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
    report_.output(t.id, outcome);
    account(a, outcome, queue);
  }

  void account(const attempt& a, const task_outcome& outcome,
               std::deque<std::pair<std::size_t, int>>& queue) {
    auto& tally = report_.tally;
    tally.took(std::max(0.0, outcome.end - outcome.start), a.task_index);
    if (outcome.status == "ok") {
      ++tally.ok;
      return;
    }
    if (a.number <= opts_.retries && !stopping_) {
      ++tally.retried;
      queue.emplace_front(a.task_index, a.number + 1);
      return;
    }
    ++(outcome.status == "timeout" ? tally.timeout : tally.failed);
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
    report_.message(why);
    for (auto& entry : in_flight_) entry.second.future.cancel();
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
    s.ok = report_.tally.ok;
    s.failed = report_.tally.failed;
    s.timeout = report_.tally.timeout;
    s.skipped = report_.tally.skipped;
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
    const std::size_t finished = report_.tally.finished();
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
  farm_report report_;
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
