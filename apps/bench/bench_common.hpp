// Helpers shared by the C++ benchmark programs (rankpool_bench.cpp and
// raw_farm.cpp): the --size knobs, timing, the METG sweep, CPU and memory
// readings from /proc, and a small JSON writer for the one line of results.
#pragma once

#include <mpi.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

inline double seconds_since(clock::time_point start) {
  return std::chrono::duration<double>(clock::now() - start).count();
}

// Every knob that differs between --size tiny and --size full. Keep in step
// with SIZES in bench_common.py: the figures are only comparable if all
// systems run the same workloads (each program echoes its config in its JSON).
struct config {
  std::string size;
  double min_seconds = 0;          // throughput runs grow N until one lasts this long
  std::int64_t first_n = 0;        // the first N a throughput run tries
  int rtt_warmup = 0;              // untimed round trips before the timed ones, at least...
  double rtt_warmup_seconds = 0;   // ...and for at least this long: a VM's idle vCPUs take
                                   // tens of ms of steady traffic to answer quickly again
  int rtt_iterations = 0;          // timed sequential round trips
  std::int64_t payload_bytes = 0;  // the large argument / result
  int payload_reps = 0;            // best of this many transfers per direction
  double metg_seconds = 0;         // ideal duration of one METG point
  std::int64_t metg_min_tasks = 0;
  std::int64_t metg_max_tasks = 0;
  double metg_max_d_us = 0;  // the sweep gives up past this task length
  double idle_seconds = 0;   // how long idle CPU is measured
  std::int64_t growth_small = 0;
  std::int64_t growth_large = 0;
  int growth_small_reps = 0;   // the small backlog takes ~1 ms: median of this many runs
  int growth_max_wait_ms = 0;  // the long calls end by themselves after this
  // Calls of unequal length (workload 8): unequal_calls sleeps whose lengths
  // follow a Pareto law (shape unequal_alpha) cut to [min, max] ms, drawn
  // from splitmix64 with unequal_seed, submitted at once in drawn order.
  std::int64_t unequal_calls = 0;
  double unequal_min_ms = 0;
  double unequal_max_ms = 0;
  double unequal_alpha = 0;
  std::uint64_t unequal_seed = 0;
  // One long call first (workload 9): a long_ms sleep, then long_shorts calls
  // of short_ms, one every short_gap_ms, all submitted while the long one runs.
  double long_ms = 0;
  std::int64_t long_shorts = 0;
  double short_ms = 0;
  double short_gap_ms = 0;
};

// Runs one_call until both the count and the time of the warm-up are reached.
template <class Call>
void warm_up(const config& c, Call one_call) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < c.rtt_warmup ||
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
                      c.rtt_warmup_seconds;
       ++i) {
    one_call(i);
  }
}

inline config make_config(const std::string& size) {
  config c;
  c.size = size;
  c.payload_bytes = std::int64_t{64} << 20;
  if (size == "tiny") {
    c.min_seconds = 0.05;
    c.first_n = 1000;
    c.rtt_warmup = 50;
    c.rtt_warmup_seconds = 0.3;
    c.rtt_iterations = 300;
    c.payload_reps = 2;
    c.metg_seconds = 0.02;
    c.metg_min_tasks = 16;
    c.metg_max_tasks = 2000;
    c.metg_max_d_us = 10000;
    c.idle_seconds = 1;
    c.growth_small = 1000;
    c.growth_large = 10000;
    c.growth_small_reps = 3;
    c.growth_max_wait_ms = 20000;
    c.unequal_calls = 100;
    c.unequal_max_ms = 100;
    c.long_ms = 200;
    c.long_shorts = 10;
  } else {
    c.min_seconds = 1.0;
    c.first_n = 10000;
    c.rtt_warmup = 500;
    c.rtt_warmup_seconds = 1.0;
    c.rtt_iterations = 5000;
    c.payload_reps = 5;
    c.metg_seconds = 0.25;
    c.metg_min_tasks = 32;
    c.metg_max_tasks = 20000;
    c.metg_max_d_us = 100000;
    c.idle_seconds = 3;
    c.growth_small = 1000;
    c.growth_large = 1000000;
    c.growth_small_reps = 5;
    c.growth_max_wait_ms = 60000;
    c.unequal_calls = 2000;
    c.unequal_max_ms = 1000;
    c.long_ms = 1000;
    c.long_shorts = 50;
  }
  c.unequal_min_ms = 1;
  c.unequal_alpha = 1.1;
  c.unequal_seed = 20261130;
  c.short_ms = 5;
  c.short_gap_ms = 10;
  return c;
}

// --size tiny|full (default full). Anything else is a usage error on every rank.
inline config parse_args(int argc, char** argv) {
  std::string size = "full";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--size" && i + 1 < argc) {
      size = argv[++i];
    } else if (arg.rfind("--size=", 0) == 0) {
      size = arg.substr(7);
    } else {
      size = "?";
    }
  }
  if (size != "tiny" && size != "full") {
    std::cerr << "usage: " << argv[0] << " [--size tiny|full]\n";
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  return make_config(size);
}

// Busy-waits on the steady clock: a task of known length that keeps its core busy.
inline void spin_for_us(double d_us) {
  const auto end = clock::now() + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double, std::micro>(d_us));
  while (clock::now() < end) {
  }
}

// The value at fraction q (0..1) of sorted samples: nearest rank, so p99 of
// 5000 samples is the 4950th smallest.
inline double percentile(std::vector<double> samples, double q) {
  if (samples.empty()) return NAN;
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
  return samples[std::min(samples.size() - 1, rank == 0 ? 0 : rank - 1)];
}

inline double median(std::vector<double> samples) {
  return percentile(std::move(samples), 0.5);
}

struct timed_run {
  std::int64_t n = 0;
  double seconds = 0;
  double per_second() const { return static_cast<double>(n) / seconds; }
};

// Runs trial(n) (which returns its elapsed seconds) with growing n until one
// run lasts at least min_seconds, like timeit's autorange. `multiple` keeps n
// a multiple of a chunk size.
template <class Trial>
timed_run auto_range(Trial trial, std::int64_t n, double min_seconds, std::int64_t multiple = 1) {
  for (;;) {
    n = std::max(multiple, n / multiple * multiple);
    const double seconds = trial(n);
    if (seconds >= min_seconds) return {n, seconds};
    // Aim 30% past the goal so the next run is usually the last; grow 2x..10x.
    const double factor = std::clamp(1.3 * min_seconds / std::max(seconds, 1e-6), 2.0, 10.0);
    n = static_cast<std::int64_t>(static_cast<double>(n) * factor);
  }
}

// Task lengths of the METG sweep, as in Task Bench (1, 2, 5 per decade).
inline std::vector<double> metg_task_lengths(double max_d_us) {
  std::vector<double> lengths;
  for (double decade = 1; decade <= max_d_us; decade *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m * decade <= max_d_us) lengths.push_back(m * decade);
    }
  }
  return lengths;
}

struct metg_point {
  double d_us = 0;
  std::int64_t ntasks = 0;
  double seconds = 0;
  double efficiency = 0;
};

// Tasks for one task length: enough for metg_seconds of ideal work, clamped.
inline std::int64_t metg_task_count(const config& c, double d_us, int nworkers) {
  const double ideal = c.metg_seconds * nworkers * 1e6 / d_us;
  return std::clamp(static_cast<std::int64_t>(ideal), c.metg_min_tasks, c.metg_max_tasks);
}

// Efficiency = (ntasks * d / nworkers) / elapsed for growing d. Stops one
// point after the first that reaches 50% (that point confirms the trend), or
// at metg_max_d_us. run(d_us, ntasks) returns elapsed seconds.
template <class Run>
std::vector<metg_point> metg_sweep(const config& c, int nworkers, Run run) {
  std::vector<metg_point> points;
  bool reached = false;
  for (double d : metg_task_lengths(c.metg_max_d_us)) {
    metg_point p;
    p.d_us = d;
    p.ntasks = metg_task_count(c, d, nworkers);
    p.seconds = run(d, p.ntasks);
    p.efficiency = (static_cast<double>(p.ntasks) * d * 1e-6 / nworkers) / p.seconds;
    points.push_back(p);
    if (reached) break;
    reached = p.efficiency >= 0.5;
  }
  return points;
}

// METG(50%): the smallest task length whose efficiency reached 50%.
inline std::optional<double> metg50(const std::vector<metg_point>& points) {
  for (const auto& p : points) {
    if (p.efficiency >= 0.5) return p.d_us;
  }
  return std::nullopt;
}

// splitmix64 (Steele, Lea and Flood): a tiny generator that Python
// reproduces bit for bit (bench_common.py), so every system sleeps the same
// lengths in the same order.
class splitmix64 {
 public:
  explicit splitmix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

// Workload 8's call lengths in whole microseconds: Pareto with shape alpha
// cut to [min, max] (inverse of its CDF), so most calls are short and a few
// are up to 1000x longer.
inline std::vector<std::int64_t> unequal_lengths_us(const config& c) {
  splitmix64 rng(c.unequal_seed);
  const double lo = c.unequal_min_ms * 1e3, hi = c.unequal_max_ms * 1e3;
  const double tail = 1 - std::pow(lo / hi, c.unequal_alpha);
  std::vector<std::int64_t> lengths;
  for (std::int64_t i = 0; i < c.unequal_calls; ++i) {
    const double x = lo / std::pow(1 - rng.uniform() * tail, 1 / c.unequal_alpha);
    lengths.push_back(std::llround(std::min(x, hi)));
  }
  return lengths;
}

// No schedule of these calls on `workers` workers ends sooner than this:
// max(total / workers, longest call), in seconds.
inline double makespan_bound_s(const std::vector<std::int64_t>& lengths_us, int workers) {
  double total = 0, longest = 0;
  for (auto us : lengths_us) {
    total += static_cast<double>(us);
    longest = std::max(longest, static_cast<double>(us));
  }
  return std::max(total / workers, longest) * 1e-6;
}

// When each call of workload 9 is submitted, in seconds after the long call:
// short i at (i + 1) * short_gap_ms.
inline double short_call_offset_s(const config& c, std::int64_t i) {
  return static_cast<double>(i + 1) * c.short_gap_ms * 1e-3;
}

// What workloads 8 and 9 measured.
struct unequal_results {
  double makespan_s = 0;
  double bound_s = 0;
  double longest_s = 0;          // workload 9: the long call, submit to result
  std::vector<double> short_ms;  // workload 9: each short call, submit to result
};

// Every rank's pid, on rank 0 (empty elsewhere). Collective; call it before
// an executor exists so that every rank is still free to take part.
inline std::vector<int> gather_pids(MPI_Comm comm) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int pid = static_cast<int>(getpid());
  std::vector<int> pids(rank == 0 ? static_cast<std::size_t>(size) : 0);
  MPI_Gather(&pid, 1, MPI_INT, pids.data(), 1, MPI_INT, 0, comm);
  return pids;
}

// utime + stime of a process in clock ticks, from /proc/<pid>/stat; the
// command name may hold spaces or parentheses, so fields count from the last ')'.
inline std::optional<long long> cpu_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::string skip;
  for (int field = 3; field < 14; ++field) fields >> skip;  // state .. cmajflt
  long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return std::nullopt;
  return utime + stime;
}

// Percent of one core each pid used while this thread sleeps `seconds`
// (NaN for a pid that could not be read: another host, or gone).
inline std::vector<double> idle_cpu_percent(const std::vector<int>& pids, double seconds) {
  std::vector<std::optional<long long>> before;
  for (int pid : pids) before.push_back(cpu_ticks(pid));
  const auto start = clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double elapsed = seconds_since(start);
  const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::vector<double> percent;
  for (std::size_t i = 0; i < pids.size(); ++i) {
    const auto after = cpu_ticks(pids[i]);
    if (!before[i] || !after) {
      percent.push_back(NAN);
      continue;
    }
    percent.push_back(100.0 * static_cast<double>(*after - *before[i]) / ticks_per_second /
                      elapsed);
  }
  return percent;
}

// This process's resident set size (VmRSS) in bytes, or -1.
inline long long vm_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long long kib = -1;
      in >> kib;
      return kib * 1024;
    }
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

// A JSON object written by hand: the output is one flat-ish line, and the
// values are numbers, strings, arrays and nested objects.
class json {
 public:
  json& set(const std::string& key, double v) { return raw(key, number(v)); }
  json& set(const std::string& key, std::int64_t v) { return raw(key, std::to_string(v)); }
  json& set(const std::string& key, long long v) { return raw(key, std::to_string(v)); }
  json& set(const std::string& key, int v) { return raw(key, std::to_string(v)); }
  json& set(const std::string& key, bool v) { return raw(key, v ? "true" : "false"); }
  json& set(const std::string& key, const char* v) { return raw(key, quote(v)); }
  json& set(const std::string& key, const std::string& v) { return raw(key, quote(v)); }
  json& set(const std::string& key, const json& v) { return raw(key, v.str()); }
  json& set(const std::string& key, std::optional<double> v) {
    return raw(key, v ? number(*v) : "null");
  }
  template <class T>
  json& set(const std::string& key, const std::vector<T>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) out += ", ";
      out += element(values[i]);
    }
    return raw(key, out + "]");
  }
  json& set_null(const std::string& key) { return raw(key, "null"); }

  std::string str() const {
    std::string out = "{";
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (i) out += ", ";
      out += quote(fields_[i].first) + ": " + fields_[i].second;
    }
    return out + "}";
  }

 private:
  json& raw(const std::string& key, std::string value) {
    fields_.emplace_back(key, std::move(value));
    return *this;
  }
  static std::string number(double v) {
    if (!std::isfinite(v)) return "null";  // JSON has no NaN or infinity
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", v);
    return text;
  }
  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') {
        out += '\\';
        out += ch;
      } else if (static_cast<unsigned char>(ch) < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", ch);
        out += esc;
      } else {
        out += ch;
      }
    }
    return out + "\"";
  }
  static std::string element(double v) { return number(v); }
  static std::string element(int v) { return std::to_string(v); }
  static std::string element(const std::string& v) { return quote(v); }
  static std::string element(const json& v) { return v.str(); }

  std::vector<std::pair<std::string, std::string>> fields_;
};

// Figures this program did not measure, each with the reason: printed as
// "skipped_figures" beside "figures". report.py fails on a null figure that
// is not named here.
inline std::vector<std::pair<std::string, std::string>>& skipped_figures() {
  static std::vector<std::pair<std::string, std::string>> reasons;
  return reasons;
}
inline void skip_figure(json& figures, const std::string& key, const std::string& why) {
  figures.set_null(key);
  skipped_figures().emplace_back(key, why);
}
inline json skipped_figures_json() {
  json j;
  for (const auto& [key, why] : skipped_figures()) j.set(key, why);
  return j;
}

// What a program measured: the headline figures (the same keys for every
// system, null where a workload does not apply) and the details behind them.
struct report {
  json figures;
  json details;
};

inline json to_json(const config& c) {
  json j;
  j.set("size", c.size)
      .set("min_seconds", c.min_seconds)
      .set("first_n", c.first_n)
      .set("rtt_warmup", c.rtt_warmup)
      .set("rtt_warmup_seconds", c.rtt_warmup_seconds)
      .set("rtt_iterations", c.rtt_iterations)
      .set("payload_bytes", c.payload_bytes)
      .set("payload_reps", c.payload_reps)
      .set("metg_seconds", c.metg_seconds)
      .set("metg_min_tasks", c.metg_min_tasks)
      .set("metg_max_tasks", c.metg_max_tasks)
      .set("metg_max_d_us", c.metg_max_d_us)
      .set("idle_seconds", c.idle_seconds)
      .set("growth_small", c.growth_small)
      .set("growth_large", c.growth_large)
      .set("growth_small_reps", c.growth_small_reps)
      .set("unequal_calls", c.unequal_calls)
      .set("unequal_min_ms", c.unequal_min_ms)
      .set("unequal_max_ms", c.unequal_max_ms)
      .set("unequal_alpha", c.unequal_alpha)
      .set("unequal_seed", static_cast<std::int64_t>(c.unequal_seed))
      .set("long_ms", c.long_ms)
      .set("long_shorts", c.long_shorts)
      .set("short_ms", c.short_ms)
      .set("short_gap_ms", c.short_gap_ms);
  return j;
}

inline json to_json(const timed_run& r) {
  json j;
  j.set("n", r.n).set("seconds", r.seconds).set("calls_per_s", r.per_second());
  return j;
}

inline std::vector<json> to_json(const std::vector<metg_point>& points) {
  std::vector<json> out;
  for (const auto& p : points) {
    json j;
    j.set("d_us", p.d_us).set("ntasks", p.ntasks).set("seconds", p.seconds);
    j.set("efficiency", p.efficiency);
    out.push_back(j);
  }
  return out;
}

// The figures of the call workloads, measured the same way for every system.
struct call_results {
  timed_run submit;
  timed_run map;
  std::vector<double> rtt_us;
  double bw_in_gb_s = 0;
  double bw_out_gb_s = 0;
  std::vector<metg_point> metg;
};

inline void record(const call_results& r, json& figures, json& details) {
  figures.set("submit_calls_per_s", r.submit.per_second());
  figures.set("map64_calls_per_s", r.map.per_second());
  figures.set("rtt_median_us", percentile(r.rtt_us, 0.5));
  figures.set("rtt_p99_us", percentile(r.rtt_us, 0.99));
  figures.set("bw_in_gb_s", r.bw_in_gb_s).set("bw_out_gb_s", r.bw_out_gb_s);
  if (const auto metg = metg50(r.metg)) {
    figures.set("metg50_us", *metg);
  } else {
    skip_figure(figures, "metg50_us", "no task length in the sweep reached 50% efficiency");
  }
  details.set("submit", to_json(r.submit)).set("map64", to_json(r.map));
  json rtt_detail;
  rtt_detail.set("iterations", static_cast<int>(r.rtt_us.size()));
  rtt_detail.set("min_us", percentile(r.rtt_us, 0)).set("p90_us", percentile(r.rtt_us, 0.9));
  details.set("rtt", rtt_detail).set("metg", to_json(r.metg));
}

// Makespan over its lower bound, and the short calls' median latency.
inline void record(const unequal_results& r, json& figures, json& details) {
  figures.set("unequal_makespan_over_bound", r.makespan_s / r.bound_s);
  // One worker has nothing to run the short calls on while the long one runs.
  if (r.short_ms.empty()) {
    skip_figure(figures, "long_first_short_median_ms",
                "one worker: nothing runs the short calls while the long one runs");
  } else {
    figures.set("long_first_short_median_ms", median(r.short_ms));
  }
  json j;
  j.set("makespan_s", r.makespan_s).set("bound_s", r.bound_s);
  j.set("long_call_s", r.longest_s);
  j.set("short_ms_min", percentile(r.short_ms, 0)).set("short_ms_max", percentile(r.short_ms, 1));
  details.set("unequal", j);
}

// The busiest rank's idle CPU: the figure the idle target is about.
// The largest finite value; NaN (null in JSON) when none is finite, so that a
// figure with nothing measured behind it is never 0.
inline double max_finite(const std::vector<double>& values) {
  double worst = NAN;
  for (double v : values) {
    if (std::isfinite(v) && !(worst >= v)) worst = v;
  }
  return worst;
}

inline json idle_json(const std::vector<double>& percent, double seconds) {
  json j;
  j.set("seconds", seconds).set("pct_core_per_rank", percent);
  j.set("pct_core_max", max_finite(percent));
  return j;
}

// Progress on stderr, so stdout carries only the JSON line.
inline void progress(const std::string& system, const std::string& what) {
  std::cerr << "[" << system << "] " << what << std::endl;
}

}  // namespace bench
