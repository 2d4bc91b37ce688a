// What the task farm shows a person: see farm_report.hpp.
#include "farm_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>

namespace rankpool::run {
namespace {

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

constexpr const char* clear_line = "\r\033[K";

}  // namespace

void farm_tally::took(double seconds, std::size_t index) {
  task_seconds += seconds;
  slowest.emplace_back(seconds, index);
  std::sort(slowest.begin(), slowest.end(), std::greater<>());
  if (slowest.size() > 5) slowest.pop_back();
}

void farm_report::output(std::uint64_t id, const task_outcome& outcome) const {
  if (progress_) std::cerr << clear_line << std::flush;  // clear the bar before output
  std::cout.flush();
  print_block(1, outcome.out, tag_, id);
  print_block(2, outcome.err, tag_, id);
}

void farm_report::message(const std::string& line) const {
  std::cerr << (progress_ ? clear_line : "") << line << '\n';
}

void farm_report::progress(std::size_t to_run, std::size_t running) {
  if (!progress_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  if (!first_draw_) first_draw_ = now;
  const std::size_t finished = tally.finished();
  const double elapsed = std::chrono::duration<double>(now - *first_draw_).count();
  const double rate = elapsed > 0 ? static_cast<double>(finished) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(to_run - finished) / rate : 0;
  const int width = 30;
  const int filled = to_run ? static_cast<int>(width * finished / to_run) : width;
  char line[256];
  std::snprintf(line, sizeof line,
                "%s[%s%s] %zu/%zu done, %zu failed, %zu running | %.1f tasks/s | ETA %.0fs",
                clear_line, std::string(static_cast<std::size_t>(filled), '#').c_str(),
                std::string(static_cast<std::size_t>(width - filled), '.').c_str(), finished,
                to_run, tally.failed + tally.timeout, running, rate, eta);
  std::cerr << line << std::flush;
}

void farm_report::summary(const std::vector<task>& tasks, const farm_ending& e) const {
  if (progress_) std::cerr << '\n';
  const std::size_t not_run = e.to_run - tally.finished();
  const double capacity = e.wall * e.workers;
  std::fprintf(stderr,
               "rankpool-run: %zu tasks: %zu ok, %zu failed, %zu timeout, %zu skipped (journal: "
               "%zu of them not ok), %zu not run, %zu retried attempts\n"
               "rankpool-run: wall %.2f s, task time %.2f s, %d workers %.1f%% busy\n",
               tasks.size(), tally.ok, tally.failed, tally.timeout, tally.skipped, e.skipped_failed,
               not_run, tally.retried, e.wall, tally.task_seconds, e.workers,
               capacity > 0 ? 100.0 * tally.task_seconds / capacity : 0.0);
  if (e.no_time > 0) {
    std::fprintf(stderr,
                 "rankpool-run: %zu not started: not enough time left in the allocation (it "
                 "ends %s, from %s); run again with --resume to finish them\n",
                 e.no_time, describe_time(e.end->at, unix_now()).c_str(), e.end->source.c_str());
  }
  if (e.drained) {
    std::fprintf(stderr,
                 "rankpool-run: %zu not started: the farm was asked to drain (SIGUSR1); run "
                 "again with --resume to finish them\n",
                 not_run - e.no_time);
  }
  for (std::size_t k = 0; k < tally.slowest.size() && k < 3 && tasks.size() > 1; ++k) {
    const auto& [seconds, index] = tally.slowest[k];
    const auto& t = tasks[index];
    std::fprintf(stderr, "rankpool-run:   slowest: task %llu (line %llu) %.2f s: %.60s\n",
                 static_cast<unsigned long long>(t.id), static_cast<unsigned long long>(t.line),
                 seconds, t.command.c_str());
  }
}

}  // namespace rankpool::run
