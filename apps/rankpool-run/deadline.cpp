#include "deadline.hpp"

#include "run_command.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <regex>
#include <sstream>

namespace rankpool::run {
namespace {

bool plain_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(value);
}

// Local midnight-based clock time: the next HH:MM[:SS] after now.
double next_clock_time(int h, int m, int s, double now) {
  const auto t = static_cast<std::time_t>(now);
  std::tm local{};
  localtime_r(&t, &local);
  local.tm_hour = h;
  local.tm_min = m;
  local.tm_sec = s;
  local.tm_isdst = -1;
  double at = static_cast<double>(std::mktime(&local));
  if (at <= now) {
    local.tm_mday += 1;  // mktime normalises the day
    local.tm_isdst = -1;
    at = static_cast<double>(std::mktime(&local));
  }
  return at;
}

}  // namespace

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double parse_deadline(const std::string& text, double now) {
  double seconds = 0;
  if (plain_number(text, seconds)) {
    if (seconds < 0) throw deadline_error("--deadline: '" + text + "' is negative");
    return now + seconds;
  }
  std::smatch m;
  static const std::regex clock(R"(^(\d{1,2}):(\d{2})(?::(\d{2}))?$)");
  if (std::regex_match(text, m, clock)) {
    const int h = std::stoi(m[1]), mi = std::stoi(m[2]), s = m[3].matched ? std::stoi(m[3]) : 0;
    if (h > 23 || mi > 59 || s > 59)
      throw deadline_error("--deadline: '" + text + "' is no clock time");
    return next_clock_time(h, mi, s, now);
  }
  static const std::regex iso(
      R"(^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2})?$)");
  if (std::regex_match(text, m, iso)) {
    std::tm tm{};
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = m[6].matched ? std::stoi(m[6]) : 0;
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60) {
      throw deadline_error("--deadline: '" + text + "' is no valid date and time");
    }
    if (!m[7].matched) {
      tm.tm_isdst = -1;
      return static_cast<double>(std::mktime(&tm));
    }
    double at = static_cast<double>(timegm(&tm));
    const std::string zone = m[7];
    if (zone != "Z") {
      const std::string digits = std::regex_replace(zone.substr(1), std::regex(":"), "");
      const int offset =
          std::stoi(digits.substr(0, 2)) * 3600 + std::stoi(digits.substr(2, 2)) * 60;
      at -= zone[0] == '+' ? offset : -offset;
    }
    return at;
  }
  throw deadline_error("--deadline: cannot read '" + text +
                       "' (seconds from now like 3600, a clock time like 14:30, or an ISO 8601 "
                       "time like 2026-11-30T14:30:00Z)");
}

std::optional<allocation_end> scheduler_end() {
  double at = 0;
  if (const char* end = std::getenv("SLURM_JOB_END_TIME"); end && plain_number(end, at) && at > 0) {
    return allocation_end{at, "SLURM_JOB_END_TIME"};
  }
  const char* job = std::getenv("SLURM_JOB_ID");
  if (job == nullptr || std::string(job).find_first_not_of("0123456789_") != std::string::npos) {
    return std::nullopt;
  }
  // %e is the job's end time: its start plus its time limit (as the epoch with
  // SLURM_TIME_FORMAT=%s).
  spawn_request ask;
  ask.command = std::string("squeue -h -j ") + job + " -o %e";
  ask.env = {"SLURM_TIME_FORMAT=%s"};
  ask.timeout_seconds = 10;
  try {
    auto answer = run_command(ask);
    while (!answer.out.empty() && std::isspace(static_cast<unsigned char>(answer.out.back()))) {
      answer.out.pop_back();
    }
    if (answer.exit_code == 0 && plain_number(answer.out, at) && at > 0) {
      return allocation_end{at, "squeue"};
    }
  } catch (const std::exception&) {
    // no squeue: no known end
  }
  return std::nullopt;
}

std::string describe_time(double at, double now) {
  const auto t = static_cast<std::time_t>(at);
  std::tm local{};
  localtime_r(&t, &local);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  std::ostringstream out;
  out << text << ", in " << static_cast<long long>(std::llround(at - now)) << " s";
  return out.str();
}

}  // namespace rankpool::run
