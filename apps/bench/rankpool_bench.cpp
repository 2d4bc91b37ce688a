// rankpool's side of scripts/bench.sh: the same workloads as raw_farm.cpp
// and mpi4py_bench.py, through submit/get and map, with MPI_THREAD_MULTIPLE
// (the management loop on its own thread). Prints one JSON object on rank 0.
//   mpirun -n 3 ./rankpool-bench --size tiny|full
#include "bench_common.hpp"

#include <tuple>

#include <rankpool/rankpool.hpp>

#include <boost/archive/binary_oarchive.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// The calls the benchmark runs. Named (not anonymous) so their registered
// names read well in error messages.
namespace bench_calls {

int noop(int x) {
  return x;
}

void spin(double d_us) {
  bench::spin_for_us(d_us);
}

void sleep_us(std::int64_t us) {
  std::this_thread::sleep_for(std::chrono::microseconds(us));
}

std::uint64_t take_bytes(const std::vector<char>& bytes) {
  return bytes.size();
}

std::vector<char> make_bytes(std::uint64_t n) {
  return std::vector<char>(n, 'x');
}

// How long make_bytes(n) alone takes here, best of `reps`: on a worker, the
// part of the 64 MiB result's time that is the call's own work.
double time_make_bytes(std::uint64_t n, int reps) {
  double best = 1e9;
  for (int rep = 0; rep < reps; ++rep) {
    const auto start = bench::clock::now();
    const auto made = make_bytes(n);
    best = std::min(best, bench::seconds_since(start));
    if (made.size() != n) return -1;
  }
  return best;
}

// Holds a worker (and so a window slot) until the root creates `path`, so
// the calls submitted after it stay pending on the root. Gives up after
// max_ms so a lost root cannot leave workers stuck.
int hold_until_file(const std::string& path, int max_ms) {
  const auto deadline = bench::clock::now() + std::chrono::milliseconds(max_ms);
  while (!std::filesystem::exists(path) && bench::clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return 0;
}

}  // namespace bench_calls

RANKPOOL_REGISTER(bench_calls::noop);
RANKPOOL_REGISTER(bench_calls::spin);
RANKPOOL_REGISTER(bench_calls::sleep_us);
RANKPOOL_REGISTER(bench_calls::take_bytes);
RANKPOOL_REGISTER(bench_calls::make_bytes);
RANKPOOL_REGISTER(bench_calls::time_make_bytes);
RANKPOOL_REGISTER(bench_calls::hold_until_file);

namespace {

using bench::clock;
using bench::seconds_since;
const char* const system_name = "rankpool";
constexpr int window = 2;

rankpool::options pool_options() {
  rankpool::options o;
  o.window = window;
  return o;
}

// Submit n no-op calls, then get them all.
double submit_then_get(rankpool::executor& pool, std::int64_t n) {
  std::vector<rankpool::future<int>> futures;
  futures.reserve(static_cast<std::size_t>(n));
  std::int64_t expected = 0, sum = 0;
  const auto start = clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    const int x = static_cast<int>(i % 1000);
    expected += x;
    futures.push_back(pool.submit(bench_calls::noop, x));
  }
  for (auto& f : futures) sum += f.get();
  const double seconds = seconds_since(start);
  if (sum != expected) throw std::runtime_error("rankpool-bench: wrong no-op results");
  return seconds;
}

// map(noop, inputs, 64) and iterate every result.
double map_chunked(rankpool::executor& pool, std::int64_t n) {
  std::vector<int> inputs(static_cast<std::size_t>(n));
  std::iota(inputs.begin(), inputs.end(), 0);
  const auto start = clock::now();
  std::int64_t count = 0;
  for (int y : pool.map(bench_calls::noop, inputs, 64)) {
    count += (y == inputs[static_cast<std::size_t>(count)]) ? 1 : 0;
  }
  const double seconds = seconds_since(start);
  if (count != n) throw std::runtime_error("rankpool-bench: wrong map results");
  return seconds;
}

// One call at a time; each sample is one submit + get in microseconds.
std::vector<double> round_trips(rankpool::executor& pool, const bench::config& cfg) {
  bench::warm_up(cfg, [&pool](int i) { pool.submit(bench_calls::noop, i).get(); });
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(cfg.rtt_iterations));
  for (int i = 0; i < cfg.rtt_iterations; ++i) {
    const auto start = clock::now();
    pool.submit(bench_calls::noop, i).get();
    samples.push_back(seconds_since(start) * 1e6);
  }
  return samples;
}

// The fastest make_bytes(n) on a worker: what the call itself costs there
// (a new 64 MiB vector, faulted in and filled), which the raw farm's warm
// buffers never pay.
double make_bytes_seconds(rankpool::executor& pool, const bench::config& cfg) {
  const double seconds =
      pool.submit(bench_calls::time_make_bytes, static_cast<std::uint64_t>(cfg.payload_bytes),
                  cfg.payload_reps)
          .get();
  if (seconds < 0) throw std::runtime_error("rankpool-bench: make_bytes made the wrong size");
  return seconds;
}

// Best GB/s of payload_reps transfers: 64 MiB in with 8 bytes out, then 8 in
// with 64 MiB out. `out_seconds` gets the best time of the latter.
std::pair<double, double> bandwidth(rankpool::executor& pool, const bench::config& cfg,
                                    double& out_seconds) {
  const auto bytes = static_cast<std::uint64_t>(cfg.payload_bytes);
  const std::vector<char> payload(bytes, 'x');
  double best_in = 0, best_out = 0;
  out_seconds = 1e9;
  for (int rep = 0; rep < cfg.payload_reps; ++rep) {
    auto start = clock::now();
    if (pool.submit(bench_calls::take_bytes, payload).get() != bytes) {
      throw std::runtime_error("rankpool-bench: payload lost bytes on the way in");
    }
    best_in = std::max(best_in, static_cast<double>(bytes) / seconds_since(start) / 1e9);
    start = clock::now();
    auto result = pool.submit(bench_calls::make_bytes, bytes);
    if (result.get().size() != bytes) {
      throw std::runtime_error("rankpool-bench: payload lost bytes on the way out");
    }
    out_seconds = std::min(out_seconds, seconds_since(start));
    best_out = std::max(best_out, static_cast<double>(bytes) / out_seconds / 1e9);
  }
  return {best_in, best_out};
}

double spin_tasks(rankpool::executor& pool, double d_us, std::int64_t ntasks) {
  std::vector<rankpool::future<void>> futures;
  futures.reserve(static_cast<std::size_t>(ntasks));
  const auto start = clock::now();
  for (std::int64_t i = 0; i < ntasks; ++i) futures.push_back(pool.submit(bench_calls::spin, d_us));
  for (auto& f : futures) f.get();
  return seconds_since(start);
}

// Workload 8: the unequal calls submitted at once, then gotten; makespan to the last.
void unequal_calls(rankpool::executor& pool, const bench::config& cfg, bench::unequal_results& r) {
  const auto lengths = bench::unequal_lengths_us(cfg);
  std::vector<rankpool::future<void>> futures;
  futures.reserve(lengths.size());
  const auto start = clock::now();
  for (auto us : lengths) futures.push_back(pool.submit(bench_calls::sleep_us, us));
  for (auto& f : futures) f.get();
  r.makespan_s = seconds_since(start);
  r.bound_s = bench::makespan_bound_s(lengths, pool.max_workers());
}

// Workload 9: one long call, then short ones on a schedule. A second thread
// gets the short calls in order as they are published and stamps each
// result (the short calls end in about that order; one that ends before an
// earlier one is stamped late, which only counts against rankpool).
void long_call_first(rankpool::executor& pool, const bench::config& cfg,
                     bench::unequal_results& r) {
  const auto n = static_cast<std::size_t>(cfg.long_shorts);
  std::vector<rankpool::future<void>> shorts(n);
  std::vector<clock::time_point> submitted(n);
  std::vector<double> latency_ms(n);
  std::atomic<std::size_t> published{0};
  std::thread collector([&] {
    for (std::size_t i = 0; i < n; ++i) {
      while (published.load(std::memory_order_acquire) <= i) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      shorts[i].get();
      latency_ms[i] =
          std::chrono::duration<double, std::milli>(clock::now() - submitted[i]).count();
    }
  });
  const auto start = clock::now();
  auto long_call = pool.submit(bench_calls::sleep_us, std::llround(cfg.long_ms * 1e3));
  for (std::size_t i = 0; i < n; ++i) {
    const auto at =
        start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(
                    bench::short_call_offset_s(cfg, static_cast<std::int64_t>(i))));
    std::this_thread::sleep_until(at);
    submitted[i] = clock::now();
    shorts[i] = pool.submit(bench_calls::sleep_us, std::llround(cfg.short_ms * 1e3));
    published.store(i + 1, std::memory_order_release);
  }
  long_call.get();
  r.longest_s = seconds_since(start);
  collector.join();
  r.short_ms = latency_ms;
}

// The argument bytes a no-op call carries, encoded the way rankpool encodes
// them (Boost binary archive without header), so they can be taken out of
// the per-call memory figure.
std::int64_t serialized_int_bytes() {
  std::ostringstream out;
  {
    boost::archive::binary_oarchive archive(
        out, boost::archive::no_header | boost::archive::no_codecvt | boost::archive::no_tracking);
    const int value = 7;
    archive << value;
  }
  return static_cast<std::int64_t>(out.str().size());
}

// Creates a file when raised and removes it when it goes out of scope: the
// signal that lets hold_until_file calls end.
class flag_file {
 public:
  explicit flag_file(std::string tag)
      : path_((std::filesystem::temp_directory_path() /
               ("rankpool-bench-" + std::to_string(getpid()) + "-" + tag + ".flag"))
                  .string()) {
    std::filesystem::remove(path_);
  }
  flag_file(const flag_file&) = delete;
  flag_file& operator=(const flag_file&) = delete;
  ~flag_file() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::string& path() const { return path_; }
  void raise() const { std::ofstream(path_) << "go\n"; }

 private:
  std::string path_;
};

struct growth_result {
  std::int64_t k = 0;
  double seconds = 0;
  long long rss_before = 0;
  long long rss_after = 0;
  std::int64_t arg_bytes = 0;
  std::int64_t cancelled = 0;
  double calls_per_s() const { return static_cast<double>(k) / seconds; }
  double bytes_per_call() const {
    return static_cast<double>(rss_after - rss_before) / static_cast<double>(k) -
           static_cast<double>(arg_bytes);
  }
};

// Offers every window slot a call that waits for the flag, so later calls
// stay pending, and waits until every worker runs one. (A worker's window
// opens past one call only while its calls are short, so the holders beyond
// one per worker wait on the root with the backlog.)
std::vector<rankpool::future<int>> occupy_workers(rankpool::executor& pool, const flag_file& flag,
                                                  const bench::config& cfg) {
  std::vector<rankpool::future<int>> holders;
  for (int i = 0; i < window * pool.max_workers(); ++i) {
    holders.push_back(
        pool.submit(bench_calls::hold_until_file, flag.path(), cfg.growth_max_wait_ms));
  }
  const auto every_worker_busy = [&] {
    return std::count_if(holders.begin(), holders.end(),
                         [](const auto& f) { return f.running(); }) >= pool.max_workers();
  };
  while (!every_worker_busy()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the loop settle
  return holders;
}

// Times submitting k no-op calls behind busy workers and the root memory they
// take, then cancels them with shutdown(wait, cancel_futures).
growth_result growth(rankpool::executor& pool, const bench::config& cfg, std::int64_t k) {
  const flag_file flag(std::to_string(k));
  auto holders = occupy_workers(pool, flag, cfg);
  // Default handles written now, so the caller's own vector is in the baseline.
  std::vector<rankpool::future<int>> futures(static_cast<std::size_t>(k));
  malloc_trim(0);  // freed heap from earlier runs would hide new allocations
  growth_result r;
  r.k = k;
  r.arg_bytes = serialized_int_bytes();
  r.rss_before = bench::vm_rss_bytes();
  const auto start = clock::now();
  for (auto& f : futures) f = pool.submit(bench_calls::noop, 7);
  r.seconds = seconds_since(start);
  r.rss_after = bench::vm_rss_bytes();
  // Cancel the backlog, then let the held calls end, then wait: in this
  // order no pending call can start in between.
  pool.shutdown(false, true);
  flag.raise();
  pool.shutdown(true, true);
  for (auto& f : futures) r.cancelled += f.cancelled() ? 1 : 0;
  return r;
}

bench::json to_json(const growth_result& r) {
  bench::json j;
  j.set("k", r.k).set("seconds", r.seconds).set("calls_per_s", r.calls_per_s());
  j.set("rss_before", r.rss_before).set("rss_after", r.rss_after);
  j.set("arg_bytes", r.arg_bytes).set("bytes_per_call", r.bytes_per_call());
  j.set("cancelled", r.cancelled);
  return j;
}

void run_idle(const boost::mpi::communicator& world, const std::vector<int>& pids,
              const bench::config& cfg, bench::report& out) {
  rankpool::executor pool(world, pool_options());
  if (!pool) return;  // a worker: served until the root shut this pool down
  bench::progress(system_name, "idle CPU");
  const auto percent = bench::idle_cpu_percent(pids, cfg.idle_seconds);
  out.details.set("idle", bench::idle_json(percent, cfg.idle_seconds));
  out.figures.set("idle_pct_core_max", bench::max_finite(percent));
}

// The small backlog is submitted in about a millisecond, so one run of it is
// mostly noise: it runs growth_small_reps times and the figures take the
// medians. Each run gets a fresh pool; the large backlog runs once, last.
void run_growth(const boost::mpi::communicator& world, const bench::config& cfg,
                bench::report& out) {
  std::vector<std::int64_t> backlogs(static_cast<std::size_t>(cfg.growth_small_reps),
                                     cfg.growth_small);
  backlogs.push_back(cfg.growth_large);
  std::vector<growth_result> results;
  for (std::int64_t k : backlogs) {
    rankpool::executor pool(world, pool_options());
    if (!pool) continue;
    bench::progress(system_name, "growth with " + std::to_string(k) + " pending calls");
    results.push_back(growth(pool, cfg, k));
  }
  if (results.size() != backlogs.size()) return;  // a worker

  const growth_result& large = results.back();
  std::vector<double> small_rates, small_bytes;
  std::vector<bench::json> small_runs;
  for (std::size_t i = 0; i + 1 < results.size(); ++i) {
    small_rates.push_back(results[i].calls_per_s());
    small_bytes.push_back(results[i].bytes_per_call());
    small_runs.push_back(to_json(results[i]));
  }
  out.figures.set("growth_small_calls_per_s", bench::median(small_rates));
  out.figures.set("growth_large_calls_per_s", large.calls_per_s());
  out.figures.set("growth_small_bytes_per_call", bench::median(small_bytes));
  out.figures.set("growth_large_bytes_per_call", large.bytes_per_call());
  bench::json j;
  j.set("small_runs", small_runs).set("large", to_json(large));
  out.details.set("growth", j);
}

void run_calls(const boost::mpi::communicator& world, const bench::config& cfg,
               bench::report& out) {
  rankpool::executor pool(world, pool_options());
  if (!pool) return;
  bench::call_results r;
  bench::progress(system_name, "submit + get");
  r.submit = bench::auto_range([&](std::int64_t n) { return submit_then_get(pool, n); },
                               cfg.first_n, cfg.min_seconds);
  bench::progress(system_name, "map(chunksize=64)");
  r.map = bench::auto_range([&](std::int64_t n) { return map_chunked(pool, n); }, cfg.first_n,
                            cfg.min_seconds, 64);
  bench::progress(system_name, "round trips");
  r.rtt_us = round_trips(pool, cfg);
  bench::progress(system_name, "64 MiB payloads");
  double out_seconds = 0;
  std::tie(r.bw_in_gb_s, r.bw_out_gb_s) = bandwidth(pool, cfg, out_seconds);
  const double make_seconds = make_bytes_seconds(pool, cfg);
  bench::progress(system_name, "METG sweep");
  r.metg = bench::metg_sweep(cfg, pool.max_workers(),
                             [&](double d, std::int64_t n) { return spin_tasks(pool, d, n); });
  bench::record(r, out.figures, out.details);
  bench::json out_parts;
  out_parts.set("make_bytes_s", make_seconds).set("out_s", out_seconds);
  out_parts.set("bw_out_without_make_gb_s",
                static_cast<double>(cfg.payload_bytes) / (out_seconds - make_seconds) / 1e9);
  out.details.set("payload_out_parts", out_parts);
  bench::progress(system_name, "unequal calls");
  bench::unequal_results u;
  unequal_calls(pool, cfg, u);
  if (pool.max_workers() >= 2) {
    bench::progress(system_name, "one long call first");
    long_call_first(pool, cfg, u);
  }
  bench::record(u, out.figures, out.details);
}

}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  const boost::mpi::communicator world;
  const auto cfg = bench::parse_args(argc, argv);
  const auto pids = bench::gather_pids(world);  // before any executor takes the workers

  // Every rank constructs the same sequence of executors; on a worker each
  // constructor serves calls until the root shuts that pool down. Growth runs
  // first, on a fresh heap, so its memory figure is not blurred by earlier runs.
  bench::report out;
  run_idle(world, pids, cfg, out);
  run_growth(world, cfg, out);
  run_calls(world, cfg, out);
  if (world.rank() != 0) return 0;

  std::vector<std::string> notes;
  if (env.thread_level() != boost::mpi::threading::multiple) {
    notes.push_back(
        "MPI did not grant MPI_THREAD_MULTIPLE: the pool made progress only inside its calls");
  }
  bench::json result;
  result.set("system", system_name).set("ranks", world.size()).set("workers", world.size() - 1);
  result.set("window", window).set("threading", "multiple").set("config", bench::to_json(cfg));
  result.set("figures", out.figures).set("skipped_figures", bench::skipped_figures_json());
  result.set("details", out.details).set("notes", notes);
  std::cout << result.str() << std::endl;
  return 0;
}
