// Item 8 of the reliability issue: the executor opens no listening sockets
// of its own (MPI's are the only ones), and a worker runs nothing from the
// wire but callables registered under the exact name it receives.
// Elsewhere: unit/run_call_test.cpp (run_call.failures_become_error_outcomes:
// an unknown name becomes an error result), unit/wire_test.cpp (truncated,
// oversized, invalid and random wire bytes are decode errors, never
// crashes), unit/value_codec_test.cpp (lengths checked before allocating),
// the wire fuzzer (tests/fuzz) and mpi/communicators_test.cpp
// (communicators.workers_survive_garbage_on_the_executor_communicator).
#include "mpi/test_calls.hpp"
#include "support/call_items.hpp"
#include "support/proc_stats.hpp"
#include "wire/wire.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <mpi.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>

namespace security_calls {

// This process's listening sockets before it joined the executor, taken on
// every rank by the test, so a call can report what a worker added since.
std::set<std::string> baseline;
int canary_runs = 0;

// Listening sockets of this process that were not there at the baseline.
std::set<std::string> listeners_added() {
  std::set<std::string> added;
  for (const auto& s : proc_stats::listening_sockets()) {
    if (baseline.count(s) == 0) added.insert(s);
  }
  return added;
}

std::pair<int, std::set<std::string>> sockets_added_on_this_worker() {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));  // lets other workers take some
  return {calls::world_rank(), listeners_added()};
}

int canary(int x) {
  ++canary_runs;
  return x + 1;
}

int canary_count() {
  return canary_runs;
}

}  // namespace security_calls

RANKPOOL_REGISTER(security_calls::sockets_added_on_this_worker);
RANKPOOL_REGISTER(security_calls::canary);
RANKPOOL_REGISTER(security_calls::canary_count);

namespace {

namespace wire = rankpool::detail::wire;

// MPI may open connections (and listeners) lazily on first traffic between
// two ranks: exchange some over plain MPI first, so what remains to be seen
// is the executor's alone.
void warm_up_mpi(const boost::mpi::communicator& world) {
  boost::mpi::communicator dup(world, boost::mpi::comm_duplicate);
  std::vector<int> all;
  boost::mpi::all_gather(dup, dup.rank(), all);
  std::vector<char> big(1 << 20, 'x');
  for (int r = 0; r < dup.size(); ++r) {
    if (r == dup.rank()) continue;
    std::vector<char> back;
    dup.sendrecv(r, 7, big, r, 7, back);
  }
  dup.barrier();
}

std::string describe(const std::set<std::string>& sockets) {
  std::string text;
  for (const auto& s : sockets) text += "\n  " + s;
  return text.empty() ? " none" : text;
}

// Each worker's report, from inside a call, of the listeners it added since
// its baseline (rounds of calls until every worker has answered, or 20 s).
std::map<int, std::set<std::string>> worker_reports(rankpool::executor& pool, int workers) {
  std::map<int, std::set<std::string>> reports;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (static_cast<int>(reports.size()) < workers &&
         std::chrono::steady_clock::now() < deadline) {
    std::vector<rankpool::future<std::pair<int, std::set<std::string>>>> fs;
    for (int i = 0; i < 4 * pool.max_workers(); ++i)
      fs.push_back(pool.submit(security_calls::sockets_added_on_this_worker));
    for (auto& f : fs) reports[f.get().first] = f.get().second;
  }
  return reports;
}

// Closes a descriptor at the end of the scope.
class fd_closer {
 public:
  explicit fd_closer(int fd) : fd_(fd) {}
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;
  ~fd_closer() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

// The census below must not pass for want of seeing anything: it finds a
// TCP listener, a bound UDP socket and a listening unix socket of our own.
TEST(security, the_socket_census_sees_listeners_of_every_kind) {
  const auto before = proc_stats::listening_sockets();
  {
    fd_closer tcp(::socket(AF_INET, SOCK_STREAM, 0));
    fd_closer udp(::socket(AF_INET6, SOCK_DGRAM, 0));
    fd_closer local(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_in loop4{};
    loop4.sin_family = AF_INET;
    loop4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sockaddr_in6 loop6{};
    loop6.sin6_family = AF_INET6;
    loop6.sin6_addr = in6addr_loopback;
    sockaddr_un name{};
    name.sun_family = AF_UNIX;
    const std::string abstract = "rankpool-census-" + std::to_string(getpid());
    std::memcpy(name.sun_path + 1, abstract.data(), abstract.size());  // abstract: no file
    const auto name_size =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
    ASSERT_EQ(::bind(tcp.get(), reinterpret_cast<sockaddr*>(&loop4), sizeof loop4), 0);
    ASSERT_EQ(::listen(tcp.get(), 1), 0);
    ASSERT_EQ(::bind(udp.get(), reinterpret_cast<sockaddr*>(&loop6), sizeof loop6), 0);
    ASSERT_EQ(::bind(local.get(), reinterpret_cast<sockaddr*>(&name), name_size), 0);
    ASSERT_EQ(::listen(local.get(), 1), 0);
    std::set<std::string> kinds;
    for (const auto& s : proc_stats::listening_sockets()) {
      if (before.count(s) == 0) kinds.insert(s.substr(0, s.find(' ')));
    }
    EXPECT_EQ(kinds, (std::set<std::string>{"tcp", "udp6", "unix"}));
  }
  EXPECT_EQ(proc_stats::listening_sockets(), before);
}

TEST(security, the_executor_opens_no_listening_sockets) {
  boost::mpi::communicator world;
  warm_up_mpi(world);
  security_calls::baseline = proc_stats::listening_sockets();
  const auto sockets_before = proc_stats::socket_inodes();
  {
    rankpool::executor pool(world);
    if (pool) {
      // Traffic of every kind and size, then each worker reports, while it
      // serves, what it has added since the baseline.
      std::vector<char> big(4 << 20, 'y');
      EXPECT_EQ(pool.submit(calls::byte_count, big).get(), big.size());
      EXPECT_EQ(pool.map(calls::square, std::vector<int>(500, 3), 10).get().size(), 500u);
      const auto reports = worker_reports(pool, std::max(1, world.size() - 1));
      EXPECT_EQ(static_cast<int>(reports.size()), std::max(1, world.size() - 1));
      for (const auto& [rank, added] : reports) {
        EXPECT_TRUE(added.empty()) << "rank " << rank << " listens on" << describe(added);
      }
      // The root, with its management loop (and thread) running.
      const auto root_added = security_calls::listeners_added();
      EXPECT_TRUE(root_added.empty()) << "the root listens on" << describe(root_added);
    }
  }
  // Afterwards, on every rank: no listener added, and no socket of any kind left open.
  const auto added = security_calls::listeners_added();
  EXPECT_TRUE(added.empty()) << "rank " << world.rank() << " listens on" << describe(added);
  const auto sockets_after = proc_stats::socket_inodes();
  EXPECT_TRUE(std::includes(sockets_before.begin(), sockets_before.end(), sockets_after.begin(),
                            sockets_after.end()))
      << "rank " << world.rank() << " has " << sockets_after.size() << " sockets, had "
      << sockets_before.size();
  if (world.rank() == 0) {
    std::cout << "[ figures  ] rank 0: " << sockets_before.size()
              << " sockets before and after the executor; listening, all MPI's:"
              << describe(security_calls::baseline) << "\n";
  }
}

// Plays the root by hand over the executor's wire (its private duplicate of
// the communicator and its tags) to send a worker call items naming things
// that are not registered, near-misses of a registered name, and shell text
// as arguments. Each comes back as an error naming the problem or as plain
// data, and the canary call runs only when named exactly.
class fake_root {
 public:
  // The same collectives as the executor's constructor on the workers: the
  // options agreement (default options: valid, root 0), then the duplicate.
  explicit fake_root(const boost::mpi::communicator& world)
      : own_(agree_on_default_options(world), boost::mpi::comm_duplicate) {}
  ~fake_root() {
    for (int r = 1; r < own_.size(); ++r) MPI_Send(nullptr, 0, MPI_BYTE, r, wire::stop_tag, own_);
  }

  // Sends one call item to worker rank 1; returns (ok, result payload).
  std::pair<bool, std::string> call(const std::string& name, const std::string& payload) {
    std::string message;
    test_support::append_call(message, {next_id_++, 0, 1, name, payload});
    MPI_Send(message.data(), static_cast<int>(message.size()), MPI_BYTE, 1, wire::call_tag, own_);
    // Bounded: a worker that dropped the item would otherwise hang the test.
    MPI_Status status;
    int arrived = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!arrived) {
      MPI_Iprobe(1, wire::result_tag, own_, &arrived, &status);
      if (!arrived && std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("no reply from worker 1 to a call of '" + name + "'");
      if (!arrived) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    int size = 0;
    MPI_Get_count(&status, MPI_BYTE, &size);
    std::string reply(static_cast<std::size_t>(size), '\0');
    MPI_Recv(reply.data(), size, MPI_BYTE, 1, wire::result_tag, own_, MPI_STATUS_IGNORE);
    const auto result = wire::reader(reply).next_result();
    return {result.ok(), std::string(result.payload)};
  }

  std::string error_message(const std::string& name, const std::string& payload) {
    const auto [ok, reply] = call(name, payload);
    return ok ? std::string("(it ran)") : wire::decode_error_info(reply).message;
  }

 private:
  static const boost::mpi::communicator& agree_on_default_options(
      const boost::mpi::communicator& world) {
    int local[3] = {0, 0, 0};  // {no error, root 0, -root 0}: see validate_on_every_rank
    int all[3] = {0, 0, 0};
    MPI_Allreduce(local, all, 3, MPI_INT, MPI_MAX, world);
    return world;
  }

  boost::mpi::communicator own_;
  std::uint64_t next_id_ = 1;
};

template <class R, class... P, class... A>
std::string arguments(R (*f)(P...), A&&... args) {
  std::string payload;
  rankpool::detail::save_call(payload, f, std::forward<A>(args)...);
  return payload;
}

TEST(security, workers_run_only_callables_registered_under_the_exact_name) {
  boost::mpi::communicator world;
  if (world.size() == 1) GTEST_SKIP() << "no worker ranks";
  if (world.rank() != 0) {
    rankpool::executor pool(world);  // serves until the fake root's stop
    return;
  }
  namespace rd = rankpool::detail;
  fake_root root(world);
  const std::string exact = "security_calls::canary";
  const auto one = arguments(&security_calls::canary, 1);
  for (const std::string& name :
       {std::string("system"), std::string("/bin/sh"), std::string("execve"), exact + " ",
        " " + exact, std::string("SECURITY_CALLS::CANARY"), exact.substr(0, exact.size() - 1),
        exact + std::string(1, '\0'), exact + "; touch /tmp/rankpool-pwned", std::string()}) {
    EXPECT_NE(root.error_message(name, one).find("no callable is registered"), std::string::npos)
        << "'" << name << "'";
  }
  // Arguments too short for the canary's int fail to decode; it does not run.
  EXPECT_NE(root.error_message(exact, "$(").find("could not decode the arguments"),
            std::string::npos);
  // Shell text as a string argument is data: greet() returns it, nothing runs it.
  const std::string marker = "/tmp/rankpool-security-" + std::to_string(getpid());
  const std::string text = "$(touch " + marker + "); `touch " + marker + "`";
  const auto [greet_ok, greeting] = root.call("calls::greet", arguments(&calls::greet, text));
  ASSERT_TRUE(greet_ok);
  EXPECT_EQ(rd::decode_result<std::string>(greeting), "hello " + text);
  EXPECT_FALSE(std::filesystem::exists(marker));
  // Nothing above reached the canary; its exact name does.
  const auto count = [&] {
    return rd::decode_result<int>(root.call("security_calls::canary_count", "").second);
  };
  EXPECT_EQ(count(), 0);
  const auto [canary_ok, canary_reply] = root.call(exact, arguments(&security_calls::canary, 41));
  ASSERT_TRUE(canary_ok);
  EXPECT_EQ(rd::decode_result<int>(canary_reply), 42);
  EXPECT_EQ(count(), 1);
}
