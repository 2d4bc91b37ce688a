// run_call without MPI: the same code that MPI workers and local threads run.
#include "worker/run_call.hpp"
#include "support/fnv.hpp"

#include <rankpool/rankpool.hpp>

#include <gtest/gtest.h>

#include <cstring>

namespace {

int twice(int x) {
  return 2 * x;
}
int throws_logic(int) {
  throw std::logic_error("bad logic");
}
std::size_t total_length(std::vector<std::string> words) {
  std::size_t n = 0;
  for (const auto& w : words) n += w.size();
  return n;
}
double half_unless_13(std::int64_t x) {
  if (x == 13 * 13) throw std::domain_error("unlucky input");
  return static_cast<double>(x) / 2;
}
struct offset_by {
  int k = 0;
  int operator()(int x) const { return x + k; }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& k;
  }
};

}  // namespace

RANKPOOL_REGISTER(twice);
RANKPOOL_REGISTER(total_length);
RANKPOOL_REGISTER(half_unless_13);
RANKPOOL_REGISTER_AS(&throws_logic, "throws_logic");
RANKPOOL_REGISTER_TYPE(offset_by);

namespace {

namespace rd = rankpool::detail;
namespace wire = rankpool::detail::wire;

template <class... A>
std::string payload_for(int (*f)(int), A... args) {
  std::string p;
  rd::save_call(p, f, args...);
  return p;
}

struct outcome {
  bool ok = false;
  std::string reply;  // the whole result item
  std::string_view payload() const { return wire::reader(reply).next_result().payload; }
};

outcome run(std::string_view name, const std::string& payload, std::uint32_t count = 1,
            std::uint8_t flags = 0) {
  outcome out;
  out.ok = rd::run_call({1, flags, count, name, payload}, rd::call_site{3, "hostA"}, out.reply);
  return out;
}

}  // namespace

TEST(registry, names_and_lookups) {
  EXPECT_EQ(rd::name_of(&twice), "twice");
  EXPECT_EQ(rd::name_of(&throws_logic), "throws_logic");
  EXPECT_EQ(rd::name_of(offset_by{}), "offset_by");
  EXPECT_NE(rd::find_callable("twice"), nullptr);
  EXPECT_EQ(rd::find_callable("missing"), nullptr);
  int (*unregistered)(int) = [](int x) { return x; };
  EXPECT_THROW(rd::name_of(unregistered), std::invalid_argument);
}

TEST(run_call, runs_a_call_and_encodes_its_result) {
  const auto out = run("twice", payload_for(&twice, 21));
  ASSERT_TRUE(out.ok);
  EXPECT_EQ(rd::decode_result<int>(out.payload()), 42);
}

TEST(run_call, function_objects_and_chunks) {
  std::string payload;
  {
    rd::oarchive_buffer out(payload);
    out.archive() << offset_by{100};
    for (int x : {1, 2, 3}) out.archive() << x;
  }
  const auto out = run("offset_by", payload, 3, wire::chunk_flag);
  ASSERT_TRUE(out.ok);
  const auto chunk = rd::decode_result<rd::chunk<int>>(out.payload());
  EXPECT_EQ(chunk.values, (std::vector<int>{101, 102, 103}));
}

TEST(run_call, failures_become_error_outcomes) {
  const auto unknown = run("nope", "");
  ASSERT_FALSE(unknown.ok);
  auto info = wire::decode_error_info(unknown.payload());
  EXPECT_NE(info.message.find("no callable is registered as 'nope' on rank 3"), std::string::npos);
  EXPECT_EQ(info.host, "hostA");
  EXPECT_EQ(info.rank, 3);

  const auto thrown = run("throws_logic", payload_for(&throws_logic, 1));
  ASSERT_FALSE(thrown.ok);
  info = wire::decode_error_info(thrown.payload());
  EXPECT_EQ(info.type_name, "std::logic_error");
  EXPECT_EQ(info.message, "bad logic");

  const auto garbage = run("twice", "\x01");  // too short for an int
  ASSERT_FALSE(garbage.ok);
  info = wire::decode_error_info(garbage.payload());
  EXPECT_NE(info.message.find("could not decode the arguments of 'twice'"), std::string::npos)
      << info.message;
}

// Found by the wire fuzzer (tests/fuzz): a string length in Boost-encoded
// arguments sized an allocation before a byte of the string was read. The
// worker now answers with a decoding error and allocates nothing big.
TEST(run_call, huge_lengths_in_boost_arguments_become_decoding_errors) {
  std::string payload;
  rd::save_call(payload, &total_length, std::vector<std::string>{"abc"});
  ASSERT_TRUE(run("total_length", payload).ok);
  const auto abc = payload.find("abc");
  ASSERT_NE(abc, std::string::npos);
  const std::uint64_t huge = std::uint64_t{1} << 40;  // the string's u64 length, before its bytes
  std::memcpy(&payload[abc - 8], &huge, sizeof huge);
  const auto out = run("total_length", payload);
  ASSERT_FALSE(out.ok);
  const auto info = wire::decode_error_info(out.payload());
  EXPECT_EQ(info.type_name, "std::length_error");
  EXPECT_NE(info.message.find("could not decode the arguments of 'total_length'"),
            std::string::npos)
      << info.message;
}

// Bytes after the last argument mean the payload is not what the callable's
// types say: the call does not run on a misread prefix.
TEST(run_call, bytes_left_over_after_the_arguments_are_a_decoding_error) {
  auto raw = payload_for(&twice, 21);
  raw += "xy";
  const auto raw_out = run("twice", raw);
  ASSERT_FALSE(raw_out.ok);
  auto info = wire::decode_error_info(raw_out.payload());
  EXPECT_NE(info.message.find("2 bytes left over after the arguments"), std::string::npos)
      << info.message;

  std::string boost;
  rd::save_call(boost, &total_length, std::vector<std::string>{"abc"});
  boost += '\0';
  const auto boost_out = run("total_length", boost);
  ASSERT_FALSE(boost_out.ok);
  info = wire::decode_error_info(boost_out.payload());
  EXPECT_NE(info.message.find("1 bytes left over after the arguments"), std::string::npos)
      << info.message;
}

// Blocks (wire::block_min) on a worker: argument blocks come in through
// call_blocks::receive, a large result is moved into call_blocks::result.
namespace blocks {

using test_support::fnv1a;

// Each argument's size and digest, so a misplaced byte or argument shows.
std::vector<std::uint64_t> describe(const std::vector<double>& a, int k, const std::string& s,
                                    std::vector<char> c) {
  return {a.size(),
          fnv1a(a.data(), a.size() * sizeof(double)),
          static_cast<std::uint64_t>(static_cast<std::int64_t>(k)),
          s.size(),
          fnv1a(s.data(), s.size()),
          c.size(),
          fnv1a(c.data(), c.size())};
}
std::vector<char> echo_chars(std::vector<char> v) {
  return v;
}
std::string repeat_char(char c, std::uint64_t n) {
  return std::string(n, c);
}
std::vector<char> throw_after_reading(const std::vector<char>& v) {
  throw std::runtime_error("read " + std::to_string(v.size()) + " bytes");
}

}  // namespace blocks

RANKPOOL_REGISTER(blocks::describe);
RANKPOOL_REGISTER(blocks::echo_chars);
RANKPOOL_REGISTER(blocks::repeat_char);
RANKPOOL_REGISTER(blocks::throw_after_reading);

namespace {

// A worker's call_blocks without MPI: receive() hands out the blocks the
// root would have sent, in order, checking each is asked for at its size.
class local_blocks final : public rd::call_blocks {
 public:
  explicit local_blocks(std::vector<wire::pending_block> blocks = {})
      : blocks_(std::move(blocks)) {}
  void receive(char* into, std::size_t bytes) override {
    ++receives;
    if (receives > blocks_.size()) throw std::logic_error("no block left to receive");
    const auto& b = blocks_[receives - 1];
    if (b.size != bytes) {
      throw std::logic_error("block " + std::to_string(receives - 1) + " has " +
                             std::to_string(b.size) + " bytes, asked for " + std::to_string(bytes));
    }
    std::memcpy(into, b.data, bytes);
  }
  std::size_t receives = 0;

 private:
  std::vector<wire::pending_block> blocks_;
};

template <class F, class... A>
std::string encode_args(F f, std::vector<wire::pending_block>* pending, A&&... args) {
  std::string payload;
  rd::args_writer<F>(payload, f, pending).add(std::forward<A>(args)...);
  return payload;
}

outcome run_with(std::string_view name, const std::string& payload, rd::call_blocks* blocks,
                 std::uint8_t flags = 0, std::uint32_t count = 1) {
  outcome out;
  out.ok =
      rd::run_call({1, flags, count, name, payload}, rd::call_site{3, "hostA"}, out.reply, blocks);
  return out;
}

std::vector<char> chars(std::size_t n, unsigned seed) {
  std::vector<char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<char>(i * 131 + seed + i / 4096);
  return v;
}

}  // namespace

TEST(run_call, block_arguments_are_received_in_order_between_small_ones) {
  std::vector<double> a(wire::block_min / sizeof(double) + 3);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = 0.5 * static_cast<double>(i) - 1e6;
  std::string s(wire::block_min + 11, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i * 7 + i / 251);
  const auto c = chars(wire::block_min, 5);
  std::vector<wire::pending_block> pending;
  const auto payload = encode_args(&blocks::describe, &pending, a, -7, s, c);
  ASSERT_EQ(pending.size(), 3u);
  local_blocks blocks(pending);
  const auto out = run_with("blocks::describe", payload, &blocks, wire::blocks_flag);
  ASSERT_TRUE(out.ok) << wire::decode_error_info(out.payload()).message;
  EXPECT_EQ(blocks.receives, 3u);
  EXPECT_EQ(rd::decode_result<std::vector<std::uint64_t>>(out.payload()),
            blocks::describe(a, -7, s, c));
  EXPECT_FALSE(blocks.result.keep_alive);  // a small result stays in the reply
}

TEST(run_call, a_large_result_moves_into_call_blocks_a_small_one_stays_inline) {
  constexpr std::size_t header = 8 + 1 + 8;  // id, status, payload length
  {
    const auto v = chars(wire::block_min, 1);
    local_blocks blocks;
    const auto out =
        run_with("blocks::echo_chars", encode_args(&blocks::echo_chars, nullptr, v), &blocks);
    ASSERT_TRUE(out.ok);
    EXPECT_EQ(blocks.receives, 0u);
    EXPECT_EQ(out.reply.size(), header + 8);  // no copy of the value in the reply
    const auto item = wire::reader(out.reply).next_result();
    EXPECT_TRUE(item.ok());
    EXPECT_TRUE((item.status == wire::result_status::block));
    EXPECT_EQ(item.follows, v.size());
    ASSERT_TRUE(blocks.result.keep_alive);
    ASSERT_EQ(blocks.result.bytes, v.size());
    EXPECT_EQ(std::memcmp(blocks.result.data, v.data(), v.size()), 0);
  }
  {
    local_blocks blocks;
    const std::uint64_t n = wire::block_min + 4097;
    const auto out = run_with("blocks::repeat_char",
                              encode_args(&blocks::repeat_char, nullptr, 'q', n), &blocks);
    ASSERT_TRUE(out.ok);
    EXPECT_EQ(out.reply.size(), header + 8);
    EXPECT_EQ(wire::reader(out.reply).next_result().follows, n);
    ASSERT_TRUE(blocks.result.keep_alive);
    ASSERT_EQ(blocks.result.bytes, n);
    EXPECT_EQ(std::string(static_cast<const char*>(blocks.result.data), n), std::string(n, 'q'));
  }
  {
    const auto v = chars(wire::block_min - 1, 2);
    local_blocks blocks;
    const auto out =
        run_with("blocks::echo_chars", encode_args(&blocks::echo_chars, nullptr, v), &blocks);
    ASSERT_TRUE(out.ok);
    EXPECT_FALSE(blocks.result.keep_alive);
    const auto item = wire::reader(out.reply).next_result();
    EXPECT_FALSE((item.status == wire::result_status::block));
    EXPECT_EQ(rd::decode_result<std::vector<char>>(item.payload), v);
  }
  {
    // Without call_blocks (local threads) a large result stays inline too.
    const auto v = chars(wire::block_min + 1, 3);
    const auto out =
        run_with("blocks::echo_chars", encode_args(&blocks::echo_chars, nullptr, v), nullptr);
    ASSERT_TRUE(out.ok);
    const auto item = wire::reader(out.reply).next_result();
    EXPECT_FALSE((item.status == wire::result_status::block));
    EXPECT_EQ(rd::decode_result<std::vector<char>>(item.payload), v);
  }
  {
    // A map() chunk's results stay together in its reply, however large.
    const auto v = chars(wire::block_min + 2, 4);
    const auto w = chars(2 * wire::block_min, 6);
    std::string payload;
    {
      rd::args_writer<decltype(&blocks::echo_chars)> out(payload, &blocks::echo_chars);
      out.add(v);
      out.add(w);
    }
    local_blocks blocks;
    const auto out = run_with("blocks::echo_chars", payload, &blocks, wire::chunk_flag, 2);
    ASSERT_TRUE(out.ok);
    EXPECT_FALSE(blocks.result.keep_alive);
    const auto chunk = rd::decode_result<rd::chunk<std::vector<char>>>(out.payload());
    ASSERT_EQ(chunk.values.size(), 2u);
    EXPECT_EQ(chunk.values[0], v);
    EXPECT_EQ(chunk.values[1], w);
  }
}

TEST(run_call, a_failing_call_leaves_no_block_to_send) {
  const auto v = chars(wire::block_min + 5, 7);
  std::vector<wire::pending_block> pending;
  const auto payload = encode_args(&blocks::throw_after_reading, &pending, v);
  ASSERT_EQ(pending.size(), 1u);
  {
    local_blocks blocks(pending);
    const auto out = run_with("blocks::throw_after_reading", payload, &blocks, wire::blocks_flag);
    ASSERT_FALSE(out.ok);
    EXPECT_EQ(blocks.receives, 1u);  // it read its argument, then threw
    EXPECT_FALSE(blocks.result.keep_alive);
    EXPECT_EQ(blocks.result.bytes, 0u);
    const auto info = wire::decode_error_info(out.payload());
    EXPECT_EQ(info.type_name, "std::runtime_error");
    EXPECT_EQ(info.message, "read " + std::to_string(v.size()) + " bytes");
  }
  {
    // run_call clears whatever was there: its caller sends blocks->result
    // whenever it holds a value, so a failure must leave it empty.
    local_blocks blocks(pending);
    blocks.result.keep_alive = std::make_shared<int>(1);
    blocks.result.data = v.data();
    blocks.result.bytes = v.size();
    EXPECT_FALSE(run_with("blocks::throw_after_reading", payload, &blocks, wire::blocks_flag).ok);
    EXPECT_FALSE(blocks.result.keep_alive);
    EXPECT_EQ(blocks.result.bytes, 0u);
  }
  {
    // An unknown name fails before any block is read (the worker drops them).
    local_blocks blocks(pending);
    const auto out = run_with("blocks::missing", payload, &blocks, wire::blocks_flag);
    ASSERT_FALSE(out.ok);
    EXPECT_EQ(blocks.receives, 0u);
    EXPECT_FALSE(blocks.result.keep_alive);
    EXPECT_NE(wire::decode_error_info(out.payload()).message.find("'blocks::missing'"),
              std::string::npos);
  }
}

TEST(run_call, block_markers_where_no_block_can_follow_are_decoding_errors) {
  const auto v = chars(wire::block_min, 8);
  std::vector<wire::pending_block> pending;
  const auto payload = encode_args(&blocks::echo_chars, &pending, v);
  ASSERT_EQ(pending.size(), 1u);
  for (const bool chunk : {true, false}) {
    local_blocks blocks(pending);
    // A map() chunk never has blocks; local threads have no call_blocks.
    const auto out = chunk ? run_with("blocks::echo_chars", payload, &blocks, wire::chunk_flag)
                           : run_with("blocks::echo_chars", payload, nullptr, wire::blocks_flag);
    ASSERT_FALSE(out.ok);
    EXPECT_EQ(blocks.receives, 0u);
    EXPECT_FALSE(blocks.result.keep_alive);
    const auto info = wire::decode_error_info(out.payload());
    EXPECT_EQ(info.type_name, "std::length_error") << (chunk ? "chunk" : "no call_blocks");
    EXPECT_NE(info.message.find("could not decode the arguments of 'blocks::echo_chars'"),
              std::string::npos)
        << info.message;
  }
}

// A map() chunk of a scalar -> scalar function takes the batched path
// (inputs and results copied in runs of 64): its results must be exactly
// those of one call per input, for counts below, at and past a batch.
TEST(run_call, scalar_chunks_give_every_result_in_order) {
  static_assert(rd::scalar_chunk_v<decltype(&half_unless_13)>);
  static_assert(!rd::scalar_chunk_v<decltype(&total_length)>);
  for (const std::uint32_t count : {2u, 63u, 64u, 65u, 200u}) {
    std::vector<std::int64_t> inputs(count);
    for (std::uint32_t i = 0; i < count; ++i) inputs[i] = 2 * i;  // even: never 169
    std::string payload;
    rd::args_writer<decltype(&half_unless_13)>(payload, &half_unless_13)
        .add_scalars(inputs.data(), count);
    const auto out = run("half_unless_13", payload, count, wire::chunk_flag);
    ASSERT_TRUE(out.ok) << count;
    const auto values = rd::decode_result<rd::chunk<double>>(out.payload()).values;
    ASSERT_EQ(values.size(), count);
    for (std::uint32_t i = 0; i < count; ++i) EXPECT_EQ(values[i], inputs[i] / 2.0) << i;
  }
}

TEST(run_call, a_scalar_chunk_fails_whole_when_one_call_throws_or_inputs_are_short) {
  std::vector<std::int64_t> inputs(100);
  for (std::size_t i = 0; i < inputs.size(); ++i) inputs[i] = static_cast<std::int64_t>(i) * 13;
  std::string payload;  // inputs[13] is 169: the 14th call throws
  rd::args_writer<decltype(&half_unless_13)>(payload, &half_unless_13)
      .add_scalars(inputs.data(), inputs.size());
  const auto thrown = run("half_unless_13", payload, 100, wire::chunk_flag);
  ASSERT_FALSE(thrown.ok);
  const auto info = wire::decode_error_info(thrown.payload());
  EXPECT_EQ(info.type_name, "std::domain_error");
  EXPECT_EQ(info.message, "unlucky input");
  // A chunk that claims more inputs than its message holds is a decoding error.
  const auto short_inputs = run("half_unless_13", payload, 101, wire::chunk_flag);
  ASSERT_FALSE(short_inputs.ok);
  EXPECT_NE(wire::decode_error_info(short_inputs.payload()).message.find("could not decode"),
            std::string::npos);
  // And one with bytes left over after its inputs, too.
  const auto long_inputs = run("half_unless_13", payload, 99, wire::chunk_flag);
  ASSERT_FALSE(long_inputs.ok);
}
