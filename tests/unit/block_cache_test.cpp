// The cache of large vectors that blocks are received into
// (detail/block_cache.hpp). Each test uses its own element type: every type
// has one cache for the whole process.
#include "rankpool/detail/block_cache.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace rd = rankpool::detail;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;

}  // namespace

TEST(block_cache, a_kept_vector_receives_the_next_block_that_fits) {
  auto& cache = rd::block_cache<std::vector<std::int16_t>>::instance();
  auto first = cache.take(mib);  // 2 MiB of int16
  ASSERT_EQ(first.size(), mib);
  const auto* memory = first.data();
  cache.keep(first);
  EXPECT_TRUE(first.empty()) << "a kept vector leaves its owner";
  auto second = cache.take(mib / 2);
  EXPECT_EQ(second.data(), memory);
  EXPECT_EQ(second.size(), mib / 2);
  auto third = cache.take(mib / 2);  // the cache is empty again: new memory
  EXPECT_NE(third.data(), memory);
  EXPECT_EQ(third.size(), mib / 2);
}

TEST(block_cache, small_vectors_stay_with_their_owner) {
  auto& cache = rd::block_cache<std::vector<std::int32_t>>::instance();
  std::vector<std::int32_t> small(1000, 7);
  cache.keep(small);
  EXPECT_EQ(small.size(), 1000u);
  auto fresh = cache.take(10);
  EXPECT_NE(fresh.data(), small.data());
}

TEST(block_cache, keeps_a_bounded_number_of_vectors) {
  auto& cache = rd::block_cache<std::vector<std::uint8_t>>::instance();
  std::vector<std::vector<std::uint8_t>> values;
  for (std::size_t i = 0; i <= rd::block_cache_entries; ++i) values.push_back(cache.take(mib));
  for (auto& v : values) cache.keep(v);
  std::size_t left_with_owner = 0;
  for (const auto& v : values) left_with_owner += v.empty() ? 0 : 1;
  EXPECT_EQ(left_with_owner, 1u);
}

TEST(block_cache, prefers_a_vector_that_needs_no_writing) {
  auto& cache = rd::block_cache<std::vector<std::uint16_t>>::instance();
  auto larger = cache.take(4 * mib);
  larger.resize(mib);  // room for 4 Mi elements, holds 1 Mi
  auto exact = cache.take(2 * mib);
  const auto* exact_memory = exact.data();
  cache.keep(larger);
  cache.keep(exact);
  auto got = cache.take(2 * mib);
  EXPECT_EQ(got.data(), exact_memory);
}

TEST(block_cache, keep_blocks_takes_the_arguments_a_call_left_whole) {
  using longs = std::vector<std::int64_t>;
  auto& cache = rd::block_cache<longs>::instance();
  std::tuple<longs, int, longs, std::string> args{longs(mib, 1), 3, longs(mib, 2),
                                                  std::string("short")};
  const auto* whole = std::get<0>(args).data();
  longs taken_by_value = std::move(std::get<2>(args));  // as a by-value parameter would
  rd::keep_blocks(args);
  EXPECT_TRUE(std::get<0>(args).empty());
  EXPECT_EQ(std::get<3>(args), "short");
  EXPECT_EQ(cache.take(mib).data(), whole);
}
