#include "taskfile.hpp"

#include <charconv>
#include <sstream>

namespace rankpool::run {
namespace {

constexpr std::string_view directive_mark = "#RANKPOOL";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// Splits off the first whitespace-separated word.
std::string_view next_word(std::string_view& rest) {
  rest = trim(rest);
  const auto end = rest.find_first_of(" \t");
  const auto word = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  return word;
}

class parser {
 public:
  explicit parser(std::string filename) : filename_(std::move(filename)) {}

  void line(std::uint64_t number, std::string_view text) {
    number_ = number;
    const auto body = trim(text);
    if (body.empty()) return;
    if (body.substr(0, directive_mark.size()) == directive_mark) {
      directive(body.substr(directive_mark.size()));
    } else if (body.front() != '#') {
      add(std::string(body), std::nullopt);
    }
  }

  std::vector<task> take() { return std::move(tasks_); }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw taskfile_error(filename_ + ":" + std::to_string(number_) + ": " + what);
  }

  std::int64_t integer(std::string_view word, const char* what) const {
    std::int64_t value = 0;
    const auto* end = word.data() + word.size();
    const auto [ptr, ec] = std::from_chars(word.data(), end, value);
    if (word.empty() || ec != std::errc() || ptr != end) {
      fail(std::string(what) + " must be an integer, got '" + std::string(word) + "'");
    }
    return value;
  }

  void directive(std::string_view rest) {
    if (!rest.empty() && rest.front() != ' ' && rest.front() != '\t') {
      fail("unknown directive '#RANKPOOL" + std::string(next_word(rest)) + "'");
    }
    const auto name = next_word(rest);
    if (name == "PREFIX") {
      prefix_ = std::string(trim(rest));
    } else if (name == "SUFFIX") {
      suffix_ = std::string(trim(rest));
    } else if (name == "BARRIER") {
      if (!trim(rest).empty()) fail("BARRIER takes no arguments");
      if (!tasks_.empty() && tasks_.back().phase == phase_) ++phase_;
    } else if (name == "REPEAT") {
      repeat(rest);
    } else {
      fail("unknown directive '#RANKPOOL " + std::string(name) +
           "' (expected PREFIX, SUFFIX, REPEAT or BARRIER)");
    }
  }

  // REPEAT n [start s] [step k] command
  void repeat(std::string_view rest) {
    const auto count = integer(next_word(rest), "REPEAT count");
    if (count < 0) fail("REPEAT count must not be negative");
    std::int64_t start = 0;
    std::int64_t step = 1;
    for (;;) {
      auto peek = rest;
      const auto word = next_word(peek);
      if (word == "start") {
        rest = peek;
        start = integer(next_word(rest), "REPEAT start");
      } else if (word == "step") {
        rest = peek;
        step = integer(next_word(rest), "REPEAT step");
      } else {
        break;
      }
    }
    const auto command = trim(rest);
    if (command.empty()) fail("REPEAT needs a command after its count");
    for (std::int64_t i = 0; i < count; ++i) add(std::string(command), start + i * step);
  }

  void add(std::string command, std::optional<std::int64_t> repeat_index) {
    std::string full = prefix_;
    if (!full.empty()) full += ' ';
    full += command;
    if (!suffix_.empty()) full += ' ' + suffix_;
    tasks_.push_back(task{tasks_.size(), number_, std::move(full), repeat_index, phase_});
  }

  std::string filename_;
  std::uint64_t number_ = 0;
  std::string prefix_;
  std::string suffix_;
  std::uint32_t phase_ = 0;
  std::vector<task> tasks_;
};

}  // namespace

std::vector<task> parse_taskfile(std::istream& in, const std::string& filename) {
  parser p(filename);
  std::string text;
  std::uint64_t number = 0;
  while (std::getline(in, text)) p.line(++number, text);
  if (in.bad()) throw taskfile_error(filename + ": read error");
  return p.take();
}

}  // namespace rankpool::run
