// Soak: many calls of mixed sizes (a byte to 1 MiB), 1% of them throwing,
// every outcome checked, and the memory of every rank sampled through the
// run. After a warm-up (the first 10% of calls) memory must stay flat: no
// rank's resident set may grow by more than the limit, measured with no
// call in flight at the end of warm-up and at the end, and at its peak in
// between. malloc's bytes in use are reported beside it, to tell a leak
// (they grow with the calls) from the allocator keeping freed pages (they
// do not); they include the executor's pool of reused buffers of 1 MiB or
// more, which keeps a few here (batched calls reach that size).
//
//   mpirun --oversubscribe -n 4 rankpool_soak [CALLS] [--window W] [--rss-limit-mib M]
//
// CALLS defaults to 1,000,000. Exit status 0 when every result is right, the
// errors are exactly the expected ones and memory stayed within the limit.
#include "support/proc_stats.hpp"

#include <rankpool/rankpool.hpp>

#include <malloc.h>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/vector.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace soak {

// splitmix64's finaliser: every property of a call derives from its index
// through it, so the root knows each call's expected outcome without
// keeping its payload.
constexpr std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr std::size_t max_size = std::size_t{1} << 20;

bool throws_at(std::uint64_t index) {
  return mix(index ^ 0x7468726f77ULL) % 100 == 0;  // 1%
}

bool echoes_at(std::uint64_t index) {
  return mix(index ^ 0x6563686fULL) % 8 == 0;  // these also return their payload, reversed
}

// Log-uniform within tiers, so most calls are small and MiB-sized ones are
// rare enough (0.1%) that a million calls move about 2 GB each way:
// 90% 1 B..256 B, 9% 256 B..16 KiB, 0.9% 16..256 KiB, 0.1% 256 KiB..1 MiB.
std::size_t size_of(std::uint64_t index) {
  const std::uint64_t h = mix(index ^ 0x73697a65ULL);
  const std::uint64_t tier = h % 10000;
  const double u = static_cast<double>(h >> 11) / static_cast<double>(1ULL << 53);
  double lo = 1, hi = 256;
  if (tier < 10) {
    lo = 256 << 10, hi = static_cast<double>(max_size);
  } else if (tier < 100) {
    lo = 16 << 10, hi = 256 << 10;
  } else if (tier < 1000) {
    lo = 256, hi = 16 << 10;
  }
  const auto size = static_cast<std::size_t>(std::llround(lo * std::pow(hi / lo, u)));
  return std::clamp<std::size_t>(size, 1, max_size);
}

std::vector<char> payload_of(std::uint64_t index) {
  std::vector<char> bytes(size_of(index));
  std::uint64_t state = mix(index);
  for (std::size_t at = 0; at < bytes.size(); at += 8) {
    state = mix(state);
    std::memcpy(bytes.data() + at, &state, std::min<std::size_t>(8, bytes.size() - at));
  }
  return bytes;
}

std::uint64_t checksum(const std::vector<char>& bytes) {
  std::uint64_t h = bytes.size();
  for (std::size_t at = 0; at < bytes.size(); at += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data() + at, std::min<std::size_t>(8, bytes.size() - at));
    h = mix(h ^ word);
  }
  return h;
}

// What a worker reports for each call: what it received, and its own memory.
struct reply {
  std::uint64_t index = 0;
  std::uint64_t size = 0;
  std::uint64_t checksum = 0;
  std::vector<char> echo;  // the payload reversed, for echoes_at(index)
  long rss_kib = 0;
  int rank = -1;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& index& size& checksum& echo& rss_kib& rank;
  }
};

int world_rank() {
  static const int rank = boost::mpi::communicator().rank();
  return rank;
}

// Reading /proc costs tens of microseconds: at most once per 10 ms per thread.
long recent_rss_kib() {
  using clock = std::chrono::steady_clock;
  thread_local clock::time_point next{};
  thread_local long value = 0;
  const auto now = clock::now();
  if (now >= next) {
    value = proc_stats::rss_kib();
    next = now + std::chrono::milliseconds(10);
  }
  return value;
}

reply work(std::uint64_t index, const std::vector<char>& payload) {
  if (throws_at(index))
    throw std::domain_error("soak call " + std::to_string(index) + " throws on purpose");
  reply r;
  r.index = index;
  r.size = payload.size();
  r.checksum = checksum(payload);
  if (echoes_at(index)) r.echo.assign(payload.rbegin(), payload.rend());
  r.rss_kib = recent_rss_kib();
  r.rank = world_rank();
  return r;
}

// Bytes malloc has handed out and not had back (all arenas, and chunks it mmapped).
long heap_in_use_kib() {
  const struct mallinfo2 m = ::mallinfo2();
  return static_cast<long>((m.uordblks + m.hblkhd) / 1024);
}

struct memory {
  int rank = -1;
  long rss_kib = -1;
  long heap_kib = -1;

  template <class A>
  void serialize(A& ar, unsigned) {
    ar& rank& rss_kib& heap_kib;
  }
};

memory memory_here() {
  return {world_rank(), proc_stats::rss_kib(), heap_in_use_kib()};
}

// A fresh reading from whichever worker runs it; the pause spreads a round
// of these over every worker.
memory memory_now() {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return memory_here();
}

}  // namespace soak

RANKPOOL_REGISTER(soak::work);
RANKPOOL_REGISTER(soak::memory_now);

namespace {

using clock = std::chrono::steady_clock;

unsigned long long ull(std::uint64_t x) {
  return static_cast<unsigned long long>(x);
}

struct settings {
  std::uint64_t calls = 1'000'000;
  std::size_t window = 64;  // calls outstanding at once: the root's memory measures the executor
  // 16 MiB: above the allocator's noise (a few 1 MiB buffers cached or
  // fragmented in malloc's arenas, and the executor's pool of large
  // buffers), far below what a leak would show: 17 bytes per call over the
  // 900,000 calls after warm-up, or one leaked call state per 50,000 calls.
  long rss_limit_kib = 16 * 1024;
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--window" && has_value) {
      s.window = std::stoul(argv[++i]);
    } else if (arg == "--rss-limit-mib" && has_value) {
      s.rss_limit_kib = std::stol(argv[++i]) * 1024;
    } else if (!arg.empty() && arg[0] != '-') {
      s.calls = std::stoull(arg);
    } else {
      throw std::invalid_argument("usage: rankpool_soak [CALLS] [--window W] [--rss-limit-mib M]");
    }
  }
  if (s.calls < 100 || s.window < 1) throw std::invalid_argument("need CALLS >= 100, W >= 1");
  return s;
}

// One rank's memory: quiet (no call in flight) at the end of warm-up and at
// the end, and the highest resident set seen in between.
struct rank_memory {
  soak::memory warm;
  soak::memory end;
  long last_rss_kib = 0;
  long peak_rss_kib = 0;
  long growth_kib() const { return std::max(end.rss_kib, peak_rss_kib) - warm.rss_kib; }
};

struct slot {
  std::uint64_t index = 0;
  std::uint64_t checksum = 0;
  std::size_t size = 0;
  rankpool::future<soak::reply> result;
};

class soak_run {
 public:
  soak_run(rankpool::executor& pool, const settings& cfg)
      : pool_(pool), cfg_(cfg), root_rank_(pool.comm().rank()), ring_(cfg.window) {}

  // Warm-up, a quiet reading, the rest, a quiet reading; true if all is well.
  bool run() {
    const std::uint64_t warm_up = cfg_.calls / 10;
    start_ = clock::now();
    submit_range(0, warm_up);
    warm_seconds_ = seconds_since(start_);
    take_readings(&rank_memory::warm);
    warmed_ = true;
    const auto resumed = clock::now();
    submit_range(warm_up, cfg_.calls);
    seconds_ = warm_seconds_ + seconds_since(resumed);
    take_readings(&rank_memory::end);
    return print_figures();
  }

 private:
  static double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  }

  // Calls [first, last) through the window, oldest taken first; then waits for all.
  void submit_range(std::uint64_t first, std::uint64_t last) {
    for (std::uint64_t i = first; i < last; ++i) {
      slot& s = ring_[i % cfg_.window];
      if (s.result.valid()) finish(s);
      submit(s, i);
    }
    for (std::uint64_t i = last; i < last + cfg_.window; ++i) {
      slot& s = ring_[i % cfg_.window];
      if (s.result.valid()) finish(s);
    }
  }

  void submit(slot& s, std::uint64_t index) {
    auto payload = soak::payload_of(index);
    s.index = index;
    s.size = payload.size();
    s.checksum = soak::checksum(payload);
    bytes_in_ += s.size;
    largest_ = std::max(largest_, s.size);
    expected_errors_ += soak::throws_at(index) ? 1 : 0;
    s.result = pool_.submit(soak::work, index, std::move(payload));
  }

  void finish(slot& s) {
    try {
      check_reply(s, s.result.get());
    } catch (const rankpool::remote_error& e) {
      check_error(s, e);
    }
    s.result = {};  // drop the result now, not when the slot is reused
    ++completed_;
    const std::uint64_t every = std::max<std::uint64_t>(1, cfg_.calls / 100);
    if (completed_ % every != 0) return;
    note_rss(root_rank_, proc_stats::rss_kib());
    if (completed_ % (every * 10) == 0) print_progress();
  }

  void check_reply(const slot& s, const soak::reply& r) {
    if (soak::throws_at(s.index)) return wrong(s.index, "returned but should have thrown");
    if (r.index != s.index || r.size != s.size || r.checksum != s.checksum)
      return wrong(s.index, "the worker saw other arguments");
    if (soak::echoes_at(s.index)) {
      const auto payload = soak::payload_of(s.index);
      if (!std::equal(payload.rbegin(), payload.rend(), r.echo.begin(), r.echo.end()))
        return wrong(s.index, "wrong echoed payload");
      bytes_echoed_ += r.echo.size();
    } else if (!r.echo.empty()) {
      return wrong(s.index, "unexpected echo");
    }
    note_rss(r.rank, r.rss_kib);
  }

  void check_error(const slot& s, const rankpool::remote_error& e) {
    ++errors_;
    if (!soak::throws_at(s.index)) return wrong(s.index, std::string("threw: ") + e.what());
    const std::string expected = "soak call " + std::to_string(s.index) + " throws on purpose";
    if (e.type_name() != "std::domain_error" || e.what() != expected)
      wrong(s.index, "wrong error: " + e.type_name() + ": " + e.what());
  }

  void wrong(std::uint64_t index, const std::string& what) {
    if (++wrong_ <= 10) std::fprintf(stderr, "soak: call %llu: %s\n", ull(index), what.c_str());
  }

  void note_rss(int rank, long kib) {
    auto& m = memory_[rank];
    m.last_rss_kib = kib;
    if (warmed_) m.peak_rss_kib = std::max(m.peak_rss_kib, kib);
  }

  // With no call in flight: the root's memory, and each worker's from a
  // round of memory_now() calls (bounded: 10 s).
  void take_readings(soak::memory rank_memory::*which) {
    memory_[root_rank_].*which = soak::memory_here();
    const auto deadline = clock::now() + std::chrono::seconds(10);
    std::map<int, soak::memory> seen;
    const auto expected =
        static_cast<std::size_t>(pool_.comm().size() > 1 ? pool_.max_workers() : 0);
    while (seen.size() < expected && clock::now() < deadline) {
      std::vector<rankpool::future<soak::memory>> fs;
      for (int i = 0; i < 2 * pool_.max_workers(); ++i)
        fs.push_back(pool_.submit(soak::memory_now));
      for (auto& f : fs) seen[f.get().rank] = f.get();
    }
    for (const auto& [rank, m] : seen) memory_[rank].*which = m;
    for (auto& [rank, m] : memory_) {
      if (!warmed_) m.peak_rss_kib = (m.*which).rss_kib;
    }
  }

  void print_progress() const {
    std::printf("soak: %3llu%% %7.1f s  RSS MiB:", ull(100 * completed_ / cfg_.calls),
                seconds_since(start_));
    for (const auto& [rank, m] : memory_) std::printf("  r%d %.1f", rank, m.last_rss_kib / 1024.0);
    std::printf("\n");
    std::fflush(stdout);
  }

  bool print_figures() const {
    const int size = pool_.comm().size();
    if (size > 1) {
      std::printf("\nsoak figures: %d ranks (1 root + %d workers), window %zu, sizes 1 B..1 MiB\n",
                  size, size - 1, cfg_.window);
    } else {
      std::printf(
          "\nsoak figures: 1 rank (%d local worker threads), window %zu, sizes 1 B..1 MiB\n",
          pool_.max_workers(), cfg_.window);
    }
    std::printf("  calls %llu in %.1f s: %.0f calls/s (warm-up: %llu in %.1f s)\n", ull(completed_),
                seconds_, completed_ / seconds_, ull(cfg_.calls / 10), warm_seconds_);
    std::printf("  errors %llu (expected %llu), wrong results %llu\n", ull(errors_),
                ull(expected_errors_), ull(wrong_));
    std::printf("  bytes: arguments %.2f GB, echoed results %.2f GB, largest call %zu B\n",
                bytes_in_ / 1e9, bytes_echoed_ / 1e9, largest_);
    std::printf("  %-4s %-6s %9s %9s %9s %9s | %9s %9s   MiB; RSS limit +%.0f after warm-up\n",
                "rank", "role", "RSS warm", "peak", "end", "growth", "heap warm", "heap end",
                cfg_.rss_limit_kib / 1024.0);
    bool flat = true;
    for (const auto& [rank, m] : memory_) {
      const bool ok =
          m.warm.rss_kib >= 0 && m.end.rss_kib >= 0 && m.growth_kib() < cfg_.rss_limit_kib;
      flat = flat && ok;
      std::printf("  %-4d %-6s %9.1f %9.1f %9.1f %+9.1f | %9.1f %9.1f%s\n", rank,
                  rank == root_rank_ ? "root" : "worker", m.warm.rss_kib / 1024.0,
                  m.peak_rss_kib / 1024.0, m.end.rss_kib / 1024.0, m.growth_kib() / 1024.0,
                  m.warm.heap_kib / 1024.0, m.end.heap_kib / 1024.0, ok ? "" : "  <-- grew");
    }
    const bool right = wrong_ == 0 && errors_ == expected_errors_ && completed_ == cfg_.calls;
    std::printf("soak: %s\n", right && flat ? "PASS" : "FAIL");
    return right && flat;
  }

  rankpool::executor& pool_;
  const settings cfg_;
  const int root_rank_;
  std::vector<slot> ring_;
  std::map<int, rank_memory> memory_;  // by world rank
  bool warmed_ = false;
  clock::time_point start_;
  double warm_seconds_ = 0;
  double seconds_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t errors_ = 0;
  std::uint64_t expected_errors_ = 0;
  std::uint64_t wrong_ = 0;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_echoed_ = 0;
  std::size_t largest_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  boost::mpi::communicator world;
  settings cfg;
  try {
    cfg = parse(argc, argv);
  } catch (const std::exception& e) {
    if (world.rank() == 0) std::fprintf(stderr, "%s\n", e.what());
    return 2;  // every rank parses the same arguments, so every rank stops here
  }
  rankpool::executor pool(world);
  const int status = pool ? (soak_run(pool, cfg).run() ? 0 : 1) : 0;
  pool.shutdown();
  // The root's verdict is every rank's exit status.
  int any = 0;
  MPI_Allreduce(&status, &any, 1, MPI_INT, MPI_MAX, world);
  return any;
}
