// The wire format: call items and result items written and read back,
// truncated, forged and random messages rejected (src/wire/wire.cpp, src/wire/call_item.cpp).
#include "wire/wire.hpp"
#include "support/call_items.hpp"

#include <rankpool/rankpool.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <list>
#include <random>

namespace wire = rankpool::detail::wire;

TEST(wire, call_items_round_trip_in_sequence) {
  std::string message;
  test_support::append_call(message, {1, 0, 1, "square", "abc"});
  test_support::append_call(message, {2, wire::chunk_flag, 64, "ns::f", std::string(1000, 'x')});
  wire::reader reader(message);
  const auto a = reader.next_call();
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(a.name, "square");
  EXPECT_EQ(a.payload, "abc");
  EXPECT_EQ(a.count, 1u);
  const auto b = reader.next_call();
  EXPECT_EQ(b.id, 2u);
  EXPECT_EQ(b.flags, wire::chunk_flag);
  EXPECT_EQ(b.count, 64u);
  EXPECT_EQ(b.payload.size(), 1000u);
  EXPECT_TRUE(reader.empty());
}

TEST(wire, result_items_and_error_records_round_trip) {
  std::string message;
  test_support::append_result(message, {0xfedcba9876543210ull, true, "payload"});
  const auto error = wire::encode_error({"std::out_of_range", "index 7", "node01", 3});
  test_support::append_result(message, {9, false, error});
  wire::reader reader(message);
  const auto ok = reader.next_result();
  EXPECT_EQ(ok.id, 0xfedcba9876543210ull);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.payload, "payload");
  const auto failed = reader.next_result();
  EXPECT_FALSE(failed.ok());
  const auto info = wire::decode_error_info(failed.payload);
  EXPECT_EQ(info.type_name, "std::out_of_range");
  EXPECT_EQ(info.message, "index 7");
  EXPECT_EQ(info.host, "node01");
  EXPECT_EQ(info.rank, 3);
}

TEST(wire, every_truncation_is_a_decode_error) {
  std::string message;
  test_support::append_call(message, {5, 0, 1, "name", "payload"});
  for (std::size_t cut = 1; cut < message.size(); ++cut) {
    wire::reader reader(std::string_view(message).substr(0, cut));
    EXPECT_THROW(reader.next_call(), wire::decode_error) << "cut at " << cut;
  }
}

TEST(wire, huge_claimed_lengths_are_rejected_before_allocation) {
  std::string message;
  test_support::append_call(message, {5, 0, 1, "name", "p"});
  message[13] = '\xff';  // name length now claims ~4 GiB
  message[14] = '\xff';
  message[15] = '\xff';
  wire::reader reader(message);
  EXPECT_THROW(reader.next_call(), wire::decode_error);
}

TEST(wire, invalid_flags_and_counts_are_rejected) {
  std::string bad_flags;
  test_support::append_call(bad_flags, {1, 0x80, 1, "f", ""});
  EXPECT_THROW(wire::reader(bad_flags).next_call(), wire::decode_error);
  std::string zero_count;
  test_support::append_call(zero_count, {1, wire::chunk_flag, 0, "f", ""});
  EXPECT_THROW(wire::reader(zero_count).next_call(), wire::decode_error);
  std::string plain_with_count;
  test_support::append_call(plain_with_count, {1, 0, 3, "f", ""});
  EXPECT_THROW(wire::reader(plain_with_count).next_call(), wire::decode_error);
}

TEST(wire, random_bytes_never_crash_the_reader) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 200, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    try {
      wire::reader reader(bytes);
      while (!reader.empty()) (void)reader.next_call();
    } catch (const wire::decode_error&) {
    }
    try {
      wire::reader reader(bytes);
      while (!reader.empty()) (void)reader.next_result();
    } catch (const wire::decode_error&) {
    }
  }
}

namespace rd = rankpool::detail;

TEST(call_item, call_items_built_in_place) {
  std::string item;
  const auto at = wire::begin_call(item, "f", wire::chunk_flag, 1);
  item += "args";
  wire::end_call(item, at);
  wire::set_call_id(item, 99);
  wire::set_call_count(item, 5);
  const auto call = wire::reader(item).next_call();
  EXPECT_EQ(call.id, 99u);
  EXPECT_EQ(call.count, 5u);
  EXPECT_EQ(call.name, "f");
  EXPECT_EQ(call.payload, "args");
  EXPECT_EQ(wire::call_id(item), 99u);
}

// Blocks (wire::block_min): large contiguous values that travel as their own
// messages after their call or result item.
namespace {

// `n` bytes that differ from one block to the next and along each block.
std::string patterned(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + seed * 7 + i / 4096);
  return s;
}

}  // namespace

TEST(call_item, a_call_with_blocks_carries_them_after_its_item_until_split) {
  for (const std::size_t count : {1u, 3u}) {
    std::vector<std::string> data;
    for (std::size_t i = 0; i < count; ++i) {
      data.push_back(patterned(wire::block_min + i * 4099, static_cast<unsigned>(i)));
    }
    std::string item;
    const auto at = wire::begin_call(item, "ns::f", 0, 1);
    item += "small arguments";
    const std::size_t item_size = item.size();
    std::vector<wire::pending_block> pending;
    for (const auto& d : data) pending.push_back({d.data(), d.size()});
    wire::end_call_with_blocks(item, at, pending);
    wire::set_call_id(item, 42);  // as the executor does, on the whole buffer
    EXPECT_TRUE(wire::has_blocks(item));

    std::vector<wire::block_span> spans{{7, 7}};  // split_blocks starts afresh
    EXPECT_EQ(wire::split_blocks(item, spans), item_size) << count << " blocks";
    ASSERT_EQ(spans.size(), count);
    std::size_t offset = item_size;
    for (std::size_t i = 0; i < count; ++i) {
      EXPECT_EQ(spans[i].offset, offset) << "block " << i;
      EXPECT_EQ(spans[i].size, data[i].size()) << "block " << i;
      EXPECT_TRUE(std::string_view(item).substr(spans[i].offset, spans[i].size) == data[i])
          << "block " << i << " of " << count << " is not the caller's bytes";
      offset += data[i].size();
    }
    EXPECT_EQ(item.size(), offset + 8 * count + 4);  // then the size table and its count

    wire::reader reader(std::string_view(item).substr(0, item_size));
    const auto call = reader.next_call();
    EXPECT_TRUE(reader.empty());
    EXPECT_EQ(call.flags, wire::blocks_flag);
    EXPECT_EQ(call.id, 42u);
    EXPECT_EQ(call.count, 1u);
    EXPECT_EQ(call.name, "ns::f");
    EXPECT_EQ(call.payload, "small arguments");
    EXPECT_EQ(wire::call_id(item), 42u);
  }
  std::string plain;
  test_support::append_call(plain, {1, 0, 1, "f", std::string(100, 'x')});
  EXPECT_FALSE(wire::has_blocks(plain));
  std::string chunk;
  test_support::append_call(chunk, {1, wire::chunk_flag, 2, "f", ""});
  EXPECT_FALSE(wire::has_blocks(chunk));
}

TEST(wire, blocks_flag_is_only_valid_on_a_single_call) {
  std::string blocks;
  test_support::append_call(blocks, {1, wire::blocks_flag, 1, "f", ""});
  EXPECT_EQ(wire::reader(blocks).next_call().flags, wire::blocks_flag);
  std::string both;
  test_support::append_call(both, {1, wire::chunk_flag | wire::blocks_flag, 1, "f", ""});
  EXPECT_THROW(wire::reader(both).next_call(), wire::decode_error);
  std::string both_counted;
  test_support::append_call(both_counted, {1, wire::chunk_flag | wire::blocks_flag, 4, "f", ""});
  EXPECT_THROW(wire::reader(both_counted).next_call(), wire::decode_error);
  std::string blocks_counted;
  test_support::append_call(blocks_counted, {1, wire::blocks_flag, 2, "f", ""});
  EXPECT_THROW(wire::reader(blocks_counted).next_call(), wire::decode_error);
}

TEST(wire, a_result_sent_as_a_block_is_announced_by_its_size) {
  const std::uint64_t bytes = (std::uint64_t{2} << 30) + 4099;  // past a 32-bit size
  std::string message;
  const auto at = wire::begin_result(message, 77, true);
  wire::end_block_result(message, at, bytes);
  EXPECT_EQ(message.size(), 8u + 1 + 8 + 8);  // the size only, no value
  test_support::append_result(message, {78, true, "v"});
  wire::reader reader(message);
  const auto block = reader.next_result();
  EXPECT_EQ(block.id, 77u);
  EXPECT_TRUE(block.ok());
  EXPECT_TRUE((block.status == wire::result_status::block));
  EXPECT_EQ(block.follows, bytes);
  const auto inline_value = reader.next_result();
  EXPECT_EQ(inline_value.id, 78u);
  EXPECT_TRUE(inline_value.ok());
  EXPECT_FALSE((inline_value.status == wire::result_status::block));
  EXPECT_EQ(inline_value.payload, "v");
  EXPECT_TRUE(reader.empty());
}

TEST(wire, malformed_block_results_and_unknown_statuses_are_rejected) {
  constexpr std::size_t status_at = 8;  // after the u64 id
  for (const std::size_t size : {0u, 7u, 9u, 16u}) {
    std::string message;
    test_support::append_result(message, {5, true, std::string(size, '\x01')});
    message[status_at] = 2;
    EXPECT_THROW(wire::reader(message).next_result(), wire::decode_error)
        << "a block announced with " << size << " bytes of size";
  }
  std::string eight;
  test_support::append_result(eight, {5, true, std::string(8, '\0')});
  eight[status_at] = 2;
  EXPECT_TRUE(wire::reader(eight).next_result().status == wire::result_status::block);
  for (const int status : {4, 0x80, 0xff}) {
    std::string message;
    test_support::append_result(message, {5, true, std::string(8, '\0')});
    message[status_at] = static_cast<char>(status);
    EXPECT_THROW(wire::reader(message).next_result(), wire::decode_error) << "status " << status;
  }
}

TEST(wire, an_envelope_announces_the_size_of_the_message_that_follows) {
  const std::uint64_t size = (std::uint64_t{5} << 32) + 123;  // past 32 bits
  const auto envelope = wire::encode_envelope(size);
  wire::reader reader(envelope);
  const auto item = reader.next_result();
  EXPECT_TRUE((item.status == wire::result_status::envelope));
  EXPECT_FALSE((item.status == wire::result_status::block));
  EXPECT_EQ(item.id, 0u);
  EXPECT_EQ(item.follows, size);
  EXPECT_TRUE(reader.empty());
  std::string short_size = envelope;
  short_size.pop_back();  // the payload length still says 8
  EXPECT_THROW(wire::reader(short_size).next_result(), wire::decode_error);
}
