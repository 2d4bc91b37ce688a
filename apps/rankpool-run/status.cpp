#include "status.hpp"

#include "deadline.hpp"

#include <mpi.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

namespace rankpool::run {
namespace {

// The tag of start reports on MPI_COMM_WORLD (the executor talks on a
// duplicate, so no message of its own can match it).
constexpr int start_tag = 7401;

std::mutex local_mutex;
std::unordered_map<std::uint64_t, task_start> local_starts;  // one-rank runs

int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

std::string clock_text(double at) {
  const auto t = static_cast<std::time_t>(at);
  std::tm local{};
  localtime_r(&t, &local);
  char text[32];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  return text;
}

}  // namespace

void report_start(std::uint64_t id, const task_start& where) {
  if (world_size() == 1) {
    std::lock_guard<std::mutex> lock(local_mutex);
    local_starts[id] = where;
    return;
  }
  std::ostringstream text;
  text.precision(17);
  text << id << '\t' << where.start << '\t' << where.host;
  const std::string message = text.str();
  // Small: delivered eagerly, so the send returns at once.
  MPI_Send(message.data(), static_cast<int>(message.size()), MPI_CHAR, 0, start_tag,
           MPI_COMM_WORLD);
}

void collect_starts(std::unordered_map<std::uint64_t, task_start>& into) {
  if (world_size() == 1) {
    std::lock_guard<std::mutex> lock(local_mutex);
    for (auto& [id, where] : local_starts) into[id] = where;
    local_starts.clear();
    return;
  }
  for (;;) {
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, start_tag, MPI_COMM_WORLD, &flag, &status);
    if (!flag) return;
    int count = 0;
    MPI_Get_count(&status, MPI_CHAR, &count);
    std::string message(static_cast<std::size_t>(count), '\0');
    MPI_Recv(message.data(), count, MPI_CHAR, status.MPI_SOURCE, start_tag, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    std::istringstream in(message);
    std::uint64_t id = 0;
    task_start where;
    where.rank = status.MPI_SOURCE;
    in >> id >> where.start;
    in.ignore(1);
    std::getline(in, where.host);
    if (in || in.eof()) into[id] = where;
  }
}

void write_status(const std::string& path, const status_snapshot& s) {
  const double now = unix_now();
  nlohmann::ordered_json running = nlohmann::ordered_json::array();
  for (const auto& r : s.running) {
    nlohmann::ordered_json t = {{"task", r.id}, {"line", r.line}, {"command", r.command}};
    if (r.where) {
      t["host"] = r.where->host;
      t["rank"] = r.where->rank;
      t["start"] = r.where->start;
    } else {
      t["host"] = nullptr;
      t["rank"] = nullptr;
      t["start"] = nullptr;
    }
    running.push_back(t);
  }
  nlohmann::ordered_json j = {
      {"updated", now},
      {"taskfile", s.taskfile},
      {"started", s.started},
      {"workers", s.workers},
      {"counts",
       {{"total", s.total},
        {"ok", s.ok},
        {"failed", s.failed},
        {"timeout", s.timeout},
        {"running", s.running.size()},
        {"queued", s.queued},
        {"skipped_journal", s.skipped},
        {"not_started_no_time", s.not_started_no_time}}},
      {"running", running},
      {"tasks_per_s", s.tasks_per_s},
      {"eta_s", s.eta_s ? nlohmann::ordered_json(*s.eta_s) : nlohmann::ordered_json(nullptr)},
      {"allocation_end", s.allocation_end ? nlohmann::ordered_json(*s.allocation_end)
                                          : nlohmann::ordered_json(nullptr)},
      {"time_left_s", s.allocation_end ? nlohmann::ordered_json(*s.allocation_end - now)
                                       : nlohmann::ordered_json(nullptr)}};
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    if (!out) {
      static bool told = false;
      if (!told) std::cerr << "rankpool-run: cannot write the status file " << temp << '\n';
      told = true;
      return;
    }
  }
  std::rename(temp.c_str(), path.c_str());
}

int show_status(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json j;
  try {
    if (!in) throw std::runtime_error("cannot open it");
    in >> j;
    const double now = unix_now();
    const auto& c = j.at("counts");
    std::printf("%s: %s, updated %.0f s ago\n", path.c_str(),
                j.at("taskfile").get<std::string>().c_str(), now - j.at("updated").get<double>());
    std::printf(
        "tasks %zu: %zu ok, %zu failed, %zu timeout, %zu running, %zu queued, "
        "%zu skipped (journal), %zu not started (no time left)\n",
        c.at("total").get<std::size_t>(), c.at("ok").get<std::size_t>(),
        c.at("failed").get<std::size_t>(), c.at("timeout").get<std::size_t>(),
        c.at("running").get<std::size_t>(), c.at("queued").get<std::size_t>(),
        c.at("skipped_journal").get<std::size_t>(), c.at("not_started_no_time").get<std::size_t>());
    std::printf("%d workers, %.2f tasks/s", j.at("workers").get<int>(),
                j.at("tasks_per_s").get<double>());
    if (!j.at("eta_s").is_null()) std::printf(", ETA %.0f s", j.at("eta_s").get<double>());
    if (!j.at("allocation_end").is_null()) {
      std::printf(", allocation ends %s (%.0f s left)",
                  clock_text(j.at("allocation_end").get<double>()).c_str(),
                  j.at("allocation_end").get<double>() - now);
    }
    std::printf("\n");
    const auto& running = j.at("running");
    if (!running.empty()) {
      std::printf("%-8s %-6s %-20s %-6s %-9s %s\n", "task", "line", "host", "rank", "running",
                  "command");
      for (const auto& r : running) {
        const bool known = !r.at("host").is_null();
        char seconds[32] = "?";
        if (known)
          std::snprintf(seconds, sizeof seconds, "%.1f s", now - r.at("start").get<double>());
        std::printf("%-8llu %-6llu %-20s %-6s %-9s %.60s\n",
                    static_cast<unsigned long long>(r.at("task").get<std::uint64_t>()),
                    static_cast<unsigned long long>(r.at("line").get<std::uint64_t>()),
                    known ? r.at("host").get<std::string>().c_str() : "?",
                    known ? std::to_string(r.at("rank").get<int>()).c_str() : "?", seconds,
                    r.at("command").get<std::string>().c_str());
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "rankpool-run: --show-status " << path << ": " << e.what() << '\n';
    return 2;
  }
}

}  // namespace rankpool::run
