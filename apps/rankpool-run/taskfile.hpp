// The task file of rankpool-run: one bash command per line, with
// #RANKPOOL directives. Parsed completely before anything runs, so a
// malformed file is a usage error naming the file and line.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rankpool::run {

struct task {
  std::uint64_t id = 0;    // 0-based position among the file's tasks: stable across runs
  std::uint64_t line = 0;  // 1-based line of the command (or of its REPEAT directive)
  std::string command;     // with PREFIX and SUFFIX applied
  std::optional<std::int64_t> repeat_index;  // RANKPOOL_REPEAT_INDEX for REPEAT tasks
  std::uint32_t phase = 0;  // tasks of phase p+1 start after every task of phase p ended (BARRIER)
};

class taskfile_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws taskfile_error("FILE:LINE: what is wrong").
std::vector<task> parse_taskfile(std::istream& in, const std::string& filename);

}  // namespace rankpool::run
