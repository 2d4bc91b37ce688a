// What isolated calls (options::isolation = process) cost, against the same
// pool without isolation in the same run: round trip, map(chunksize=64),
// a 64 MiB argument, the call processes' CPU while idle, and the time a
// crash costs before the worker serves again. Pools of both kinds take
// turns (A B B A, twice at full size), so drift of a noisy machine falls on
// both, and each pool runs every workload once unmeasured before measuring
// (warm: the first pool of the run pays MPI's first connections alone).
// The idle figure needs every worker's call process seen; with worker ranks
// and fewer call processes found, the program fails. Prints one JSON line
// on rank 0; scripts/bench.sh keeps it.
#include "bench_common.hpp"

#include <rankpool/rankpool.hpp>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>

#include <dirent.h>

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

int echo(int x) {
  return x;
}
double byte_sum(const std::vector<char>& v) {
  return static_cast<double>(v.size());
}
int dies(int) {
  std::abort();
}
RANKPOOL_REGISTER(echo);
RANKPOOL_REGISTER(byte_sum);
RANKPOOL_REGISTER(dies);

rankpool::options pool_options(bool isolated) {
  rankpool::options o;
  if (isolated) o.isolation = rankpool::isolation::process;
  return o;
}

// Median of one-call round trips, in µs.
double round_trip_us(rankpool::executor& pool, int samples) {
  for (int i = 0; i < samples / 4; ++i) pool.submit(echo, i).get();  // warm the path
  std::vector<double> us;
  for (int i = 0; i < samples; ++i) {
    const auto t = bench::clock::now();
    pool.submit(echo, i).get();
    us.push_back(bench::seconds_since(t) * 1e6);
  }
  return bench::median(us);
}

double map_calls_per_s(rankpool::executor& pool, int calls) {
  std::vector<int> xs(static_cast<std::size_t>(calls), 1);
  const auto t = bench::clock::now();
  long long total = 0;
  for (int y : pool.map(echo, xs, 64)) total += y;
  if (total != calls) std::abort();
  return calls / bench::seconds_since(t);
}

// GB/s of 64 MiB arguments, one call at a time.
double argument_gb_s(rankpool::executor& pool, const std::vector<char>& payload, int calls) {
  const auto t = bench::clock::now();
  for (int i = 0; i < calls; ++i) pool.submit(byte_sum, payload).get();
  return static_cast<double>(payload.size()) * calls / bench::seconds_since(t) / 1e9;
}

// ms from submitting a call that aborts to its failure: detection, the
// error's way back and a fresh call process (forked before the reply).
double crash_recovery_ms(rankpool::executor& pool, int samples) {
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    const auto t = bench::clock::now();
    if (!pool.submit(dies, i).exception()) std::abort();
    ms.push_back(bench::seconds_since(t) * 1e3);
  }
  return bench::median(ms);
}

// The pids of the children of `parents` (the call processes of the workers).
std::vector<int> children_of(const std::vector<int>& parents) {
  std::vector<int> found;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return found;
  while (const dirent* entry = readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat("/proc/" + pid + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    for (int p : parents) {
      if (p == ppid) found.push_back(std::stoi(pid));
    }
  }
  closedir(proc);
  return found;
}

struct figures {
  std::vector<double> rtt_us, map_per_s, arg_gb_s;
};

void measure(rankpool::executor& pool, figures& f, bool tiny, const std::vector<char>& payload) {
  // Unmeasured: every path (calls, map, a large argument) once, so that
  // neither kind of pool is measured cold.
  round_trip_us(pool, 40);
  map_calls_per_s(pool, 2000);
  argument_gb_s(pool, payload, 1);
  f.rtt_us.push_back(round_trip_us(pool, tiny ? 200 : 2000));
  f.map_per_s.push_back(map_calls_per_s(pool, tiny ? 20000 : 200000));
  f.arg_gb_s.push_back(argument_gb_s(pool, payload, tiny ? 3 : 10));
}

}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  const boost::mpi::communicator world;
  const auto cfg = bench::parse_args(argc, argv);
  const bool tiny = cfg.size == "tiny";
  const auto pids = bench::gather_pids(world);
  const std::vector<char> payload(std::size_t{64} << 20, 'x');
  figures plain, isolated;
  double recovery_ms = 0;
  double idle_percent = NAN;
  int call_processes = 0;
  bool idle_measured = false;
  const int sets = tiny ? 1 : 2;  // of four pools: A B B A
  for (int round = 0; round < 4 * sets; ++round) {
    // A B B A: plain, isolated, isolated, plain.
    const bool isolate = (round % 4 == 1 || round % 4 == 2);
    rankpool::executor pool(world, pool_options(isolate));
    if (!pool) continue;
    measure(pool, isolate ? isolated : plain, tiny, payload);
    if (isolate && !idle_measured) {
      idle_measured = true;
      recovery_ms = crash_recovery_ms(pool, tiny ? 10 : 50);
      const std::vector<int> workers(pids.begin() + 1, pids.end());
      const auto children = children_of(workers);
      call_processes = static_cast<int>(children.size());
      double sum = 0;
      int read = 0;
      for (double p : bench::idle_cpu_percent(children, tiny ? 1.0 : 3.0)) {
        if (!std::isfinite(p)) continue;
        sum += p;
        ++read;
      }
      // Every worker rank has a call process; one not seen (or not
      // readable) means the figure would not cover what it names.
      if (!workers.empty() && (call_processes < static_cast<int>(workers.size()) ||
                               read != call_processes)) {
        std::cerr << "isolation-bench: found " << call_processes << " call processes ("
                  << read << " readable) for " << workers.size()
                  << " worker ranks: the idle figure cannot be measured" << std::endl;
        world.abort(1);
      }
      if (read > 0) idle_percent = sum / read;
    }
  }
  if (world.rank() != 0) return 0;
  const auto med = [](const std::vector<double>& v) { return bench::median(v); };
  bench::json none, process, ratio;
  none.set("rtt_us", med(plain.rtt_us)).set("map64_calls_per_s", med(plain.map_per_s));
  none.set("arg_64mib_gb_s", med(plain.arg_gb_s));
  process.set("rtt_us", med(isolated.rtt_us)).set("map64_calls_per_s", med(isolated.map_per_s));
  process.set("arg_64mib_gb_s", med(isolated.arg_gb_s));
  process.set("crash_recovery_ms", recovery_ms)
      .set("idle_cpu_percent_per_call_process", idle_percent);
  process.set("call_processes_seen", call_processes);
  bench::json skipped;
  if (!std::isfinite(idle_percent)) {
    skipped.set("idle_cpu_percent_per_call_process",
                "no worker ranks: one rank runs its calls on local threads, no call process");
  }
  ratio.set("rtt", med(isolated.rtt_us) / med(plain.rtt_us));
  ratio.set("rtt_added_us", med(isolated.rtt_us) - med(plain.rtt_us));
  ratio.set("map64", med(isolated.map_per_s) / med(plain.map_per_s));
  ratio.set("arg_64mib", med(isolated.arg_gb_s) / med(plain.arg_gb_s));
  bench::json targets;
  targets.set("rtt_at_most", 1.5).set("rtt_added_us_at_most", 3.0).set("map64_at_least", 0.7);
  targets.set("arg_64mib_at_least", 0.7).set("idle_cpu_percent_below", 0.5);
  bench::json result;
  result.set("system", "rankpool-isolation").set("ranks", world.size());
  result.set("none", none).set("process", process).set("ratio", ratio).set("targets", targets);
  result.set("skipped_figures", skipped);
  std::cout << result.str() << std::endl;
  return 0;
}
