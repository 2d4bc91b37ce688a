// imap() and imap_unordered(): inputs read only as results are consumed,
// bounded memory over ten million inputs, early exit, failures in place.
#include "mpi/test_calls.hpp"
#include "support/proc_stats.hpp"

#include <gtest/gtest.h>

#include <boost/range/iterator_range.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

namespace lazy_calls {

// Input 0 at once, any other after a second.
int first_at_once(int i) {
  if (i != 0) std::this_thread::sleep_for(std::chrono::seconds(1));
  return i;
}

}  // namespace lazy_calls

RANKPOOL_REGISTER(lazy_calls::first_at_once);

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr long asan_quarantine_mib = 256;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr long asan_quarantine_mib = 256;
#else
constexpr long asan_quarantine_mib = 0;
#endif
#else
constexpr long asan_quarantine_mib = 0;
#endif

}  // namespace

namespace {

// An input iterator over 0, 1, ..., n-1 that owns no storage and counts
// how many inputs were read (dereferenced) so far.
class counting_input {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = int;
  using difference_type = std::ptrdiff_t;
  using pointer = const int*;
  using reference = int;

  counting_input() = default;
  counting_input(int at, std::size_t* reads) : at_(at), reads_(reads) {}
  int operator*() const {
    ++*reads_;
    return at_;
  }
  counting_input& operator++() {
    ++at_;
    return *this;
  }
  friend bool operator==(const counting_input& a, const counting_input& b) {
    return a.at_ == b.at_;
  }
  friend bool operator!=(const counting_input& a, const counting_input& b) { return !(a == b); }

 private:
  int at_ = 0;
  std::size_t* reads_ = nullptr;
};

auto counting_range(int n, std::size_t* reads) {
  return boost::make_iterator_range(counting_input(0, reads), counting_input(n, reads));
}

}  // namespace

TEST(lazy_maps, imap_yields_in_input_order_for_every_chunking) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<int> inputs(203);
  for (int i = 0; i < 203; ++i) inputs[i] = i;
  for (std::size_t chunksize : {1u, 7u, 64u, 500u}) {
    for (std::size_t buffersize : {0u, 1u, 3u}) {
      int i = 0;
      for (int y : pool.imap(calls::square, inputs, chunksize, buffersize)) {
        EXPECT_EQ(y, i * i) << "chunksize " << chunksize << " buffersize " << buffersize;
        ++i;
      }
      EXPECT_EQ(i, 203);
    }
  }
  int n = 0;
  for (int y : pool.imap(calls::square, std::vector<int>{})) n += y + 1;
  EXPECT_EQ(n, 0);
  EXPECT_THROW(pool.imap(calls::square, inputs, 0), std::invalid_argument);
}

TEST(lazy_maps, imap_unordered_yields_every_result_once) {
  rankpool::executor pool;
  if (!pool) return;
  std::multiset<int> seen;
  for (int y : pool.imap_unordered(calls::square, std::vector<int>{5, 4, 3, 2, 1, 0, 6}, 2, 2)) {
    seen.insert(y);
  }
  EXPECT_EQ(seen, (std::multiset<int>{0, 1, 4, 9, 16, 25, 36}));
}

TEST(lazy_maps, imap_unordered_yields_as_calls_finish) {
  rankpool::executor pool;
  if (!pool) return;
  if (pool.max_workers() < 2) GTEST_SKIP() << "needs two workers to finish out of order";
  std::vector<int> order;
  for (int ms : pool.imap_unordered(calls::sleep_ms, std::vector<int>{1500, 1}, 1, 2)) {
    order.push_back(ms);
  }
  EXPECT_EQ(order, (std::vector<int>{1, 1500}));
}

TEST(lazy_maps, inputs_are_read_only_as_results_are_consumed) {
  rankpool::executor pool;
  if (!pool) return;
  std::size_t reads = 0;
  auto results = pool.imap(calls::square, counting_range(1000, &reads), 10, 4);
  EXPECT_EQ(reads, 0u);  // nothing is read before the loop starts
  auto it = results.begin();
  EXPECT_EQ(*it, 0);
  EXPECT_EQ(reads, 40u);              // four chunks of ten submitted, none consumed
  for (int i = 0; i < 10; ++i) ++it;  // past the first chunk's last result
  EXPECT_EQ(*it, 100);
  EXPECT_EQ(reads, 50u);  // one chunk consumed, one more submitted
}

TEST(lazy_maps, ten_million_inputs_in_bounded_memory) {
  rankpool::executor pool;
  if (!pool) return;
  std::size_t reads = 0;
  constexpr int n = 10'000'000;
  // Warm up the pool's buffers and the workers first. (increment, not
  // square: the square of an int past 46340 overflows.)
  for (int y : pool.imap(calls::increment, counting_range(100'000, &reads), 1000)) (void)y;
  reads = 0;
  const long before = proc_stats::rss_kib();
  long peak = before;
  long long total = 0;
  int i = 0;
  for (int y : pool.imap(calls::increment, counting_range(n, &reads), 1000, 8)) {
    total += y == i + 1 ? 1 : 0;
    if (++i % 1'000'000 == 0) peak = std::max(peak, proc_stats::rss_kib());
  }
  EXPECT_EQ(total, n);
  EXPECT_EQ(reads, static_cast<std::size_t>(n));
  // Under AddressSanitizer, freed memory waits in its quarantine (256 MiB by
  // default) before it is reused: bounded still, but by that much more.
  EXPECT_LT(peak - before, (16 + asan_quarantine_mib) * 1024)
      << "RSS grew by " << (peak - before) << " KiB";
  std::cout << "10^7 inputs through imap: root RSS grew by " << (peak - before) << " KiB\n";
}

TEST(lazy_maps, works_with_an_istream_iterator) {
  rankpool::executor pool;
  if (!pool) return;
  std::istringstream text("1 2 3 4 5 6 7 8 9 10");
  auto numbers =
      boost::make_iterator_range(std::istream_iterator<int>(text), std::istream_iterator<int>());
  int total = 0;
  for (int y : pool.imap(calls::square, numbers, 3)) total += y;
  EXPECT_EQ(total, 385);
}

TEST(lazy_maps, leaving_the_loop_early_cancels_the_rest_and_shutdown_returns) {
  rankpool::executor pool;
  if (!pool) return;
  std::size_t reads = 0;
  {
    // A billion calls, the first at once and every other one of a second:
    // only what the buffer holds is ever read, and when the first result
    // comes the workers are busy for a second more, so the buffer's last
    // chunks have certainly not started.
    for (int i : pool.imap(lazy_calls::first_at_once,
                           boost::make_iterator_range(counting_input(0, &reads),
                                                      counting_input(1'000'000'000, &reads)),
                           1, 4)) {
      EXPECT_EQ(i, 0);
      break;
    }
  }
  EXPECT_LE(reads, 5u);
  pool.shutdown(true);  // returns once the calls already running have ended
  // Every chunk submitted either ran or was cancelled; with fewer workers
  // than the buffer's chunks some had not started, and were cancelled.
  const auto s = pool.stats();
  EXPECT_EQ(s.completed + s.cancelled, s.submitted);
  EXPECT_LE(s.submitted, 5u);
  if (pool.max_workers() < 3) {
    EXPECT_GE(s.cancelled, 1u);
  }
}

TEST(lazy_maps, a_failed_call_rethrows_when_its_result_is_reached) {
  rankpool::executor pool;
  if (!pool) return;
  std::vector<int> inputs{0, 1, 2, 3, 4, 5};
  std::vector<int> got;
  try {
    for (int y : pool.imap(calls::throw_out_of_range, std::vector<int>{}, 1)) got.push_back(y);
    for (int y : pool.imap(calls::square, inputs, 1)) {
      got.push_back(y);
      if (y == 4) {
        for (int z : pool.imap(calls::throw_out_of_range, inputs, 1)) got.push_back(z);
      }
    }
    FAIL() << "no error";
  } catch (const rankpool::remote_error& e) {
    EXPECT_EQ(e.type_name(), "std::out_of_range");
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 4}));
}
