// Executors on other communicators and roots, option checks, large and
// split messages, and garbage on the executor's communicator.
#include "mpi/test_calls.hpp"
#include "support/call_items.hpp"
#include "support/executor_access.hpp"
#include "wire/wire.hpp"

#include <gtest/gtest.h>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>

#include <numeric>

TEST(communicators, root_can_be_the_last_rank) {
  boost::mpi::communicator world;
  rankpool::options opts;
  opts.root = world.size() - 1;
  rankpool::executor pool(world, opts);
  EXPECT_EQ(static_cast<bool>(pool), world.rank() == world.size() - 1);
  if (!pool) return;
  EXPECT_EQ(pool.submit(calls::square, 12).get(), 144);
  if (world.size() > 1) {
    // Calls run on the other ranks, never on the root.
    std::vector<rankpool::future<int>> fs;
    for (int i = 0; i < 20; ++i) fs.push_back(pool.submit(calls::world_rank));
    for (auto& f : fs) EXPECT_NE(f.get(), world.rank());
  }
}

TEST(communicators, split_communicators_run_independent_pools) {
  boost::mpi::communicator world;
  const int colour = world.rank() % 2;
  boost::mpi::communicator half = world.split(colour);
  rankpool::options opts;
  opts.local_workers = 3;  // a one-rank split runs this many local threads
  rankpool::executor pool(half, opts);
  if (!pool) return;
  EXPECT_EQ(pool.comm().size(), half.size());
  EXPECT_EQ(pool.max_workers(), half.size() == 1 ? 3 : half.size() - 1);
  EXPECT_EQ(pool.stats().workers.size(), static_cast<std::size_t>(pool.max_workers()));
  EXPECT_EQ(pool.submit(calls::square, colour + 2).get(), (colour + 2) * (colour + 2));
  if (half.size() > 1) {
    // Every call of this pool runs on a rank of the same colour.
    for (int i = 0; i < 10; ++i) EXPECT_EQ(pool.submit(calls::world_rank).get() % 2, colour);
  }
}

TEST(communicators, application_messages_do_not_mix_with_the_executor) {
  boost::mpi::communicator world;
  // Every rank posts a message to the root on the user's communicator before the pool exists.
  boost::mpi::request sent;
  if (world.rank() != 0) sent = world.isend(0, 0, world.rank() * 10);
  {
    rankpool::executor pool(world);
    if (pool) {
      EXPECT_EQ(pool.submit(calls::square, 4).get(), 16);
      for (int r = 1; r < world.size(); ++r) {
        int value = -1;
        world.recv(r, 0, value);
        EXPECT_EQ(value, r * 10);
      }
    }
  }
  if (world.rank() != 0) sent.wait();
}

namespace {

// The what() of the std::invalid_argument that constructing with `opts` throws.
std::string rejection(const boost::mpi::communicator& comm, const rankpool::options& opts) {
  try {
    rankpool::executor pool(comm, opts);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(communicators, invalid_options_throw_on_every_rank) {
  boost::mpi::communicator world;
  const auto said = [](const std::string& what, const std::string& part) {
    return what.find(part) != std::string::npos;
  };
  rankpool::options bad_window;
  bad_window.window = 0;
  EXPECT_PRED2(said, rejection(world, bad_window), "options.window must be at least 1, got 0");
  bad_window.window = -3;
  EXPECT_PRED2(said, rejection(world, bad_window), "options.window must be at least 1, got -3");
  rankpool::options bad_root;
  bad_root.root = world.size();
  EXPECT_PRED2(said, rejection(world, bad_root),
               "options.root must be a rank of the communicator (0.." +
                   std::to_string(world.size() - 1) + "), got " + std::to_string(world.size()));
  bad_root.root = -1;
  EXPECT_PRED2(said, rejection(world, bad_root), "got -1");
  rankpool::options bad_parts;
  bad_parts.max_message_bytes = 0;
  EXPECT_PRED2(said, rejection(world, bad_parts),
               "options.max_message_bytes must be in 1..INT_MAX");
  // Nothing hung: a valid pool still works on the same communicator.
  rankpool::executor pool(world);
  if (pool) {
    EXPECT_EQ(pool.submit(calls::square, 3).get(), 9);
  }
}

TEST(communicators, payload_of_64_mib_round_trips) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<char> big(64u << 20);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
  EXPECT_EQ(pool.submit(calls::byte_count, big).get(), big.size());
  const auto back = pool.submit(calls::echo_bytes, big).get();
  EXPECT_TRUE(back == big);
}

TEST(communicators, messages_larger_than_max_message_bytes_are_split) {
  rankpool::options opts;
  opts.max_message_bytes = 1000;  // forces parts in both directions
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  std::vector<char> bytes(12345);
  std::iota(bytes.begin(), bytes.end(), 0);
  std::vector<rankpool::future<std::vector<char>>> fs;
  for (int i = 0; i < 8; ++i) fs.push_back(pool.submit(calls::echo_bytes, bytes));
  for (auto& f : fs) EXPECT_TRUE(f.get() == bytes);
  EXPECT_EQ(pool.submit(calls::square, 7).get(), 49);
}

TEST(communicators, workers_survive_garbage_on_the_executor_communicator) {
  rankpool::executor pool;
  if (!pool) return;
  const auto* comm = rankpool::detail::executor_access::private_comm(pool);
  if (comm == nullptr) GTEST_SKIP() << "no worker ranks at this size";
  namespace wire = rankpool::detail::wire;
  std::string truncated;
  test_support::append_call(truncated, {77, 0, 1, "calls::square", "xxxx"});
  truncated.resize(truncated.size() - 3);
  std::string unknown_name;
  test_support::append_call(unknown_name, {1u << 30, 0, 1, "no::such_function", ""});
  std::string random_bytes(500, '\0');
  for (std::size_t i = 0; i < random_bytes.size(); ++i)
    random_bytes[i] = static_cast<char>(i * 131 + 17);
  for (int w = 0; w < comm->size(); ++w) {
    if (w == comm->rank()) continue;
    comm->send(w, wire::call_tag, truncated.data(), static_cast<int>(truncated.size()));
    comm->send(w, wire::call_tag, random_bytes.data(), static_cast<int>(random_bytes.size()));
    comm->send(w, wire::call_tag, unknown_name.data(), static_cast<int>(unknown_name.size()));
    comm->send(w, 99, random_bytes.data(), static_cast<int>(random_bytes.size()));
  }
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(pool.submit(calls::square, i));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fs[i].get(), i * i);
}
