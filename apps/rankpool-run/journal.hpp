// The journal: JSON Lines, one object per finished attempt, appended by the
// root with one write() per record before it decides what to run next, so a
// run killed at any moment leaves every recorded attempt intact. The last
// record of a task is its state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace rankpool::run {

struct record {
  std::uint64_t task = 0;
  std::uint64_t line = 0;
  std::string command;
  std::string status;  // "ok", "failed" or "timeout"
  int exit_code = 0;
  std::optional<int> signal;
  double start = 0;
  double end = 0;
  std::string host;
  int rank = 0;
  std::optional<std::int64_t> repeat_index;  // REPEAT tasks: part of the identity
};

std::string to_json_line(const record& r);  // with the trailing newline
// Throws std::invalid_argument for a line that is not a complete record.
record from_json_line(const std::string& line);

struct journal_state {
  std::unordered_map<std::uint64_t, record> last;  // by task id
  std::size_t records = 0;
  std::size_t torn_lines = 0;  // unreadable lines (a write cut short by a kill), skipped
};

// A missing file is an empty journal.
journal_state read_journal(const std::string& path);

class journal_writer {
 public:
  // Opens for appending; if a kill left a torn last line, ends it first so
  // the next record starts on a line of its own.
  journal_writer(const std::string& path, bool sync_each_record);
  journal_writer(const journal_writer&) = delete;
  journal_writer& operator=(const journal_writer&) = delete;
  ~journal_writer();
  void append(const record& r);

 private:
  std::string path_;
  int fd_ = -1;
  bool sync_;
};

}  // namespace rankpool::run
