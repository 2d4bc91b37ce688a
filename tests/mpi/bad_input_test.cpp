// Rows of docs/reliability.md that need an executor: bad input that must
// fail with an error naming what was wrong, after which the same pool still
// serves, and a call that never returns.
#include "mpi/test_calls.hpp"
#include "support/call_items.hpp"
#include "support/executor_access.hpp"
#include "wire/wire.hpp"

#include <gtest/gtest.h>

#include <boost/mpi/communicator.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace bad_input {

// Registered at run time on the root only (register_on_this_rank_only), as
// if the workers ran a build of the program that lacks it.
int root_only(int x) {
  return x + 1;
}

// A type whose loading needs `bytes` of memory, as a container of that size
// would. Saving it is cheap, so the root sends it without trouble.
struct needs_memory_to_load {
  std::uint64_t bytes = 0;
  std::vector<char> data;
  template <class A>
  void save(A& ar, unsigned) const {
    ar << bytes;
  }
  template <class A>
  void load(A& ar, unsigned) {
    ar >> bytes;
    data.resize(bytes);
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

// The mirror image: saving it needs `bytes` of scratch memory (as, say, a
// compressed copy of a huge state would); loading it is cheap.
struct needs_memory_to_save {
  std::uint64_t bytes = 0;
  mutable std::vector<char> scratch;  // kept in the object: the allocation cannot be elided
  template <class A>
  void save(A& ar, unsigned) const {
    scratch.resize(bytes);
    ar << bytes;
  }
  template <class A>
  void load(A& ar, unsigned) {
    ar >> bytes;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};

std::uint64_t take_needing_memory(needs_memory_to_load x) {
  return x.bytes;
}
needs_memory_to_save return_needing_memory(std::uint64_t bytes) {
  return {bytes, {}};
}
needs_memory_to_load return_needing_memory_on_the_root(std::uint64_t bytes) {
  return {bytes, {}};
}
std::uint64_t take_cheap(needs_memory_to_save x) {
  return x.bytes;
}

// Polls until `path` exists, then returns 0: a call that does not return on
// its own, which the test can still release so that the job ends cleanly.
// After 120 s it gives up (returns -1), so a broken test cannot hang forever.
int wait_for_file(const std::string& path) {
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  while (access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > give_up) return -1;
    std::this_thread::sleep_for(10ms);
  }
  return 0;
}

}  // namespace bad_input

RANKPOOL_REGISTER(bad_input::take_needing_memory);
RANKPOOL_REGISTER(bad_input::return_needing_memory);
RANKPOOL_REGISTER(bad_input::return_needing_memory_on_the_root);
RANKPOOL_REGISTER(bad_input::take_cheap);
RANKPOOL_REGISTER(bad_input::wait_for_file);

namespace {

namespace wire = rankpool::detail::wire;

// Sanitizer allocators end the process on an impossible allocation
// (allocation-size-too-big) instead of throwing std::bad_alloc.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized_allocator = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized_allocator = true;
#else
constexpr bool sanitized_allocator = false;
#endif
#else
constexpr bool sanitized_allocator = false;
#endif

// More than any 64-bit Linux process can map (the address space is 128 TiB).
constexpr std::uint64_t one_pebibyte = std::uint64_t{1} << 50;

testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "'" << part << "' not found in:\n" << text;
}

void expect_still_serves(rankpool::executor& pool) {
  EXPECT_EQ(pool.submit(calls::square, 7).get(), 49);
}

void register_on_this_rank_only() {
  namespace rd = rankpool::detail;
  rd::register_function("bad_input::root_only",
                        reinterpret_cast<rd::function_key>(&bad_input::root_only),
                        &rd::invoke_function<&bad_input::root_only>);
}

// Sends stderr (fd 2, where the executor reports dropped messages) to a
// file while alive; text() reads what arrived so far.
class stderr_capture {
 public:
  stderr_capture() {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    FILE* file = std::tmpfile();
    file_ = file;
    dup2(fileno(file), STDERR_FILENO);
  }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  ~stderr_capture() {
    restore();
    std::fclose(file_);
  }
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }
  std::string text() const {
    std::ifstream in("/proc/self/fd/" + std::to_string(fileno(file_)));
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  // Waits (bounded) until every part has arrived; returns the text.
  std::string wait_for(const std::vector<std::string>& parts) const {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      std::string now = text();
      bool all = true;
      for (const auto& p : parts) all = all && now.find(p) != std::string::npos;
      if (all || std::chrono::steady_clock::now() > deadline) return now;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  int saved_ = -1;
  FILE* file_ = nullptr;
};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::string bytes(n, '\0');
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>(i * 131 + seed * 17 + 5);
  return bytes;
}

// A call item cut short: what a worker must drop, naming its size.
std::string truncated_call() {
  std::string item;
  test_support::append_call(item, {77, 0, 1, "calls::square", "xxxx"});
  item.resize(item.size() - 3);
  return item;
}

void send(const boost::mpi::communicator& comm, int dest, int tag, const std::string& bytes) {
  comm.send(dest, tag, bytes.data(), static_cast<int>(bytes.size()));
}

}  // namespace

TEST(bad_input, function_missing_on_the_worker_fails_that_call_naming_it_and_the_rank) {
  boost::mpi::communicator world;
  // One rank runs calls in this very process, which has the function.
  if (world.size() == 1) GTEST_SKIP() << "needs worker ranks";
  if (world.rank() == 0) register_on_this_rank_only();  // no executor runs yet
  rankpool::executor pool(world);
  if (!pool) return;
  std::vector<rankpool::future<int>> fs;  // enough to reach every worker
  for (int i = 0; i < 4 * pool.max_workers(); ++i)
    fs.push_back(pool.submit(bad_input::root_only, i));
  for (auto& f : fs) EXPECT_TRUE(test_support::failed_as_unregistered(f, "bad_input::root_only"));
  expect_still_serves(pool);
}

TEST(bad_input, options_invalid_on_one_rank_only_throw_on_every_rank) {
  boost::mpi::communicator world;
  const int last = world.size() - 1;
  rankpool::options opts;
  if (world.rank() == last) opts.window = 0;
  try {
    rankpool::executor pool(world, opts);
    ADD_FAILURE() << "rank " << last << "'s window is invalid";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(
        contains(e.what(), "options.window must be at least 1, got 0 (in the options of rank " +
                               std::to_string(last) + ")"));
  }
  if (world.size() > 1) {
    rankpool::options split_root;  // each rank valid alone, but they disagree
    split_root.root = world.rank() == 0 ? 0 : last;
    try {
      rankpool::executor pool(world, split_root);
      ADD_FAILURE() << "the ranks name different roots";
    } catch (const std::invalid_argument& e) {
      EXPECT_TRUE(contains(
          e.what(), "options.root differs between ranks (from 0 to " + std::to_string(last) + ")"));
    }
  }
  rankpool::executor pool(world);  // nothing hung: the next pool works
  if (pool) expect_still_serves(pool);
}

TEST(bad_input, impossible_allocations_fail_only_that_call) {
  rankpool::executor pool;
  if (!pool) return;
  if (sanitized_allocator) GTEST_SKIP() << "sanitizer allocators abort instead of throwing";
  // The worker cannot decode the argument: it would need 1 PiB.
  try {
    pool.submit(bad_input::take_needing_memory, bad_input::needs_memory_to_load{one_pebibyte, {}})
        .get();
    FAIL() << "decoding needs more memory than exists";
  } catch (const rankpool::remote_error& e) {
    EXPECT_EQ(e.type_name(), "std::bad_alloc");
    EXPECT_TRUE(
        contains(e.what(), "could not decode the arguments of 'bad_input::take_needing_memory'"));
  }
  // The worker cannot encode the result.
  try {
    pool.submit(bad_input::return_needing_memory, one_pebibyte).get();
    FAIL() << "encoding needs more memory than exists";
  } catch (const rankpool::remote_error& e) {
    EXPECT_EQ(e.type_name(), "std::bad_alloc");
    EXPECT_TRUE(
        contains(e.what(), "could not serialize the result of 'bad_input::return_needing_memory'"));
  }
  // The root cannot encode the argument: submit() itself throws, nothing is queued.
  EXPECT_THROW(
      pool.submit(bad_input::take_cheap, bad_input::needs_memory_to_save{one_pebibyte, {}}),
      std::bad_alloc);
  // The root cannot decode the result: get() throws what decoding threw.
  auto f = pool.submit(bad_input::return_needing_memory_on_the_root, one_pebibyte);
  EXPECT_THROW(f.get(), std::bad_alloc);
  EXPECT_THROW(f.get(), std::bad_alloc);  // and again, not a crash or a hang
  expect_still_serves(pool);
}

TEST(bad_input, garbage_on_the_executor_communicator_is_reported_and_dropped) {
  stderr_capture captured;  // on every rank: workers report what they drop
  rankpool::executor pool;
  if (!pool) {
    // A worker: the pool has shut down, everything the root sent was read.
    const std::string text = captured.text();
    captured.restore();
    const std::string me = "rankpool: worker rank " + std::to_string(pool.comm().rank());
    EXPECT_TRUE(contains(text, me + " dropped an undecodable message of " +
                                   std::to_string(truncated_call().size()) +
                                   " bytes from the root: rankpool: truncated message"));
    EXPECT_TRUE(contains(text, me + " dropped an undecodable message of 500 bytes"));
    EXPECT_TRUE(contains(text, me + " ignored a message with unknown tag 99"));
    return;
  }
  const auto* comm = rankpool::detail::executor_access::private_comm(pool);
  if (comm == nullptr) GTEST_SKIP() << "no worker ranks at this size";

  std::string unknown_name;  // answered with an error for an id the root does not know
  test_support::append_call(unknown_name, {1u << 30, 0, 1, "no::such_function", ""});
  for (int w = 0; w < comm->size(); ++w) {
    if (w == comm->rank()) continue;
    send(*comm, w, wire::call_tag, truncated_call());
    send(*comm, w, wire::call_tag, random_bytes(500, 1));
    send(*comm, w, wire::call_tag, unknown_name);
    send(*comm, w, 99, random_bytes(64, 2));
  }
  // The root receives from any rank, itself included.
  std::string truncated_result;
  test_support::append_result(truncated_result, {1u << 30, true, "payload"});
  truncated_result.resize(truncated_result.size() - 2);
  std::string stray_result;  // well formed, for an id that was never sent
  test_support::append_result(stray_result, {1u << 31, true, "payload"});
  const int self = comm->rank();
  send(*comm, self, wire::result_tag, truncated_result);
  send(*comm, self, wire::result_tag, random_bytes(300, 3));
  send(*comm, self, wire::result_tag, stray_result);
  send(*comm, self, 99, random_bytes(64, 4));

  // The root's loop sleeps while no call is out: calls wake it, and it
  // reads the garbage along with their results.
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(pool.submit(calls::square, i));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[i].get(), i * i);
  const std::string from_self = "from rank " + std::to_string(self);
  const std::vector<std::string> reports = {
      "rankpool: the root dropped an undecodable result message " + from_self +
          ": rankpool: truncated message",
      "rankpool: the root ignored a message with unknown tag 99 " + from_self};
  const std::string text = captured.wait_for(reports);
  captured.restore();
  for (const auto& report : reports) EXPECT_TRUE(contains(text, report));
  expect_still_serves(pool);
}

TEST(faults, never_returning_call_can_be_abandoned) {
  rankpool::options opts;  // one slot per worker: every further call waits on the root
  opts.window = 1;
  opts.local_workers = 1;
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  // Polled by the workers: this test runs all its ranks on one host.
  const std::string release = "/tmp/rankpool-release-" + std::to_string(getpid());
  std::remove(release.c_str());
  std::vector<rankpool::future<int>> stuck;
  for (int i = 0; i < pool.max_workers(); ++i) {
    stuck.push_back(pool.submit(bad_input::wait_for_file, release));
  }
  for (auto& f : stuck) ASSERT_TRUE(test_support::becomes_running(f));
  std::vector<rankpool::future<int>> queued;
  for (int i = 0; i < 10; ++i) queued.push_back(pool.submit(calls::square, i));

  // The caller can give up waiting...
  EXPECT_EQ(stuck[0].wait_for(100ms), std::future_status::timeout);
  // ...and shut the pool down without waiting: queued calls are cancelled.
  const auto start = std::chrono::steady_clock::now();
  pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  for (auto& f : queued) {
    EXPECT_TRUE(f.cancelled());
    EXPECT_THROW(f.get(), rankpool::cancelled_error);
  }
  for (auto& f : stuck) EXPECT_FALSE(f.done());
  EXPECT_THROW(pool.submit(calls::square, 1), std::runtime_error);

  // Release the calls so the workers can be stopped and the job ends.
  std::ofstream(release).put('x');
  for (auto& f : stuck) EXPECT_EQ(f.get(), 0);
  std::remove(release.c_str());
}
