// rankpool-run's pieces without MPI: task file parsing, the journal,
// running commands, and output files renamed into place.
#include "journal.hpp"
#include "run_command.hpp"
#include "staged_file.hpp"
#include "taskfile.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace rr = rankpool::run;
using namespace std::chrono_literals;

namespace {

std::vector<rr::task> parse(const std::string& text) {
  std::istringstream in(text);
  return rr::parse_taskfile(in, "tasks.txt");
}

std::string parse_error(const std::string& text) {
  try {
    parse(text);
  } catch (const rr::taskfile_error& e) {
    return e.what();
  }
  return "no error";
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "rankpool-run-" + std::to_string(::getpid()) + "-" + name;
}

}  // namespace

TEST(taskfile, commands_comments_and_blank_lines) {
  const auto tasks = parse("# comment\n\necho a\n   echo b  \n#RANKPOOL BARRIER\necho c\n");
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].command, "echo a");
  EXPECT_EQ(tasks[0].line, 3u);
  EXPECT_EQ(tasks[1].command, "echo b");
  EXPECT_EQ(tasks[1].id, 1u);
  EXPECT_EQ(tasks[2].phase, tasks[1].phase + 1);
}

TEST(taskfile, prefix_suffix_and_repeat) {
  const auto tasks = parse(
      "#RANKPOOL PREFIX cd /data &&\n"
      "#RANKPOOL SUFFIX > /dev/null\n"
      "#RANKPOOL REPEAT 3 start 10 step 5 ./sim $RANKPOOL_REPEAT_INDEX\n"
      "#RANKPOOL PREFIX\n"
      "#RANKPOOL SUFFIX\n"
      "plain\n");
  ASSERT_EQ(tasks.size(), 4u);
  EXPECT_EQ(tasks[0].command, "cd /data && ./sim $RANKPOOL_REPEAT_INDEX > /dev/null");
  EXPECT_EQ(*tasks[0].repeat_index, 10);
  EXPECT_EQ(*tasks[2].repeat_index, 20);
  EXPECT_EQ(tasks[2].line, 3u);
  EXPECT_EQ(tasks[3].command, "plain");
  EXPECT_FALSE(tasks[3].repeat_index);
  EXPECT_EQ(tasks[3].id, 3u);
}

TEST(taskfile, barriers_only_split_where_tasks_exist) {
  const auto tasks = parse("#RANKPOOL BARRIER\na\n#RANKPOOL BARRIER\n#RANKPOOL BARRIER\nb\n");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].phase, 0u);
  EXPECT_EQ(tasks[1].phase, 1u);
}

TEST(taskfile, malformed_directives_name_file_and_line) {
  EXPECT_EQ(parse_error("ok\n#RANKPOOL REPEAT x echo\n"),
            "tasks.txt:2: REPEAT count must be an integer, got 'x'");
  EXPECT_EQ(parse_error("#RANKPOOL REPEAT 3\n"),
            "tasks.txt:1: REPEAT needs a command after its count");
  EXPECT_EQ(parse_error("#RANKPOOL REPEAT -1 x\n"),
            "tasks.txt:1: REPEAT count must not be negative");
  EXPECT_EQ(parse_error("a\nb\n#RANKPOOL REPEAT 2 step z cmd\n"),
            "tasks.txt:3: REPEAT step must be an integer, got 'z'");
  EXPECT_EQ(parse_error("#RANKPOOL BARRIER now\n"), "tasks.txt:1: BARRIER takes no arguments");
  EXPECT_NE(parse_error("#RANKPOOL BOGUS\n").find("tasks.txt:1: unknown directive"),
            std::string::npos);
  EXPECT_NE(parse_error("#RANKPOOLX\n").find("tasks.txt:1: unknown directive"), std::string::npos);
}

TEST(journal, records_round_trip_and_torn_lines_are_skipped) {
  const auto path = temp_path("journal");
  std::remove(path.c_str());
  rr::record a{0, 2,           "echo \"quoted\" \\ tab\t", "ok", 0, std::nullopt, 1.5, 2.5, "node1",
               1, std::nullopt};
  rr::record b{1, 3, "sleep 9", "timeout", 143, 15, 3, 4, "node2", 2, 7};
  {
    rr::journal_writer w(path, false);
    w.append(a);
    w.append(b);
  }
  {
    std::ofstream torn(path, std::ios::app);
    torn << R"({"task":0,"line":2,"comm)";  // a write cut short by a kill
  }
  {
    rr::journal_writer w(path, true);  // must start the next record on a fresh line
    a.status = "failed";
    a.exit_code = 1;
    w.append(a);
  }
  const auto state = rr::read_journal(path);
  EXPECT_EQ(state.records, 3u);
  EXPECT_EQ(state.torn_lines, 1u);
  ASSERT_EQ(state.last.size(), 2u);
  EXPECT_EQ(state.last.at(0).status, "failed");  // the last record wins
  EXPECT_EQ(state.last.at(0).command, "echo \"quoted\" \\ tab\t");
  EXPECT_EQ(state.last.at(1).signal, 15);
  EXPECT_EQ(state.last.at(1).host, "node2");
  EXPECT_EQ(state.last.at(1).repeat_index, 7);
  std::remove(path.c_str());
}

TEST(journal, a_missing_file_is_an_empty_journal) {
  const auto state = rr::read_journal(temp_path("does-not-exist"));
  EXPECT_EQ(state.records, 0u);
  EXPECT_TRUE(state.last.empty());
}

TEST(spawn, exit_status_output_and_environment) {
  rr::spawn_request req;
  req.command = "echo out $FOO; echo err >&2; exit 3";
  req.env = {"FOO=bar"};
  const auto r = rr::run_command(req);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.signal);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "out bar\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_GE(r.end, r.start);
}

TEST(spawn, large_output_is_captured_whole) {
  rr::spawn_request req;
  req.command = "head -c 3000000 /dev/zero | tr '\\0' x";
  const auto r = rr::run_command(req);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), 3000000u);
}

TEST(spawn, timeout_sends_term_then_kill_to_the_whole_group) {
  rr::spawn_request req;
  req.command = "trap '' TERM; sleep 30 & sleep 30; wait";
  req.timeout_seconds = 0.2;
  req.grace_seconds = 0.2;
  const auto start = std::chrono::steady_clock::now();
  const auto r = rr::run_command(req);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_TRUE(r.timed_out);
  ASSERT_TRUE(r.signal);
  EXPECT_EQ(*r.signal, 9);  // TERM was ignored, so KILL ended it
  EXPECT_EQ(r.exit_code, 128 + 9);
}

TEST(spawn, stop_flag_ends_the_command) {
  rr::spawn_request req;
  req.command = "sleep 30";
  std::atomic<bool> stop{true};
  const auto r = rr::run_command(req, &stop);
  EXPECT_FALSE(r.timed_out);
  ASSERT_TRUE(r.signal);
  EXPECT_EQ(*r.signal, 15);
}

TEST(spawn, output_files) {
  rr::spawn_request req;
  req.command = "echo to-file; echo to-err >&2";
  req.stdout_path = temp_path("out");
  req.stderr_path = temp_path("err");
  const auto r = rr::run_command(req);
  EXPECT_TRUE(r.out.empty());
  std::ifstream out(req.stdout_path), err(req.stderr_path);
  std::string line;
  std::getline(out, line);
  EXPECT_EQ(line, "to-file");
  std::getline(err, line);
  EXPECT_EQ(line, "to-err");
  std::remove(req.stdout_path.c_str());
  std::remove(req.stderr_path.c_str());
}

namespace {

std::string file_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool file_exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST(staged_file, commit_replaces_the_whole_file_and_a_drop_keeps_the_old_one) {
  const auto path = temp_path("staged");
  write_text(path, "old\n");
  {
    rr::staged_file f(path);
    EXPECT_NE(f.temp_path(), path);
    write_text(f.temp_path(), "new\n");
    EXPECT_EQ(file_text(path), "old\n");  // nothing visible before the commit
    f.commit(false);
    EXPECT_FALSE(file_exists(f.temp_path()));
  }
  EXPECT_EQ(file_text(path), "new\n");
  std::string temp;
  {
    rr::staged_file f(path);
    temp = f.temp_path();
    write_text(temp, "part");
  }  // dropped: an interrupted attempt
  EXPECT_EQ(file_text(path), "new\n");
  EXPECT_FALSE(file_exists(temp));
  std::remove(path.c_str());
}

TEST(staged_file, stale_temporaries_go_and_an_unwritten_file_commits_empty) {
  const auto path = temp_path("staged-empty");
  std::string temp;
  {
    rr::staged_file probe(path);
    temp = probe.temp_path();
  }
  write_text(temp, "left by a killed run");
  rr::staged_file f(path);
  EXPECT_FALSE(file_exists(temp));  // a fresh file for the next writer
  f.commit(true);                   // durable: fsync of the file and the directory
  EXPECT_TRUE(file_exists(path));
  EXPECT_EQ(file_text(path), "");
  std::remove(path.c_str());
}
