// Values <-> bytes: raw values and Boost archives, arguments and results,
// lengths checked before allocating (rankpool/detail/value_codec.hpp), and
// the buffer pool.
#include <rankpool/rankpool.hpp>

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <list>
#include <random>

namespace wire = rankpool::detail::wire;

namespace rd = rankpool::detail;

namespace {
struct point {
  double x = 0, y = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& x& y;
  }
};
double norm(point p, std::vector<double> scale) {
  return p.x * scale.at(0) + p.y * scale.at(1);
}
double dot(std::vector<double> a, std::string label, int n) {
  return a.at(0) * n + label.size();
}

// Passes when decode() throws std::length_error saying `says`: rankpool's own
// check, not one the standard library makes (a resize past max_size()) or a
// later one (a value cut short).
template <class F>
::testing::AssertionResult length_error_saying(F&& decode, const std::string& says) {
  try {
    decode();
  } catch (const std::length_error& e) {
    if (std::string(e.what()).find(says) != std::string::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "length_error \"" << e.what() << "\" does not say \"" << says << "\"";
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw \"" << e.what() << "\", not a length_error";
  }
  return ::testing::AssertionFailure() << "nothing thrown, expected \"" << says << "\"";
}
}  // namespace

TEST(value_codec, raw_types_are_plain_bytes) {
  static_assert(rd::is_raw_v<int> && rd::is_raw_v<double> && rd::is_raw_v<std::string>);
  static_assert(rd::is_raw_v<std::vector<double>> && rd::is_raw_v<std::vector<char>>);
  static_assert(!rd::is_raw_v<std::vector<bool>> && !rd::is_raw_v<point>);
  static_assert(!rd::is_raw_v<std::vector<std::string>>);
  std::string out;
  rd::encode_result(out, std::vector<double>{1.5, -2});
  EXPECT_EQ(out.size(), 8u + 2 * sizeof(double));
  EXPECT_EQ(rd::decode_result<std::vector<double>>(out), (std::vector<double>{1.5, -2}));
  out.clear();
  rd::encode_result(out, std::string("h\0i", 3));
  EXPECT_EQ(rd::decode_result<std::string>(out), std::string("h\0i", 3));
}

TEST(value_codec, raw_lengths_are_checked_before_allocating) {
  std::string out;
  rd::encode_result(out, std::vector<double>{1, 2, 3});
  // A count well within max_size(), larger than the 24 bytes present: only
  // rankpool's check stops it before a resize and a read past the message.
  const std::uint64_t count = std::uint64_t{1} << 20;
  std::memcpy(&out[0], &count, sizeof count);
  EXPECT_TRUE(length_error_saying([&] { rd::decode_result<std::vector<double>>(out); },
                                  "a value claims 1048576 elements but its message holds fewer"));
  std::string short_int("\x01\x02", 2);
  EXPECT_TRUE(length_error_saying([&] { rd::decode_result<int>(short_int); }, "cut short"));
}

// Found by the wire fuzzer (tests/fuzz): an empty raw vector was copied with
// memcpy from its null data(), undefined behaviour that UBSan reports.
TEST(value_codec, empty_raw_vectors_decode) {
  std::string out;
  rd::encode_result(out, std::vector<double>{});
  EXPECT_TRUE(rd::decode_result<std::vector<double>>(out).empty());
  std::string args;
  rd::save_call(args, &dot, std::vector<double>{}, "", 0);
  rd::args_reader<decltype(&dot)> reader(args);
  EXPECT_TRUE(std::get<0>(reader.next()).empty());
}

// Found by the wire fuzzer: a byte other than 0 or 1 was copied into a raw
// bool, making a bool with no valid value (undefined behaviour when read).
TEST(value_codec, raw_bools_other_than_zero_or_one_are_rejected) {
  EXPECT_EQ(rd::decode_result<bool>(std::string(1, '\x01')), true);
  EXPECT_EQ(rd::decode_result<bool>(std::string(1, '\x00')), false);
  EXPECT_THROW(rd::decode_result<bool>(std::string(1, '\x02')), std::invalid_argument);
}

namespace {
// Overwrites the u64 (Boost's size_t and collection sizes) at `at`.
void patch_u64(std::string& bytes, std::size_t at, std::uint64_t value) {
  ASSERT_LE(at + 8, bytes.size());
  std::memcpy(&bytes[at], &value, 8);
}
}  // namespace

// Found by the wire fuzzer: Boost sizes a string, and reserves or resizes a
// container, from the length on the wire before reading any of it, so a
// corrupt length was an allocation of that size (here 1 GiB and more, where
// the messages hold a few bytes). Lengths are now checked against the bytes
// left first, so each of these fails with std::length_error and allocates nothing big.
TEST(value_codec, boost_lengths_are_checked_before_allocating) {
  // Boost's layout of a collection: its element count (u64), an item version
  // (u32), then the elements; a string is its length (u64), then its bytes.
  constexpr std::size_t item_version = 4;
  std::string strings;
  rd::encode_result(strings, std::vector<std::string>{"abc"});
  const auto abc = strings.find("abc");
  ASSERT_NE(abc, std::string::npos);
  const std::size_t length_at = abc - 8;
  const std::size_t count_at = length_at - item_version - 8;
  patch_u64(strings, length_at, std::uint64_t{1} << 30);
  EXPECT_THROW(rd::decode_result<std::vector<std::string>>(strings), std::length_error);
  patch_u64(strings, length_at, 3);
  patch_u64(strings, count_at, std::uint64_t{1} << 40);
  EXPECT_THROW(rd::decode_result<std::vector<std::string>>(strings), std::length_error);

  std::string doubles;  // Boost's bitwise path for arithmetic values: resize, then one copy
  rd::encode_result(doubles, std::vector<std::vector<double>>{{1.5, 2.5}});
  patch_u64(doubles, doubles.size() - 2 * sizeof(double) - 8, std::uint64_t{1} << 27);
  EXPECT_THROW(rd::decode_result<std::vector<std::vector<double>>>(doubles), std::length_error);

  std::string list;  // node containers resize too: one allocation per claimed node
  rd::encode_result(list, std::list<int>{1, 2});
  patch_u64(list, list.size() - 2 * sizeof(int) - item_version - 8, std::uint64_t{1} << 26);
  EXPECT_THROW(rd::decode_result<std::list<int>>(list), std::length_error);

  std::map<std::string, int> fine{{"k", 1}};  // honest lengths still decode
  std::string map_bytes;
  rd::encode_result(map_bytes, fine);
  EXPECT_EQ((rd::decode_result<std::map<std::string, int>>(map_bytes)), fine);
}

// Found by the wire fuzzer: Boost copied the byte of a bool unchecked, making
// a bool with no valid value.
TEST(value_codec, boost_bools_other_than_zero_or_one_are_rejected) {
  std::string boost;
  rd::encode_result(boost, std::pair<int, bool>{7, true});
  EXPECT_EQ((rd::decode_result<std::pair<int, bool>>(boost)), (std::pair<int, bool>{7, true}));
  EXPECT_EQ(boost.back(), '\x01');  // the bool is the last byte
  boost.back() = '\xff';
  EXPECT_THROW((rd::decode_result<std::pair<int, bool>>(boost)), std::invalid_argument);
}

TEST(value_codec, arguments_round_trip_raw_and_through_boost) {
  static_assert(rd::raw_arguments_v<decltype(&dot)>);
  static_assert(!rd::raw_arguments_v<decltype(&norm)>);
  std::string raw;
  rd::save_call(raw, &dot, std::vector<double>{2.0}, "abc", 4);
  rd::args_reader<decltype(&dot)> raw_reader(raw);
  const auto [a, label, n] = raw_reader.next();
  EXPECT_EQ(a, std::vector<double>{2.0});
  EXPECT_EQ(label, "abc");
  EXPECT_EQ(n, 4);
  std::string boost;
  rd::save_call(boost, &norm, point{1, 2}, std::vector<double>{3, 4});
  rd::args_reader<decltype(&norm)> boost_reader(boost);
  const auto [p, scale] = boost_reader.next();
  EXPECT_DOUBLE_EQ(p.x, 1);
  EXPECT_DOUBLE_EQ(p.y, 2);
  EXPECT_EQ(scale, (std::vector<double>{3, 4}));
}

TEST(value_codec, chunks_of_raw_and_boost_results) {
  std::string raw;
  rd::raw_writer(raw).put(std::uint32_t{2});
  {
    rd::result_writer<int> ints(raw);
    ints.put(7);
    ints.put(8);
  }
  EXPECT_EQ(rd::decode_result<rd::chunk<int>>(raw).values, (std::vector<int>{7, 8}));
  std::string boost;
  rd::raw_writer(boost).put(std::uint32_t{2});
  {
    rd::result_writer<point> points(boost);
    points.put(point{1, 2});
    points.put(point{3, 4});
  }
  const auto c = rd::decode_result<rd::chunk<point>>(boost);
  ASSERT_EQ(c.values.size(), 2u);
  EXPECT_DOUBLE_EQ(c.values[1].y, 4);
  // A count larger than the values present is an error, not a huge allocation.
  // Scalars: rankpool checks the count against the bytes before it resizes.
  raw[0] = '\xe8';  // 1000 results claimed, 2 present
  raw[1] = '\x03';
  EXPECT_TRUE(length_error_saying([&] { rd::decode_result<rd::chunk<int>>(raw); },
                                  "a chunk claims 1000 results but its message holds fewer"));
  // Boost values: the count is not trusted, values are decoded until the
  // bytes run out (an archive error). Reserving the claimed 2^32 - 1 points
  // (64 GiB) first would fail with bad_alloc instead.
  boost[0] = '\xff';
  boost[1] = '\xff';
  boost[2] = '\xff';
  boost[3] = '\xff';
  EXPECT_THROW(rd::decode_result<rd::chunk<point>>(boost), boost::archive::archive_exception);
}

namespace {
int twice_int(int x) {
  return 2 * x;
}
double half(const double& x) {
  return x / 2;
}
long widen(long x) {
  return x;
}
bool negate(bool b) {
  return !b;
}
}  // namespace

// map() copies contiguous inputs of the parameter's own scalar type at once.
static_assert(rd::bulk_inputs_v<decltype(&twice_int), std::vector<int>>);
static_assert(rd::bulk_inputs_v<decltype(&half), std::vector<double>>);
static_assert(rd::bulk_inputs_v<decltype(&twice_int), std::array<int, 3>>);
static_assert(!rd::bulk_inputs_v<decltype(&widen), std::vector<int>>);  // converted one by one
static_assert(!rd::bulk_inputs_v<decltype(&twice_int), std::list<int>>);
static_assert(!rd::bulk_inputs_v<decltype(&negate), std::vector<char>>);

TEST(value_codec, bulk_inputs_encode_as_one_argument_list_each) {
  const std::vector<int> inputs = {1, -2, 300000, 4};
  std::string one_by_one, bulk;
  {
    rd::args_writer<decltype(&twice_int)> out(one_by_one, &twice_int);
    for (int x : inputs) out.add(x);
  }
  {
    rd::args_writer<decltype(&twice_int)> out(bulk, &twice_int);
    out.add_scalars(inputs.data(), inputs.size());
  }
  EXPECT_EQ(bulk, one_by_one);
  rd::args_reader<decltype(&twice_int)> reader(bulk);
  for (int x : inputs) EXPECT_EQ(std::get<0>(reader.next()), x);
  reader.expect_end();
}

// An empty vector's data() may be null: encoding one must not hand it to
// memcpy (UBSan reports that).
TEST(value_codec, empty_raw_vectors_encode) {
  std::string out;
  rd::encode_result(out, std::vector<double>{});
  rd::encode_result(out, std::string());
  rd::raw_reader reader(out);
  EXPECT_TRUE(reader.get<std::vector<double>>().empty());
  EXPECT_TRUE(reader.get<std::string>().empty());
}

// Blocks (wire::block_min): large contiguous values that travel as their own
// messages after their call or result item.
namespace {

// `n` bytes with no NUL bytes: they may be passed as a C string.
std::string letters(std::size_t n) {
  std::string s(n, 'a');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 131 + i / 4096) % 26);
  return s;
}

std::size_t by_reference(const std::vector<double>& a, int n, const std::string& s) {
  return a.size() + static_cast<std::size_t>(n) + s.size();
}

std::uint64_t stored_u64(const std::string& bytes, std::size_t at) {
  std::uint64_t value = 0;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

}  // namespace

// Only a worker running a single call can receive blocks; anywhere else
// (the root's results, map() chunks, local threads) a marker is an error.
TEST(value_codec, a_block_marker_with_nothing_to_receive_it_is_a_length_error) {
  std::string marked;
  rd::raw_writer(marked).put(std::uint64_t{3} | wire::block_marker);
  EXPECT_THROW(rd::raw_reader(marked).get<std::vector<double>>(), std::length_error);
  EXPECT_THROW(rd::raw_reader(marked).get<std::string>(), std::length_error);
  EXPECT_THROW(rd::decode_result<std::vector<char>>(marked), std::length_error);

  const std::vector<double> big(wire::block_min / sizeof(double));
  std::string args;
  std::vector<wire::pending_block> pending;
  rd::args_writer<decltype(&dot)>(args, &dot, &pending).add(big, "abc", 4);
  ASSERT_EQ(pending.size(), 1u);
  rd::args_reader<decltype(&dot)> reader(args);
  EXPECT_THROW(reader.next(), std::length_error);
}

TEST(value_codec, only_large_arguments_of_the_parameter_type_are_listed_as_blocks) {
  using writer = rd::args_writer<decltype(&by_reference)>;
  constexpr std::size_t per_block = wire::block_min / sizeof(double);
  const std::vector<double> below(per_block - 1, 1.5);
  const std::vector<double> at(per_block, 2.5);
  const std::string text = letters(wire::block_min + 1);

  std::vector<wire::pending_block> pending;
  std::string small;
  writer(small, &by_reference, &pending).add(below, 1, std::string("s"));
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(small.size(), 8 + below.size() * sizeof(double) + 4 + 8 + 1);

  std::string large;
  writer(large, &by_reference, &pending).add(at, 7, text);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].data, at.data());  // the caller's own value, not a copy
  EXPECT_EQ(pending[0].size, wire::block_min);
  EXPECT_EQ(pending[1].data, text.data());
  EXPECT_EQ(pending[1].size, text.size());
  ASSERT_EQ(large.size(), 8u + 4 + 8);  // two marked counts and the int between them
  EXPECT_EQ(stored_u64(large, 0), per_block | wire::block_marker);
  EXPECT_EQ(stored_u64(large, 12), text.size() | wire::block_marker);

  // Converted first (a const char* for a std::string): inline, however large.
  pending.clear();
  std::string converted;
  writer(converted, &by_reference, &pending).add(below, 1, text.c_str());
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(converted.size(), 8 + below.size() * sizeof(double) + 4 + 8 + text.size());
  // Without a list (local threads), nothing is a block.
  std::string local;
  writer(local, &by_reference).add(at, 7, text);
  EXPECT_EQ(local.size(), 8 + at.size() * sizeof(double) + 4 + 8 + text.size());
  rd::args_reader<decltype(&by_reference)> reader(local);
  const auto [a, n, s] = reader.next();
  EXPECT_EQ(a, at);
  EXPECT_EQ(n, 7);
  EXPECT_EQ(s, text);
}

// Buffers are reused rather than freed: large ones (1 MiB and more) up to
// 256 MiB in all, small ones (64 B .. 64 KiB) a few dozen. A reused buffer
// is the same memory, and a request is never given a buffer too small.
TEST(buffers, released_buffers_are_reused_and_large_enough) {
  std::string small = rd::acquire_buffer(300);
  ASSERT_GE(small.capacity(), 300u);
  small.assign(300, 's');
  const char* small_memory = small.data();
  rd::release_small_buffer(std::move(small));
  std::string again = rd::acquire_buffer(200);
  EXPECT_EQ(again.data(), small_memory);
  EXPECT_GE(again.capacity(), 300u);
  std::string bigger = rd::acquire_buffer(again.capacity() + 1000);  // the pool has none that fits
  EXPECT_GE(bigger.capacity(), again.capacity() + 1000);
  EXPECT_NE(bigger.data(), again.data());

  std::string large = rd::acquire_buffer(rd::pooled_buffer_min);
  ASSERT_GE(large.capacity(), rd::pooled_buffer_min);
  const char* large_memory = large.data();
  rd::release_buffer(std::move(large));
  std::string large_again = rd::acquire_buffer(rd::pooled_buffer_min / 2 + rd::pooled_buffer_min);
  EXPECT_NE(large_again.data(), large_memory);  // too small for this request
  EXPECT_GE(large_again.capacity(), rd::pooled_buffer_min / 2 + rd::pooled_buffer_min);
  std::string reused = rd::acquire_buffer(rd::pooled_buffer_min);
  EXPECT_EQ(reused.data(), large_memory);
}
