// A payload over 2 GiB, past MPI's int count, both ways: a vector of
// 2 GiB + 4099 bytes sent to a worker that checksums it, and one the worker
// makes and returns, checked on the root byte by byte against its formula.
// Prints the wall time of each direction (no timing assertion).
//
// Memory: at most the root's value, its encoded call and the worker's
// copy (with one rank, local threads: the same three in one process).
#include "mpi/test_calls.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <vector>

namespace huge {

constexpr std::size_t size = (std::size_t{2} << 30) + 4099;

inline char pattern(std::size_t i, std::uint32_t seed) {
  return static_cast<char>((i * 131 + i / 4096 + seed) & 0xff);
}

std::vector<char> filled(std::size_t n, std::uint32_t seed) {
  std::vector<char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = pattern(i, seed);
  return v;
}

// Order-sensitive: 8 bytes at a time, then the tail.
std::uint64_t checksum(const std::vector<char>& v) {
  std::uint64_t h = 14695981039346656037ull ^ v.size();
  std::size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, v.data() + i, sizeof word);
    h = (h ^ word) * 1099511628211ull;
  }
  for (; i < v.size(); ++i) h = (h ^ static_cast<unsigned char>(v[i])) * 1099511628211ull;
  return h;
}

std::vector<std::uint64_t> size_and_checksum(const std::vector<char>& v) {
  return {v.size(), checksum(v)};
}

std::vector<char> make(std::uint64_t n, std::uint32_t seed) {
  return filled(n, seed);
}

}  // namespace huge

RANKPOOL_REGISTER(huge::size_and_checksum);
RANKPOOL_REGISTER(huge::make);

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void report(const char* direction, double seconds) {
  std::cout << "[ huge ] " << direction << ": " << huge::size << " bytes in " << seconds << " s ("
            << static_cast<double>(huge::size) / seconds / 1e9 << " GB/s)" << std::endl;
}

}  // namespace

TEST(huge, over_2_gib_to_a_worker_arrives_intact) {
  rankpool::executor pool;
  if (!pool) return;
  std::uint64_t expected = 0;
  double seconds = 0;
  {
    auto t = std::chrono::steady_clock::now();
    const auto v = huge::filled(huge::size, 17);
    const double fill = seconds_since(t);
    t = std::chrono::steady_clock::now();
    expected = huge::checksum(v);
    std::cout << "[ huge ] on the root: filling took " << fill << " s, the checksum "
              << seconds_since(t) << " s" << std::endl;
    const auto start = std::chrono::steady_clock::now();
    auto f = pool.submit(huge::size_and_checksum, v);
    const auto got = f.get();
    seconds = seconds_since(start);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], huge::size);
    EXPECT_EQ(got[1], expected) << "the worker's checksum differs from the root's";
  }
  report("root -> worker (argument), with the worker's checksum", seconds);
}

TEST(huge, over_2_gib_from_a_worker_arrives_intact) {
  rankpool::executor pool;
  if (!pool) return;
  const std::uint32_t seed = 29;
  const auto start = std::chrono::steady_clock::now();
  auto f = pool.submit(huge::make, std::uint64_t{huge::size}, seed);
  const std::vector<char>& v = f.get();
  const double seconds = seconds_since(start);
  ASSERT_EQ(v.size(), huge::size);
  // Against the formula, byte by byte: no second copy to compare with.
  std::size_t wrong = 0;
  std::size_t first_wrong = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != huge::pattern(i, seed)) {
      if (wrong++ == 0) first_wrong = i;
    }
  }
  EXPECT_EQ(wrong, 0u) << "first wrong byte at " << first_wrong;
  report("worker -> root (result), making it on the worker", seconds);
}
