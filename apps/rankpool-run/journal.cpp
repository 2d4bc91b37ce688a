#include "journal.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace rankpool::run {

std::string to_json_line(const record& r) {
  nlohmann::ordered_json j = {
      {"task", r.task},           {"line", r.line},    {"command", r.command}, {"status", r.status},
      {"exit_code", r.exit_code}, {"signal", nullptr}, {"start", r.start},     {"end", r.end},
      {"host", r.host},           {"rank", r.rank}};
  if (r.signal) j["signal"] = *r.signal;
  if (r.repeat_index) j["repeat_index"] = *r.repeat_index;
  // Invalid UTF-8 in a command is replaced rather than failing the record.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

record from_json_line(const std::string& line) {
  try {
    const auto j = nlohmann::json::parse(line);
    record r;
    r.task = j.at("task").get<std::uint64_t>();
    r.line = j.at("line").get<std::uint64_t>();
    r.command = j.at("command").get<std::string>();
    r.status = j.at("status").get<std::string>();
    r.exit_code = j.at("exit_code").get<int>();
    if (!j.at("signal").is_null()) r.signal = j.at("signal").get<int>();
    r.start = j.at("start").get<double>();
    r.end = j.at("end").get<double>();
    r.host = j.at("host").get<std::string>();
    r.rank = j.at("rank").get<int>();
    if (j.contains("repeat_index") && !j["repeat_index"].is_null()) {
      r.repeat_index = j["repeat_index"].get<std::int64_t>();
    }
    if (r.status != "ok" && r.status != "failed" && r.status != "timeout") {
      throw std::invalid_argument("unknown status '" + r.status + "'");
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(e.what());
  }
}

journal_state read_journal(const std::string& path) {
  journal_state state;
  std::ifstream in(path);
  if (!in) return state;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      auto r = from_json_line(line);
      const auto id = r.task;
      state.last.insert_or_assign(id, std::move(r));
      ++state.records;
    } catch (const std::invalid_argument&) {
      ++state.torn_lines;
    }
  }
  return state;
}

journal_writer::journal_writer(const std::string& path, bool sync_each_record)
    : path_(path), sync_(sync_each_record) {
  fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "rankpool-run: cannot open journal '" + path + "'");
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    char last = '\n';
    if (::pread(fd_, &last, 1, st.st_size - 1) == 1 && last != '\n') {
      if (::write(fd_, "\n", 1) != 1) {
        throw std::system_error(errno, std::generic_category(),
                                "rankpool-run: cannot write journal '" + path + "'");
      }
    }
  }
}

journal_writer::~journal_writer() {
  if (fd_ >= 0) ::close(fd_);
}

void journal_writer::append(const record& r) {
  // One write() of the whole line: O_APPEND makes it land at the end in one piece.
  const std::string line = to_json_line(r);
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(),
                              "rankpool-run: cannot write journal '" + path_ + "'");
    }
    done += static_cast<std::size_t>(n);
  }
  // A failed sync means the record may not survive a crash: say so rather
  // than let --resume later run the task again unexpectedly.
  if (sync_ && ::fdatasync(fd_) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "rankpool-run: cannot sync journal '" + path_ + "'");
  }
}

}  // namespace rankpool::run
