// Large contiguous values (wire::block_min and more) sent as blocks, their
// own messages after their call or result item, in both directions. Every
// value is checked byte for byte. At one rank (local threads) nothing is a
// block and every result must be the same.
//
// This binary interposes MPI_Isend and MPI_Recv (the MPI profiling
// interface) to count the blocks the root sends (arg_block_tag) and receives
// (block_tag), so the tests also show which values took the block path.
#include "mpi/test_calls.hpp"
#include "support/call_items.hpp"
#include "support/executor_access.hpp"
#include "support/fnv.hpp"
#include "wire/wire.hpp"

#include <gtest/gtest.h>

#include <boost/mpi/communicator.hpp>

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace wire = rankpool::detail::wire;

namespace {

std::atomic<std::uint64_t> arg_blocks_sent{0};         // the last message of each
std::atomic<std::uint64_t> result_blocks_received{0};  // likewise

}  // namespace

extern "C" int MPI_Isend(const void* buffer, int count, MPI_Datatype type, int dest, int tag,
                         MPI_Comm comm, MPI_Request* request) {
  if (tag == wire::arg_block_tag) arg_blocks_sent.fetch_add(1);
  return PMPI_Isend(buffer, count, type, dest, tag, comm, request);
}

extern "C" int MPI_Recv(void* buffer, int count, MPI_Datatype type, int source, int tag,
                        MPI_Comm comm, MPI_Status* status) {
  if (tag == wire::block_tag) result_blocks_received.fetch_add(1);
  return PMPI_Recv(buffer, count, type, source, tag, comm, status);
}

namespace blk {

using test_support::fnv1a;

// Values that differ at every position and from one seed to the next.
std::vector<char> chars(std::size_t n, std::uint32_t seed) {
  std::vector<char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<char>(i * 131 + i / 4096 + seed);
  return v;
}
std::vector<double> doubles(std::size_t n, std::uint32_t seed) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * 0.375 - seed - 1e-3 * (i % 7);
  return v;
}
std::string text(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 37 + i / 997 + seed);
  return s;
}
// No NUL bytes: it may be passed as a C string.
std::string letters(std::size_t n, std::uint32_t seed) {
  std::string s(n, 'a');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 26 + seed) % 26);
  return s;
}

template <class T>
std::vector<std::uint64_t> digest_of(const T& v) {
  return {v.size(), fnv1a(v.data(), v.size() * sizeof(typename T::value_type))};
}

// Each type passed by value and by const reference, in both directions.
std::vector<char> echo_chars(std::vector<char> v) {
  return v;
}
std::vector<double> echo_doubles(const std::vector<double>& v) {
  return v;
}
std::string echo_string(std::string s) {
  return s;
}
std::vector<std::uint64_t> digest_chars(const std::vector<char>& v) {
  return digest_of(v);
}
std::vector<std::uint64_t> digest_doubles(std::vector<double> v) {
  return digest_of(v);
}
std::vector<std::uint64_t> digest_string(const std::string& s) {
  return digest_of(s);
}
std::vector<char> make_chars(std::uint64_t n, std::uint32_t seed) {
  return chars(n, seed);
}
std::vector<double> make_doubles(std::uint64_t n, std::uint32_t seed) {
  return doubles(n, seed);
}
std::string make_string(std::uint64_t n, std::uint32_t seed) {
  return text(n, seed);
}

// Several block arguments with small ones between them.
std::vector<std::uint64_t> describe(const std::vector<double>& a, int k, const std::string& s,
                                    char c, std::vector<char> v) {
  auto out = digest_of(a);
  out.push_back(static_cast<std::uint64_t>(static_cast<std::int64_t>(k)));
  for (auto x : digest_of(s)) out.push_back(x);
  out.push_back(static_cast<unsigned char>(c));
  for (auto x : digest_of(v)) out.push_back(x);
  return out;
}
std::string join(const std::string& a, char separator, const std::string& b) {
  return a + separator + b;
}
void consume(const std::vector<double>& a, const std::vector<char>& b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("consume: an empty argument");
}

std::vector<char> throw_after_reading(const std::vector<char>& v, int k) {
  throw std::runtime_error("read " + std::to_string(v.size()) + " bytes, digest " +
                           std::to_string(fnv1a(v.data(), v.size())) + ", k " + std::to_string(k));
}

// Registered on the root only, at run time (see register_on_this_rank_only).
std::vector<std::uint64_t> root_only(const std::vector<char>& v, int k, const std::string& s) {
  auto out = digest_of(v);
  out.push_back(static_cast<std::uint64_t>(k));
  for (auto x : digest_of(s)) out.push_back(x);
  return out;
}

// A function object: its arguments travel through Boost, never as blocks,
// but its large result is still one.
struct xor_with {
  unsigned char key = 0;
  std::vector<char> operator()(const std::vector<char>& v) const {
    std::vector<char> out(v);
    for (auto& c : out) c = static_cast<char>(c ^ key);
    return out;
  }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& key;
  }
};

}  // namespace blk

RANKPOOL_REGISTER(blk::echo_chars);
RANKPOOL_REGISTER(blk::echo_doubles);
RANKPOOL_REGISTER(blk::echo_string);
RANKPOOL_REGISTER(blk::digest_chars);
RANKPOOL_REGISTER(blk::digest_doubles);
RANKPOOL_REGISTER(blk::digest_string);
RANKPOOL_REGISTER(blk::make_chars);
RANKPOOL_REGISTER(blk::make_doubles);
RANKPOOL_REGISTER(blk::make_string);
RANKPOOL_REGISTER(blk::describe);
RANKPOOL_REGISTER(blk::join);
RANKPOOL_REGISTER(blk::consume);
RANKPOOL_REGISTER(blk::throw_after_reading);
RANKPOOL_REGISTER_TYPE(blk::xor_with);

namespace {

constexpr std::size_t min = wire::block_min;
constexpr std::size_t mib = std::size_t{1} << 20;

// How many blocks the root has sent and received so far.
struct block_counts {
  std::uint64_t sent = arg_blocks_sent.load();
  std::uint64_t received = result_blocks_received.load();
};

// Whether `pool` sends values as blocks at all (not with local threads).
bool remote(const rankpool::executor& pool) {
  return pool.comm().size() > 1;
}

// Expects `sent` argument blocks and `received` result blocks since `before`
// with worker ranks, none with local threads.
::testing::AssertionResult blocks_since(const rankpool::executor& pool, const block_counts& before,
                                        std::uint64_t sent, std::uint64_t received) {
  const block_counts now;
  if (!remote(pool)) sent = received = 0;
  if (now.sent - before.sent == sent && now.received - before.received == received) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected " << sent << " argument blocks sent and " << received
         << " result blocks received, got " << now.sent - before.sent << " and "
         << now.received - before.received;
}

// The value's bytes are the same (a message that says where they differ).
template <class T>
::testing::AssertionResult same_bytes(const T& got, const T& expected) {
  using element = typename T::value_type;
  if (got.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << got.size() << " elements arrived instead of " << expected.size();
  }
  const std::size_t bytes = got.size() * sizeof(element);
  const auto* a = reinterpret_cast<const unsigned char*>(got.data());
  const auto* b = reinterpret_cast<const unsigned char*>(expected.data());
  for (std::size_t i = 0; i < bytes; ++i) {
    if (a[i] != b[i]) {
      return ::testing::AssertionFailure() << "byte " << i << " of " << bytes << " is " << int{a[i]}
                                           << " instead of " << int{b[i]};
    }
  }
  return ::testing::AssertionSuccess();
}

// Each size once as an argument and a result (echo), as an argument only
// (digest) and as a result only (make), with the blocks each should take.
template <class T, class Echo, class Digest, class Make, class Fill>
void round_trips(rankpool::executor& pool, Echo echo, Digest digest, Make make, Fill fill,
                 std::size_t elements, std::uint32_t seed) {
  const T value = fill(elements, seed);
  const std::size_t bytes = elements * sizeof(typename T::value_type);
  const std::uint64_t large = bytes >= min ? 1 : 0;
  SCOPED_TRACE(std::to_string(elements) + " elements, " + std::to_string(bytes) + " bytes");
  block_counts before;
  EXPECT_TRUE(same_bytes(pool.submit(echo, value).get(), value));
  EXPECT_TRUE(blocks_since(pool, before, large, large));
  before = {};
  EXPECT_EQ(pool.submit(digest, value).get(), blk::digest_of(value));
  EXPECT_TRUE(blocks_since(pool, before, large, 0));
  before = {};
  EXPECT_TRUE(same_bytes(pool.submit(make, std::uint64_t{elements}, seed).get(), value));
  EXPECT_TRUE(blocks_since(pool, before, 0, large));
}

bool registered_root_only = false;

void register_on_this_rank_only() {
  namespace rd = rankpool::detail;
  if (registered_root_only) return;
  rd::register_function("blk::root_only", reinterpret_cast<rd::function_key>(&blk::root_only),
                        &rd::invoke_function<&blk::root_only>);
  registered_root_only = true;
}

}  // namespace

TEST(blocks, vectors_of_char_around_block_min_and_of_megabytes) {
  rankpool::executor pool;
  if (!pool) return;
  std::uint32_t seed = 1;
  for (const std::size_t n : {std::size_t{1000}, min - 1, min, min + 1, 3 * mib + 5}) {
    round_trips<std::vector<char>>(pool, blk::echo_chars, blk::digest_chars, blk::make_chars,
                                   blk::chars, n, seed++);
  }
}

TEST(blocks, vectors_of_double_around_block_min_and_of_megabytes) {
  rankpool::executor pool;
  if (!pool) return;
  constexpr std::size_t at_min = min / sizeof(double);
  std::uint32_t seed = 1;
  for (const std::size_t n : {at_min - 1, at_min, at_min + 1, std::size_t{393241}}) {
    round_trips<std::vector<double>>(pool, blk::echo_doubles, blk::digest_doubles,
                                     blk::make_doubles, blk::doubles, n, seed++);
  }
}

TEST(blocks, strings_around_block_min_and_of_megabytes) {
  rankpool::executor pool;
  if (!pool) return;
  std::uint32_t seed = 1;
  for (const std::size_t n : {min - 1, min, min + 1, 2 * mib + 3}) {
    round_trips<std::string>(pool, blk::echo_string, blk::digest_string, blk::make_string,
                             blk::text, n, seed++);
  }
}

TEST(blocks, several_block_arguments_with_small_ones_between) {
  rankpool::executor pool;
  if (!pool) return;
  const auto a = blk::doubles(min / sizeof(double) + 13, 3);
  const auto s = blk::text(min + 4099, 4);
  const auto v = blk::chars(2 * min + 1, 5);
  block_counts before;
  EXPECT_EQ(pool.submit(blk::describe, a, -123456, s, 'Z', v).get(),
            blk::describe(a, -123456, s, 'Z', v));
  EXPECT_TRUE(blocks_since(pool, before, 3, 0));

  // Small and large mixed: only the large ones are blocks.
  const auto small_a = blk::doubles(17, 6);
  const auto small_v = blk::chars(min - 1, 7);
  before = {};
  EXPECT_EQ(pool.submit(blk::describe, small_a, 99, s, '\0', small_v).get(),
            blk::describe(small_a, 99, s, '\0', small_v));
  EXPECT_TRUE(blocks_since(pool, before, 1, 0));

  // Two blocks in, one out.
  const auto t = blk::text(min, 8);
  before = {};
  EXPECT_TRUE(same_bytes(pool.submit(blk::join, s, '|', t).get(), s + '|' + t));
  EXPECT_TRUE(blocks_since(pool, before, 2, 1));

  // A void result.
  before = {};
  pool.submit(blk::consume, a, v).get();
  EXPECT_TRUE(blocks_since(pool, before, 2, 0));
}

TEST(blocks, converted_and_forwarded_arguments_arrive_right) {
  rankpool::executor pool;
  if (!pool) return;
  auto d = blk::doubles(min / sizeof(double) + 5, 9);
  const auto expected = blk::digest_of(d);
  const std::vector<double>& const_d = d;
  block_counts before;
  EXPECT_EQ(pool.submit(blk::digest_doubles, d).get(), expected);        // lvalue, by-value param
  EXPECT_EQ(pool.submit(blk::digest_doubles, const_d).get(), expected);  // const lvalue
  EXPECT_EQ(pool.submit(blk::digest_doubles, blk::doubles(d.size(), 9)).get(), expected);  // temp
  EXPECT_TRUE(blocks_since(pool, before, 3, 0));
  EXPECT_EQ(d, blk::doubles(d.size(), 9));  // the caller's value is untouched
  EXPECT_EQ(pool.submit(blk::digest_doubles, std::move(d)).get(), expected);

  // Converted on the root first: sent inside the call item, still intact.
  const auto letters = blk::letters(min + 77, 2);
  before = {};
  EXPECT_EQ(pool.submit(blk::digest_string, letters.c_str()).get(), blk::digest_of(letters));
  EXPECT_TRUE(same_bytes(pool.submit(blk::echo_string, letters.c_str()).get(), letters));
  EXPECT_TRUE(blocks_since(pool, before, 0, 1));  // the echoed result is a block all the same
  const std::string_view view(letters);
  EXPECT_EQ(pool.submit(blk::digest_string, view.substr(1)).get(),
            blk::digest_of(letters.substr(1)));

  // A function object's arguments go through Boost; its large result is a block.
  const auto v = blk::chars(min + 3, 10);
  auto flipped = v;
  for (auto& c : flipped) c = static_cast<char>(c ^ 0x5a);
  before = {};
  EXPECT_TRUE(same_bytes(pool.submit(blk::xor_with{0x5a}, v).get(), flipped));
  EXPECT_TRUE(blocks_since(pool, before, 0, 1));
}

namespace {

// Many calls of every kind submitted before any result is taken, so the
// root batches them and fills the workers' windows; every future must get
// its own call's result.
void mixed_calls_keep_their_results(rankpool::executor& pool, int n) {
  std::vector<std::pair<int, rankpool::future<std::vector<char>>>> echoed;
  std::vector<std::pair<int, rankpool::future<int>>> squared;
  std::vector<std::pair<int, rankpool::future<std::string>>> made;
  std::vector<std::pair<int, rankpool::future<std::vector<std::uint64_t>>>> digested;
  for (int i = 0; i < n; ++i) {
    const auto seed = static_cast<std::uint32_t>(i);
    switch (i % 5) {
      case 0:
        echoed.emplace_back(i, pool.submit(blk::echo_chars, blk::chars(min + 1031 * i, seed)));
        break;
      case 1:
        squared.emplace_back(i, pool.submit(calls::square, i));
        break;
      case 2:
        made.emplace_back(i, pool.submit(blk::make_string, std::uint64_t{2 * min + i}, seed));
        break;
      case 3:
        digested.emplace_back(
            i, pool.submit(blk::digest_doubles, blk::doubles(min / sizeof(double) + 17 * i, seed)));
        break;
      default:  // a large result nobody waits for
        (void)pool.submit(blk::make_chars, std::uint64_t{min + i}, seed);
        squared.emplace_back(-i, pool.submit(calls::square, -i));
        break;
    }
  }
  // Taken in reverse order, so later results are waited on first.
  for (auto it = echoed.rbegin(); it != echoed.rend(); ++it) {
    const auto seed = static_cast<std::uint32_t>(it->first);
    EXPECT_TRUE(same_bytes(it->second.get(), blk::chars(min + 1031 * it->first, seed)))
        << "call " << it->first;
  }
  for (auto& [i, f] : squared) EXPECT_EQ(f.get(), i * i) << "call " << i;
  for (auto& [i, f] : made) {
    const auto seed = static_cast<std::uint32_t>(i);
    EXPECT_TRUE(same_bytes(f.get(), blk::text(2 * min + i, seed))) << "call " << i;
  }
  for (auto& [i, f] : digested) {
    const auto seed = static_cast<std::uint32_t>(i);
    EXPECT_EQ(f.get(), blk::digest_of(blk::doubles(min / sizeof(double) + 17 * i, seed)))
        << "call " << i;
  }
}

}  // namespace

TEST(blocks, many_block_calls_interleaved_with_small_ones_keep_their_results) {
  {
    rankpool::executor pool;  // the default window
    if (pool) mixed_calls_keep_their_results(pool, 50);
  }
  rankpool::options wide;
  wide.window = 8;
  rankpool::executor pool(boost::mpi::communicator(), wide);
  if (pool) mixed_calls_keep_their_results(pool, 80);
}

// Large values are received into memory kept from earlier ones
// (detail/block_cache.hpp): a result still held by its future is never
// reused, and a reused one of another size comes back whole and right.
TEST(blocks, results_of_megabytes_stay_intact_while_later_ones_reuse_memory) {
  rankpool::executor pool;
  if (!pool) return;
  const auto held = pool.submit(blk::make_chars, std::uint64_t{2 * mib}, std::uint32_t{7});
  const auto expected_held = blk::chars(2 * mib, 7);
  ASSERT_TRUE(same_bytes(held.get(), expected_held));
  std::uint32_t seed = 20;
  for (const std::size_t n : {3 * mib, 2 * mib, 4 * mib + 3, mib + 1, 4 * mib + 3}) {
    SCOPED_TRACE(std::to_string(n) + " bytes");
    EXPECT_TRUE(same_bytes(pool.submit(blk::make_chars, std::uint64_t{n}, seed).get(),
                           blk::chars(n, seed)));
    EXPECT_EQ(pool.submit(blk::digest_chars, blk::chars(n, seed + 1)).get(),
              blk::digest_of(blk::chars(n, seed + 1)));
    ++seed;
  }
  EXPECT_TRUE(same_bytes(held.get(), expected_held));  // untouched by the calls since
}

TEST(blocks, threads_submitting_block_calls_at_once_get_their_own_results) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&pool, &wrong, t] {
      std::vector<std::pair<std::vector<char>, rankpool::future<std::vector<char>>>> mine;
      for (int i = 0; i < 10; ++i) {
        auto v = blk::chars(min + 4096 * i + t, static_cast<std::uint32_t>(t * 100 + i));
        auto f = pool.submit(blk::echo_chars, v);
        mine.emplace_back(std::move(v), std::move(f));
      }
      for (auto& [v, f] : mine) wrong += f.get() == v ? 0 : 1;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(blocks, a_function_missing_on_the_worker_fails_and_its_blocks_are_dropped) {
  boost::mpi::communicator world;
  if (world.size() == 1) GTEST_SKIP() << "needs worker ranks";
  if (world.rank() == 0) register_on_this_rank_only();  // no executor runs yet
  for (const std::size_t max_message : {std::size_t{0}, std::size_t{10000}}) {
    rankpool::options opts;
    if (max_message != 0) opts.max_message_bytes = max_message;  // the blocks in parts too
    rankpool::executor pool(world, opts);
    if (!pool) continue;
    SCOPED_TRACE("max_message_bytes " + std::to_string(opts.max_message_bytes));
    const auto v = blk::chars(min + 5, 1);
    const auto s = blk::text(3 * min, 2);
    // Each failing call has good calls right behind it, on the same worker
    // when windows hold several calls: they must not read its blocks.
    std::vector<rankpool::future<std::vector<std::uint64_t>>> failing;
    std::vector<rankpool::future<std::vector<char>>> echoed;
    std::vector<rankpool::future<int>> squared;
    const block_counts before;
    for (int i = 0; i < 4 * pool.max_workers(); ++i) {
      failing.push_back(pool.submit(blk::root_only, v, i, s));
      echoed.push_back(pool.submit(blk::echo_chars, v));
      squared.push_back(pool.submit(calls::square, i));
    }
    for (auto& f : failing) EXPECT_TRUE(test_support::failed_as_unregistered(f, "blk::root_only"));
    for (auto& f : echoed) EXPECT_TRUE(same_bytes(f.get(), v));
    for (int i = 0; i < static_cast<int>(squared.size()); ++i) EXPECT_EQ(squared[i].get(), i * i);
    const auto n = static_cast<std::uint64_t>(failing.size());
    EXPECT_TRUE(blocks_since(pool, before, 3 * n, n));
    // And later calls, with blocks and without.
    EXPECT_EQ(pool.submit(blk::describe, blk::doubles(min, 3), 5, s, 'x', v).get(),
              blk::describe(blk::doubles(min, 3), 5, s, 'x', v));
    EXPECT_EQ(pool.submit(calls::square, 12).get(), 144);
  }
}

TEST(blocks, a_call_that_throws_after_reading_its_block_fails_alone) {
  rankpool::executor pool;
  if (!pool) return;
  const auto v = blk::chars(min + 99, 4);
  std::vector<rankpool::future<std::vector<char>>> failing;
  std::vector<rankpool::future<std::vector<char>>> echoed;
  for (int k = 0; k < 3 * pool.max_workers(); ++k) {
    failing.push_back(pool.submit(blk::throw_after_reading, v, k));
    echoed.push_back(pool.submit(blk::echo_chars, v));
  }
  for (int k = 0; k < static_cast<int>(failing.size()); ++k) {
    try {
      failing[k].get();
      ADD_FAILURE() << "the call throws";
    } catch (const rankpool::remote_error& e) {
      EXPECT_EQ(e.type_name(), "std::runtime_error");
      EXPECT_EQ(std::string(e.what()), "read " + std::to_string(v.size()) + " bytes, digest " +
                                           std::to_string(test_support::fnv1a(v.data(), v.size())) +
                                           ", k " + std::to_string(k));
    }
  }
  for (auto& f : echoed) EXPECT_TRUE(same_bytes(f.get(), v));
  EXPECT_TRUE(
      same_bytes(pool.submit(blk::make_string, std::uint64_t{min}, 7u).get(), blk::text(min, 7)));
  EXPECT_EQ(pool.submit(calls::square, 11).get(), 121);
}

namespace {

void blocks_in_parts(rankpool::executor& pool) {
  const std::size_t n = mib + 7;
  const auto v = blk::chars(n, 11);
  const auto s = blk::text(n, 12);
  const auto d = blk::doubles(n / sizeof(double), 13);
  block_counts before;
  std::vector<rankpool::future<std::vector<char>>> echoed;
  for (int i = 0; i < 6; ++i) echoed.push_back(pool.submit(blk::echo_chars, v));
  auto echoed_string = pool.submit(blk::echo_string, s);
  auto echoed_doubles = pool.submit(blk::echo_doubles, d);
  auto described = pool.submit(blk::describe, d, 3, s, 'p', v);
  auto made = pool.submit(blk::make_chars, std::uint64_t{n}, 11u);
  for (auto& f : echoed) EXPECT_TRUE(same_bytes(f.get(), v));
  EXPECT_TRUE(same_bytes(echoed_string.get(), s));
  EXPECT_TRUE(same_bytes(echoed_doubles.get(), d));
  EXPECT_EQ(described.get(), blk::describe(d, 3, s, 'p', v));
  EXPECT_TRUE(same_bytes(made.get(), v));
  EXPECT_TRUE(blocks_since(pool, before, 6 + 2 + 3, 6 + 2 + 1));
  EXPECT_EQ(pool.submit(calls::square, 7).get(), 49);
}

}  // namespace

TEST(blocks, blocks_larger_than_max_message_bytes_are_sent_in_parts) {
  // 10000: a block of 1 MiB is 105 parts. 4099: parts that split doubles.
  for (const std::size_t part : {std::size_t{10000}, std::size_t{4099}}) {
    rankpool::options opts;
    opts.max_message_bytes = part;
    rankpool::executor pool(boost::mpi::communicator(), opts);
    SCOPED_TRACE("max_message_bytes " + std::to_string(part));
    if (pool) blocks_in_parts(pool);
  }
}

TEST(blocks, a_root_other_than_rank_0_sends_and_receives_blocks) {
  boost::mpi::communicator world;
  rankpool::options opts;
  opts.root = world.size() - 1;
  rankpool::executor pool(world, opts);
  if (!pool) return;
  const auto v = blk::chars(min + 1, 31);
  const auto s = blk::text(3 * min, 32);
  const block_counts before;
  EXPECT_TRUE(same_bytes(pool.submit(blk::echo_chars, v).get(), v));
  EXPECT_TRUE(same_bytes(pool.submit(blk::join, s, '+', s).get(), s + '+' + s));
  EXPECT_TRUE(blocks_since(pool, before, 3, 2));
}

// map() chunks never carry blocks: their large values travel inside them.
TEST(blocks, map_over_large_values_sends_no_blocks) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<std::vector<char>> inputs;
  for (std::uint32_t i = 0; i < 7; ++i) inputs.push_back(blk::chars(min + 1000 * i, i));
  for (const std::size_t chunksize : {std::size_t{1}, std::size_t{3}}) {
    const block_counts before;
    const auto results = pool.map(blk::echo_chars, inputs, chunksize).get();
    ASSERT_EQ(results.size(), inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_TRUE(same_bytes(results[i], inputs[i]))
          << "input " << i << ", chunksize " << chunksize;
    }
    EXPECT_TRUE(blocks_since(pool, before, 0, 0));
  }
}

TEST(blocks, a_cancelled_call_with_a_block_argument_is_never_sent) {
  rankpool::options opts;
  opts.window = 1;
  opts.local_workers = 1;
  rankpool::executor pool(boost::mpi::communicator(), opts);
  if (!pool) return;
  std::vector<rankpool::future<int>> busy;
  for (int i = 0; i < pool.max_workers(); ++i) busy.push_back(pool.submit(calls::sleep_ms, 300));
  for (auto& f : busy) ASSERT_TRUE(test_support::becomes_running(f));
  const auto v = blk::chars(2 * min + 1, 21);
  const block_counts before;
  auto queued = pool.submit(blk::echo_chars, v);
  auto next = pool.submit(blk::digest_chars, v);
  EXPECT_FALSE(queued.running());
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  EXPECT_THROW(queued.get(), rankpool::cancelled_error);
  for (auto& f : busy) EXPECT_EQ(f.get(), 300);
  EXPECT_EQ(next.get(), blk::digest_of(v));
  EXPECT_TRUE(same_bytes(pool.submit(blk::echo_chars, v).get(), v));
  EXPECT_EQ(pool.submit(calls::square, 6).get(), 36);
  EXPECT_TRUE(blocks_since(pool, before, 2, 1));  // none of the cancelled call's
}

namespace {

// A forged call item to blk::echo_chars whose argument `v` is announced as a
// block (its bytes are not in the item), with the given flags.
std::string forged_echo_call(const std::vector<char>& v, std::uint8_t flags) {
  std::vector<wire::pending_block> pending;
  std::string payload;
  rankpool::detail::args_writer<decltype(&blk::echo_chars)>(payload, &blk::echo_chars, &pending)
      .add(v);
  if (pending.size() != 1) throw std::logic_error("forged_echo_call: v is no block");
  std::string item;
  test_support::append_call(item, {1u << 30, flags, 1, "blk::echo_chars", payload});
  return item;
}

}  // namespace

// Forged on the private communicator: a call whose arguments announce a
// block its item does not (no blocks_flag) fails on the worker without
// taking the root's next message as that block, and an argument block no
// call asked for is dropped. Later calls, with blocks and without, return.
TEST(blocks, a_block_marker_without_blocks_flag_and_a_stray_block_are_dropped) {
  rankpool::executor pool;
  if (!pool) return;
  const auto* comm = rankpool::detail::executor_access::private_comm(pool);
  if (comm == nullptr) GTEST_SKIP() << "no worker ranks at this size";
  const auto v = blk::chars(min, 41);
  const std::string unflagged = forged_echo_call(v, 0);
  for (int w = 0; w < comm->size(); ++w) {
    if (w == comm->rank()) continue;
    comm->send(w, wire::arg_block_tag, v.data(), static_cast<int>(v.size()));
    // The next message is the root's first real call: it must not be taken as a block.
    comm->send(w, wire::call_tag, unflagged.data(), static_cast<int>(unflagged.size()));
  }
  std::vector<rankpool::future<std::vector<char>>> echoed;
  std::vector<rankpool::future<int>> squared;
  for (int i = 0; i < 4 * pool.max_workers(); ++i) {
    echoed.push_back(pool.submit(blk::echo_chars, v));
    squared.push_back(pool.submit(calls::square, i));
  }
  for (std::size_t i = 0; i < echoed.size(); ++i) {
    // Bounded: a worker that took a call's message for a block never answers it.
    ASSERT_EQ(echoed[i].wait_for(std::chrono::seconds(20)), std::future_status::ready)
        << "call " << i;
    EXPECT_TRUE(same_bytes(echoed[i].get(), v));
    ASSERT_EQ(squared[i].wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_EQ(squared[i].get(), static_cast<int>(i * i));
  }
}

// Forged as well, but flagged: a call that announces a block which never
// comes. Its worker must not take the root's next real call message as the
// block (it stays queued and is served): the forged call fails alone.
TEST(blocks, an_announced_block_that_never_comes_does_not_swallow_the_next_call) {
  rankpool::executor pool;
  if (!pool) return;
  const auto* comm = rankpool::detail::executor_access::private_comm(pool);
  if (comm == nullptr) GTEST_SKIP() << "no worker ranks at this size";
  const auto v = blk::chars(min, 43);
  const std::string flagged = forged_echo_call(v, wire::blocks_flag);
  for (int w = 0; w < comm->size(); ++w) {
    if (w == comm->rank()) continue;
    comm->send(w, wire::call_tag, flagged.data(), static_cast<int>(flagged.size()));
  }
  std::vector<rankpool::future<int>> squared;
  for (int i = 0; i < 4 * pool.max_workers(); ++i) squared.push_back(pool.submit(calls::square, i));
  for (std::size_t i = 0; i < squared.size(); ++i) {
    ASSERT_EQ(squared[i].wait_for(std::chrono::seconds(20)), std::future_status::ready)
        << "call " << i;
    EXPECT_EQ(squared[i].get(), static_cast<int>(i * i));
  }
  EXPECT_TRUE(same_bytes(pool.submit(blk::echo_chars, v).get(), v));
}
