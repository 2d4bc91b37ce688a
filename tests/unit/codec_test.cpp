#include "codec.hpp"

#include <gtest/gtest.h>

#include <random>

namespace wire = rankpool::detail::wire;

TEST(codec, call_items_round_trip_in_sequence) {
  std::string message;
  wire::append_call(message, {1, 0, 1, "square", "abc"});
  wire::append_call(message, {2, wire::chunk_flag, 64, "ns::f", std::string(1000, 'x')});
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

TEST(codec, result_items_and_error_records_round_trip) {
  std::string message;
  wire::append_result(message, {0xfedcba9876543210ull, true, "payload"});
  const auto error = wire::encode_error({"std::out_of_range", "index 7", "node01", 3});
  wire::append_result(message, {9, false, error});
  wire::reader reader(message);
  const auto ok = reader.next_result();
  EXPECT_EQ(ok.id, 0xfedcba9876543210ull);
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.payload, "payload");
  const auto failed = reader.next_result();
  EXPECT_FALSE(failed.ok);
  const auto info = wire::decode_error_info(failed.payload);
  EXPECT_EQ(info.type_name, "std::out_of_range");
  EXPECT_EQ(info.message, "index 7");
  EXPECT_EQ(info.host, "node01");
  EXPECT_EQ(info.rank, 3);
}

TEST(codec, every_truncation_is_a_decode_error) {
  std::string message;
  wire::append_call(message, {5, 0, 1, "name", "payload"});
  for (std::size_t cut = 1; cut < message.size(); ++cut) {
    wire::reader reader(std::string_view(message).substr(0, cut));
    EXPECT_THROW(reader.next_call(), wire::decode_error) << "cut at " << cut;
  }
}

TEST(codec, huge_claimed_lengths_are_rejected_before_allocation) {
  std::string message;
  wire::append_call(message, {5, 0, 1, "name", "p"});
  message[13] = '\xff';  // name length now claims ~4 GiB
  message[14] = '\xff';
  message[15] = '\xff';
  wire::reader reader(message);
  EXPECT_THROW(reader.next_call(), wire::decode_error);
}

TEST(codec, invalid_flags_and_counts_are_rejected) {
  std::string bad_flags;
  wire::append_call(bad_flags, {1, 0x80, 1, "f", ""});
  EXPECT_THROW(wire::reader(bad_flags).next_call(), wire::decode_error);
  std::string zero_count;
  wire::append_call(zero_count, {1, wire::chunk_flag, 0, "f", ""});
  EXPECT_THROW(wire::reader(zero_count).next_call(), wire::decode_error);
  std::string plain_with_count;
  wire::append_call(plain_with_count, {1, 0, 3, "f", ""});
  EXPECT_THROW(wire::reader(plain_with_count).next_call(), wire::decode_error);
}

TEST(codec, random_bytes_never_crash_the_reader) {
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
