// run_call without MPI: the same code that MPI workers and local threads run.
#include "dispatch.hpp"

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

TEST(dispatch, runs_a_call_and_encodes_its_result) {
  const auto out = run("twice", payload_for(&twice, 21));
  ASSERT_TRUE(out.ok);
  EXPECT_EQ(rd::decode_result<int>(out.payload()), 42);
}

TEST(dispatch, function_objects_and_chunks) {
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

TEST(dispatch, failures_become_error_outcomes) {
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
TEST(dispatch, huge_lengths_in_boost_arguments_become_decoding_errors) {
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
TEST(dispatch, bytes_left_over_after_the_arguments_are_a_decoding_error) {
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
