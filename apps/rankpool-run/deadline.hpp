// When the allocation ends, so that the farm starts only tasks that can
// finish before it: from --deadline, else the scheduler.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace rankpool::run {

class deadline_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// --deadline's value as unix seconds: a plain number is seconds from `now`
// ("3600", "90.5"); a clock time "14:30" or "14:30:15" is the next such local
// time (today, or tomorrow if it has passed); an ISO 8601 time
// "2026-11-30T14:30[:15]" is local time, with "Z" or "+01:00" UTC or that
// offset. Throws deadline_error naming what it could not read.
double parse_deadline(const std::string& text, double now);

// Where the allocation's end came from, and when it is (unix seconds).
struct allocation_end {
  double at = 0;
  std::string source;  // "--deadline", "SLURM_JOB_END_TIME", "squeue"
};

// The end of the scheduler's allocation: SLURM_JOB_END_TIME, else squeue for
// SLURM_JOB_ID (Slurm 22.05 sets no end time in the environment). None
// outside a Slurm job, or if squeue cannot tell.
std::optional<allocation_end> scheduler_end();

// Unix seconds now.
double unix_now();

// "2026-11-30 14:30:15, in 1234 s" for messages.
std::string describe_time(double at, double now);

}  // namespace rankpool::run
