// Checks meant for a run across several hosts (tests/multihost/run.sh starts
// them as network namespaces): every call comes back intact from workers on
// more than one host, including payloads past the TCP transport's eager limit
// (64 KiB) and a failing call, whose remote_error names the host it ran on.
//
// RANKPOOL_MULTIHOST_EXPECT_HOSTS=<n> (on rank 0) requires exactly n distinct
// hosts among the root and its workers; without it at least 2 are required.
#include <rankpool/rankpool.hpp>

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace multihost {

std::string hostname() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0) return "unknown-host";
  return buffer;
}

int world_rank() {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// What a worker sends back: where it ran, and what it computed.
struct reply {
  std::string host;
  int rank = -1;
  std::uint64_t value = 0;
  std::vector<char> bytes;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& host& rank& value& bytes;
  }
};

// FNV-1a: a cheap checksum that notices a lost, duplicated or reordered byte.
std::uint64_t checksum(const std::vector<char>& bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<char> pattern(std::size_t size, unsigned seed) {
  std::vector<char> bytes(size);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : bytes) {
    x = x * 1664525u + 1013904223u;  // LCG: every byte depends on position and seed
    b = static_cast<char>(x >> 24);
  }
  return bytes;
}

// Sleeps first so that, with one call per worker slot, every worker gets one.
reply where(int sleep_ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  return reply{hostname(), world_rank(), 0, {}};
}

reply square(std::uint64_t x) {
  return reply{hostname(), world_rank(), x * x, {}};
}

// The payload both ways: its checksum as received, and the bytes back.
reply echo(std::vector<char> bytes) {
  const std::uint64_t sum = checksum(bytes);
  return reply{hostname(), world_rank(), sum, std::move(bytes)};
}

// A large result from a small request.
reply make(std::uint64_t size, unsigned seed) {
  return reply{hostname(), world_rank(), 0, pattern(size, seed)};
}

reply fail(int index) {
  throw std::runtime_error("call " + std::to_string(index) + " failed on purpose");
}

// Isolated calls: one that dies of SIGABRT, one that never returns.
reply aborts(int) {
  std::abort();
}
reply spins(int) {
  for (volatile unsigned long n = 0;; n = n + 1) {
  }
}

}  // namespace multihost

RANKPOOL_REGISTER(multihost::where);
RANKPOOL_REGISTER(multihost::square);
RANKPOOL_REGISTER(multihost::echo);
RANKPOOL_REGISTER(multihost::make);
RANKPOOL_REGISTER(multihost::fail);
RANKPOOL_REGISTER(multihost::aborts);
RANKPOOL_REGISTER(multihost::spins);

namespace {

using multihost::reply;

std::size_t required_hosts() {
  const char* text = std::getenv("RANKPOOL_MULTIHOST_EXPECT_HOSTS");
  return text != nullptr && *text != '\0' ? std::stoul(text) : 0;
}

// rank -> host of every worker, learnt by one call per worker (window 1 and a
// one-second sleep, so all of them are handed out before any returns, even on a
// loaded machine).
std::map<int, std::string> worker_hosts() {
  rankpool::options opts;
  opts.window = 1;
  rankpool::executor pool(boost::mpi::communicator(), opts);
  std::map<int, std::string> hosts;
  if (!pool) return hosts;
  std::vector<rankpool::future<reply>> futures;
  for (int i = 0; i < pool.max_workers(); ++i)
    futures.push_back(pool.submit(multihost::where, 1000));
  for (auto& f : futures) {
    const reply r = f.get();
    hosts[r.rank] = r.host;
  }
  return hosts;
}

TEST(multihost, workers_run_on_several_hosts) {
  const auto hosts = worker_hosts();
  if (boost::mpi::communicator().rank() != 0) return;
  const int size = boost::mpi::communicator().size();
  ASSERT_GT(size, 1) << "run with several ranks across hosts";
  EXPECT_EQ(hosts.size(), static_cast<std::size_t>(size - 1)) << "every worker ran one call";

  std::set<std::string> distinct{multihost::hostname()};
  std::cout << "[ hosts    ] rank 0 (root) on " << multihost::hostname() << '\n';
  for (const auto& [rank, host] : hosts) {
    std::cout << "[ hosts    ] rank " << rank << " on " << host << '\n';
    distinct.insert(host);
  }
  std::cout << "[ hosts    ] " << distinct.size() << " distinct hosts:";
  for (const auto& h : distinct) std::cout << ' ' << h;
  std::cout << std::endl;

  if (const std::size_t expected = required_hosts(); expected > 0) {
    EXPECT_EQ(distinct.size(), expected);
  } else {
    EXPECT_GE(distinct.size(), 2u);
  }
}

TEST(multihost, many_calls_large_payloads_and_an_error_come_back_intact) {
  rankpool::executor pool;
  if (!pool) return;

  // Mostly small calls; every 50th carries a payload of a size around and well
  // past 64 KiB (the TCP BTL's eager limit: larger messages take the
  // rendezvous protocol), every 97th asks for a large result, and one fails.
  const std::vector<std::size_t> sizes{
      65535, 65536, 65537, 200000, std::size_t{1} << 20, std::size_t{8} << 20};
  constexpr int calls = 3000;
  constexpr int failing = 1234;
  struct expected {
    enum { square, echo, make, fail } kind;
    std::uint64_t value;
    std::size_t size;
    unsigned seed;
  };
  std::vector<expected> plan;
  std::vector<rankpool::future<reply>> futures;
  std::size_t payload_bytes = 0;
  for (int i = 0; i < calls; ++i) {
    const auto seed = static_cast<unsigned>(i);
    if (i == failing) {
      plan.push_back({expected::fail, 0, 0, seed});
      futures.push_back(pool.submit(multihost::fail, i));
    } else if (i % 50 == 0) {
      const std::size_t size = sizes[(i / 50) % sizes.size()];
      auto bytes = multihost::pattern(size, seed);
      plan.push_back({expected::echo, multihost::checksum(bytes), size, seed});
      futures.push_back(pool.submit(multihost::echo, std::move(bytes)));
      payload_bytes += 2 * size;
    } else if (i % 97 == 0) {
      const std::size_t size = sizes[(i / 97) % sizes.size()];
      plan.push_back({expected::make, 0, size, seed});
      futures.push_back(pool.submit(multihost::make, std::uint64_t{size}, seed));
      payload_bytes += size;
    } else {
      plan.push_back({expected::square, std::uint64_t(i) * i, 0, seed});
      futures.push_back(pool.submit(multihost::square, std::uint64_t(i)));
    }
  }

  std::map<std::string, int> calls_per_host;
  std::set<int> worker_ranks;
  for (int i = 0; i < calls; ++i) {
    const expected& want = plan[i];
    if (want.kind == expected::fail) {
      try {
        futures[i].get();
        ADD_FAILURE() << "call " << i << " should have failed";
      } catch (const rankpool::remote_error& e) {
        EXPECT_EQ(std::string(e.what()), "call " + std::to_string(i) + " failed on purpose");
        EXPECT_EQ(e.type_name(), "std::runtime_error");
        EXPECT_NE(e.rank(), 0);
        EXPECT_FALSE(e.host().empty());
        std::cout << "[ error    ] call " << i << " failed on rank " << e.rank() << " on host "
                  << e.host() << ": " << e.what() << std::endl;
        ++calls_per_host[e.host()];
      }
      continue;
    }
    const reply r = futures[i].get();
    ++calls_per_host[r.host];
    worker_ranks.insert(r.rank);
    EXPECT_NE(r.rank, 0) << "call " << i << " ran on the root";
    switch (want.kind) {
      case expected::square:
        EXPECT_EQ(r.value, want.value) << "call " << i;
        break;
      case expected::echo:
        EXPECT_EQ(r.value, want.value) << "call " << i << ": payload of " << want.size
                                       << " bytes arrived changed on " << r.host;
        EXPECT_EQ(r.bytes.size(), want.size) << "call " << i;
        EXPECT_EQ(multihost::checksum(r.bytes), want.value)
            << "call " << i << ": payload changed on the way back from " << r.host;
        break;
      case expected::make:
        EXPECT_EQ(r.bytes, multihost::pattern(want.size, want.seed))
            << "call " << i << ": result of " << want.size << " bytes from " << r.host;
        break;
      case expected::fail:
        break;
    }
  }
  EXPECT_EQ(pool.submit(multihost::square, 12).get().value, 144u) << "the pool still serves";

  std::cout << "[ calls    ] " << calls << " calls, " << (payload_bytes >> 20)
            << " MiB of payload, on " << worker_ranks.size() << " workers:";
  for (const auto& [host, n] : calls_per_host) std::cout << ' ' << host << '=' << n;
  std::cout << std::endl;
  EXPECT_GE(calls_per_host.size(), 2u) << "results came from one host only";
}

// rankpool splits messages larger than max_message_bytes into parts; over TCP
// each part is a separate rendezvous transfer.
TEST(multihost, messages_split_into_parts_cross_hosts) {
  rankpool::options opts;
  opts.max_message_bytes = 256 * 1024;
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  std::vector<rankpool::future<reply>> futures;
  std::vector<std::uint64_t> sums;
  for (int i = 0; i < 2 * pool.max_workers(); ++i) {
    auto bytes = multihost::pattern((std::size_t{3} << 20) + i, static_cast<unsigned>(i));
    sums.push_back(multihost::checksum(bytes));
    futures.push_back(pool.submit(multihost::echo, std::move(bytes)));
  }
  std::set<std::string> hosts;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    const reply r = futures[i].get();
    hosts.insert(r.host);
    EXPECT_EQ(r.value, sums[i]) << "request " << i << " changed on the way to " << r.host;
    EXPECT_EQ(multihost::checksum(r.bytes), sums[i]) << "reply " << i << " from " << r.host;
  }
  std::cout << "[ parts    ] " << futures.size()
            << " round trips of 3 MiB in 256 KiB parts, hosts:";
  for (const auto& h : hosts) std::cout << ' ' << h;
  std::cout << std::endl;
}

}  // namespace

// The crash/timeout subset of isolated calls across hosts: each failure names
// the host it happened on, and every worker, remote ones included, serves on.
TEST(multihost, isolated_calls_crash_and_time_out_on_remote_hosts) {
  rankpool::options opts;
  opts.isolation = rankpool::isolation::process;
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  rankpool::call_options brief;
  brief.timeout = std::chrono::milliseconds(200);
  std::vector<rankpool::future<reply>> crashes, hangs;
  for (int i = 0; i < pool.max_workers(); ++i) {
    crashes.push_back(pool.submit(multihost::aborts, i));
    hangs.push_back(pool.submit_with(brief, multihost::spins, i));
  }
  std::set<std::string> failed_on;
  for (auto& f : crashes) {
    try {
      f.get();
      ADD_FAILURE() << "an aborting call returned";
    } catch (const rankpool::worker_crashed& e) {
      EXPECT_EQ(e.signal(), SIGABRT);
      EXPECT_NE(std::string(e.what()).find("host " + e.host()), std::string::npos) << e.what();
      failed_on.insert(e.host());
    }
  }
  for (auto& f : hangs) {
    try {
      f.get();
      ADD_FAILURE() << "a spinning call returned";
    } catch (const rankpool::call_timed_out& e) {
      failed_on.insert(e.host());
    }
  }
  // One crash and one time-out per worker, most workers on the other hosts:
  // some failure must have happened, and been reported, on a remote host.
  const std::string root_host = multihost::hostname();
  bool remote_failure = false;
  for (const auto& host : failed_on) remote_failure = remote_failure || host != root_host;
  EXPECT_TRUE(remote_failure) << "every failure names the root's host " << root_host;
  // Every worker serves on: the hosts that answer are the hosts of the pool.
  std::set<std::string> serving;
  std::vector<rankpool::future<reply>> after;
  for (int i = 0; i < 4 * pool.max_workers(); ++i)
    after.push_back(pool.submit(multihost::square, i));
  for (int i = 0; i < 4 * pool.max_workers(); ++i) {
    const auto& r = after[static_cast<std::size_t>(i)].get();
    EXPECT_EQ(r.value, static_cast<std::uint64_t>(i) * static_cast<std::uint64_t>(i));
    serving.insert(r.host);
  }
  EXPECT_GE(serving.size(), std::size_t{2});
}
