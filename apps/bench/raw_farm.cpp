// The floor of this stack for scripts/bench.sh: a hand-written MPI
// master/worker farm with no library between the program and MPI. The root
// keeps `window` tasks in flight per worker with MPI_Isend and collects the
// replies through one pre-posted MPI_Irecv per worker; workers block in
// MPI_Recv, which busy-polls in Open MPI (fast, and it burns a core while
// idle: the idle figure shows that cost). Messages are small fixed-layout
// structs; only the large-payload test sends more, from and into buffers
// that stay allocated (the floor; a fresh vector per transfer is measured
// too, for the notes). Calls of unequal length go out greedily: one in
// flight per worker, the next to whichever worker answers first. Same
// workloads as rankpool_bench.cpp; prints one JSON object on rank 0.
//   mpirun -n 3 ./raw-farm-bench --size tiny|full
#include "bench_common.hpp"

#include <sys/prctl.h>

#include <tuple>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using bench::clock;
using bench::seconds_since;
const char* const system_name = "raw";
constexpr int window = 2;
constexpr int max_values = 64;  // one map chunk

enum tag : int { task_tag = 1, result_tag = 2, payload_tag = 3 };
enum class op : std::int32_t { noop, chunk, spin, sleep, bytes_in, bytes_out, stop };
// values[0] of a payload request: move the bytes through a buffer that
// stays allocated (the floor), or through a new vector each time.
enum payload_buffer : std::int32_t { warm_buffer = 0, fresh_buffer = 1 };

// Root -> worker. Only the header and the first `count` values are sent.
struct request {
  op kind = op::noop;
  std::int32_t slot = 0;   // echoed in the reply: that window slot is free again
  std::int32_t count = 0;  // values in use
  std::int32_t unused = 0;
  std::int64_t arg = 0;  // spin or sleep length in ns, or payload bytes
  std::int32_t values[max_values] = {};
};

// Worker -> root, the same way.
struct reply {
  std::int32_t slot = 0;
  std::int32_t count = 0;
  std::int64_t value = 0;
  std::int32_t values[max_values] = {};
};

int request_bytes(const request& r) {
  return static_cast<int>(offsetof(request, values) + sizeof(std::int32_t) * r.count);
}
int reply_bytes(const reply& r) {
  return static_cast<int>(offsetof(reply, values) + sizeof(std::int32_t) * r.count);
}

// Initialises MPI for the lifetime of the program; plain MPI_THREAD_SINGLE.
class mpi_session {
 public:
  mpi_session(int& argc, char**& argv) { MPI_Init(&argc, &argv); }
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;
  ~mpi_session() { MPI_Finalize(); }
};

// --- worker side ---------------------------------------------------------

// Runs one task into `rep`; the payload tasks move their bytes right here,
// through `warm` (kept between tasks, touched once) unless asked for a new vector.
void execute(MPI_Comm comm, const request& req, reply& rep, std::vector<char>& warm) {
  rep.slot = req.slot;
  rep.count = 0;
  switch (req.kind) {
    case op::noop:
      rep.value = req.values[0];
      break;
    case op::chunk:
      rep.count = req.count;
      for (int i = 0; i < req.count; ++i) rep.values[i] = req.values[i];
      break;
    case op::spin:
      bench::spin_for_us(static_cast<double>(req.arg) / 1000.0);
      break;
    case op::sleep:
      std::this_thread::sleep_for(std::chrono::nanoseconds(req.arg));
      rep.value = req.values[0];
      break;
    case op::bytes_in: {
      std::vector<char> fresh;
      auto& data = req.values[0] == fresh_buffer ? fresh : warm;
      data.resize(static_cast<std::size_t>(req.arg), 'x');
      MPI_Recv(data.data(), static_cast<int>(req.arg), MPI_BYTE, 0, payload_tag, comm,
               MPI_STATUS_IGNORE);
      rep.value = static_cast<std::int64_t>(data.size());
      break;
    }
    case op::bytes_out: {
      std::vector<char> fresh;
      auto& data = req.values[0] == fresh_buffer ? fresh : warm;
      data.resize(static_cast<std::size_t>(req.arg), 'x');
      MPI_Send(data.data(), static_cast<int>(req.arg), MPI_BYTE, 0, payload_tag, comm);
      rep.value = static_cast<std::int64_t>(data.size());
      break;
    }
    case op::stop:
      break;
  }
}

// Receive a task, run it, send its reply without waiting; the previous
// reply's send is completed only when the buffer is needed again.
void serve(MPI_Comm comm) {
  // Sleeps end within 1 us of their time, not the default 50 us: rankpool's
  // workers ask the same, so sleeping calls take equally long in both.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  request req;
  reply rep;
  std::vector<char> warm;
  MPI_Request reply_send = MPI_REQUEST_NULL;
  for (;;) {
    MPI_Recv(&req, sizeof req, MPI_BYTE, 0, task_tag, comm, MPI_STATUS_IGNORE);
    if (req.kind == op::stop) break;
    MPI_Wait(&reply_send, MPI_STATUS_IGNORE);
    execute(comm, req, rep, warm);
    MPI_Isend(&rep, reply_bytes(rep), MPI_BYTE, 0, result_tag, comm, &reply_send);
  }
  MPI_Wait(&reply_send, MPI_STATUS_IGNORE);
}

// --- root side -----------------------------------------------------------

// The master: `window` request slots per worker and one posted receive per
// worker. The destructor stops the workers and cancels those receives.
class farm {
 public:
  farm(MPI_Comm comm, int nworkers)
      : comm_(comm),
        nworkers_(nworkers),
        requests_(static_cast<std::size_t>(nworkers * window)),
        sends_(requests_.size(), MPI_REQUEST_NULL),
        replies_(static_cast<std::size_t>(nworkers)),
        receives_(replies_.size(), MPI_REQUEST_NULL) {
    for (int w = 0; w < nworkers_; ++w) post_receive(w);
  }
  farm(const farm&) = delete;
  farm& operator=(const farm&) = delete;

  ~farm() {
    MPI_Waitall(static_cast<int>(sends_.size()), sends_.data(), MPI_STATUSES_IGNORE);
    request stop;
    stop.kind = op::stop;
    for (int w = 0; w < nworkers_; ++w) {
      MPI_Send(&stop, request_bytes(stop), MPI_BYTE, w + 1, task_tag, comm_);
      MPI_Cancel(&receives_[static_cast<std::size_t>(w)]);
      MPI_Wait(&receives_[static_cast<std::size_t>(w)], MPI_STATUS_IGNORE);
    }
  }

  int workers() const { return nworkers_; }

  // Runs ntasks tasks, at most `window` in flight per worker: fill(i, request&)
  // describes task i, done(const reply&) consumes each reply as it arrives.
  template <class Fill, class Done>
  void run(std::int64_t ntasks, Fill fill, Done done) {
    std::int64_t next = 0;
    for (int slot = 0; slot < slots() && next < ntasks; ++slot) send_task(slot, next++, fill);
    for (std::int64_t finished = 0; finished < ntasks; ++finished) {
      int w = MPI_UNDEFINED;
      MPI_Waitany(nworkers_, receives_.data(), &w, MPI_STATUS_IGNORE);
      const reply& rep = replies_[static_cast<std::size_t>(w)];
      done(rep);
      const int slot = rep.slot;
      post_receive(w);
      if (next < ntasks) send_task(slot, next++, fill);
    }
  }

  // Runs ntasks tasks with one in flight per worker, each to the first
  // worker free: task i is sent no sooner than release(i) (a time point,
  // in order). done(reply, when) sees each reply as it arrives. Polls: the
  // floor reacts at once, at the price of the root's core.
  template <class Release, class Fill, class Done>
  void run_greedy(std::int64_t ntasks, Release release, Fill fill, Done done) {
    std::vector<bool> busy(static_cast<std::size_t>(nworkers_), false);
    std::int64_t next = 0;
    for (std::int64_t finished = 0; finished < ntasks;) {
      for (int w = 0; w < nworkers_ && next < ntasks && clock::now() >= release(next); ++w) {
        if (busy[static_cast<std::size_t>(w)]) continue;
        send_task(w, next++, fill);  // slot w belongs to worker w + 1
        busy[static_cast<std::size_t>(w)] = true;
      }
      int w = MPI_UNDEFINED, arrived = 0;
      MPI_Testany(nworkers_, receives_.data(), &w, &arrived, MPI_STATUS_IGNORE);
      if (!arrived || w == MPI_UNDEFINED) continue;
      done(replies_[static_cast<std::size_t>(w)], clock::now());
      post_receive(w);
      busy[static_cast<std::size_t>(w)] = false;
      ++finished;
    }
  }

  // Sends `data` to worker 1 as one message; returns the size it reported.
  std::int64_t send_bytes(const std::vector<char>& data, payload_buffer into) {
    send_payload_request(op::bytes_in, static_cast<std::int64_t>(data.size()), into);
    MPI_Send(data.data(), static_cast<int>(data.size()), MPI_BYTE, 1, payload_tag, comm_);
    return wait_reply_from_first().value;
  }

  // Asks worker 1 for n bytes and receives them into `data` (resized to n).
  void fetch_bytes(std::int64_t n, std::vector<char>& data, payload_buffer from) {
    send_payload_request(op::bytes_out, n, from);
    data.resize(static_cast<std::size_t>(n));
    MPI_Recv(data.data(), static_cast<int>(n), MPI_BYTE, 1, payload_tag, comm_, MPI_STATUS_IGNORE);
    wait_reply_from_first();
  }

 private:
  int slots() const { return nworkers_ * window; }
  // Slot s belongs to worker 1 + s % nworkers, so priming fills workers round-robin.
  int worker_of(int slot) const { return 1 + slot % nworkers_; }

  void post_receive(int w) {
    MPI_Irecv(&replies_[static_cast<std::size_t>(w)], sizeof(reply), MPI_BYTE, w + 1, result_tag,
              comm_, &receives_[static_cast<std::size_t>(w)]);
  }

  template <class Fill>
  void send_task(int slot, std::int64_t i, Fill&& fill) {
    const auto s = static_cast<std::size_t>(slot);
    MPI_Wait(&sends_[s], MPI_STATUS_IGNORE);  // the slot's previous request buffer is free
    request& req = requests_[s];
    req.count = 0;
    fill(i, req);
    req.slot = slot;
    MPI_Isend(&req, request_bytes(req), MPI_BYTE, worker_of(slot), task_tag, comm_, &sends_[s]);
  }

  void send_payload_request(op kind, std::int64_t bytes, payload_buffer buffer) {
    send_task(0, 0, [&](std::int64_t, request& req) {
      req.kind = kind;
      req.arg = bytes;
      req.count = 1;
      req.values[0] = buffer;
    });
  }

  reply wait_reply_from_first() {
    MPI_Wait(&receives_[0], MPI_STATUS_IGNORE);
    const reply rep = replies_[0];
    post_receive(0);
    return rep;
  }

  MPI_Comm comm_;
  int nworkers_;
  std::vector<request> requests_;
  std::vector<MPI_Request> sends_;
  std::vector<reply> replies_;
  std::vector<MPI_Request> receives_;
};

double noop_tasks(farm& f, std::int64_t n) {
  std::int64_t expected = 0, sum = 0;
  const auto start = clock::now();
  f.run(
      n,
      [&](std::int64_t i, request& req) {
        req.kind = op::noop;
        req.count = 1;
        req.values[0] = static_cast<std::int32_t>(i % 1000);
        expected += req.values[0];
      },
      [&](const reply& rep) { sum += rep.value; });
  const double seconds = seconds_since(start);
  if (sum != expected) throw std::runtime_error("raw-farm-bench: wrong no-op results");
  return seconds;
}

// n no-op calls in chunks of 64 inputs per message, as map(chunksize=64) does.
double chunk_tasks(farm& f, std::int64_t n) {
  std::int64_t results = 0;
  const auto start = clock::now();
  f.run(
      n / max_values,
      [&](std::int64_t i, request& req) {
        req.kind = op::chunk;
        req.count = max_values;
        for (int k = 0; k < max_values; ++k) req.values[k] = static_cast<std::int32_t>(i + k);
      },
      [&](const reply& rep) { results += rep.count; });
  const double seconds = seconds_since(start);
  if (results != n) throw std::runtime_error("raw-farm-bench: wrong chunk results");
  return seconds;
}

std::vector<double> round_trips(farm& f, const bench::config& cfg) {
  const auto one_call = [&f](int x) {
    f.run(
        1,
        [x](std::int64_t, request& req) {
          req.kind = op::noop;
          req.count = 1;
          req.values[0] = x;
        },
        [](const reply&) {});
  };
  bench::warm_up(cfg, one_call);
  std::vector<double> samples;
  for (int i = 0; i < cfg.rtt_iterations; ++i) {
    const auto start = clock::now();
    one_call(i);
    samples.push_back(seconds_since(start) * 1e6);
  }
  return samples;
}

// Best GB/s in and out over payload_reps transfers of 64 MiB each way. With
// warm_buffer both sides keep their buffers (the first transfer touches them),
// with fresh_buffer the receiver takes a new vector each time, as a program
// that gets a new vector by value does.
std::pair<double, double> bandwidth(farm& f, const bench::config& cfg, payload_buffer buffers) {
  const std::vector<char> payload(static_cast<std::size_t>(cfg.payload_bytes), 'x');
  std::vector<char> inbox;
  const double bytes = static_cast<double>(cfg.payload_bytes);
  double best_in = 0, best_out = 0;
  for (int rep = 0; rep < cfg.payload_reps; ++rep) {
    auto start = clock::now();
    if (f.send_bytes(payload, buffers) != cfg.payload_bytes) {
      throw std::runtime_error("raw-farm-bench: payload lost bytes on the way in");
    }
    best_in = std::max(best_in, bytes / seconds_since(start) / 1e9);
    if (buffers == fresh_buffer) inbox = std::vector<char>();
    start = clock::now();
    f.fetch_bytes(cfg.payload_bytes, inbox, buffers);
    if (static_cast<std::int64_t>(inbox.size()) != cfg.payload_bytes) {
      throw std::runtime_error("raw-farm-bench: payload lost bytes on the way out");
    }
    best_out = std::max(best_out, bytes / seconds_since(start) / 1e9);
  }
  return {best_in, best_out};
}

double spin_tasks(farm& f, double d_us, std::int64_t ntasks) {
  const auto start = clock::now();
  f.run(
      ntasks,
      [d_us](std::int64_t, request& req) {
        req.kind = op::spin;
        req.arg = static_cast<std::int64_t>(d_us * 1000.0);
      },
      [](const reply&) {});
  return seconds_since(start);
}

void fill_sleep(request& req, std::int64_t i, std::int64_t us) {
  req.kind = op::sleep;
  req.arg = us * 1000;
  req.count = 1;
  req.values[0] = static_cast<std::int32_t>(i);
}

// Workload 8: the unequal calls, all released at once; makespan to the last reply.
void unequal_calls(farm& f, const bench::config& cfg, bench::unequal_results& r) {
  const auto lengths = bench::unequal_lengths_us(cfg);
  const auto n = static_cast<std::int64_t>(lengths.size());
  std::int64_t answered = 0;
  const auto start = clock::now();
  f.run_greedy(
      n, [start](std::int64_t) { return start; },
      [&](std::int64_t i, request& req) {
        fill_sleep(req, i, lengths[static_cast<std::size_t>(i)]);
      },
      [&](const reply&, clock::time_point) { ++answered; });
  r.makespan_s = seconds_since(start);
  r.bound_s = bench::makespan_bound_s(lengths, f.workers());
  if (answered != n) throw std::runtime_error("raw-farm-bench: unequal calls lost");
}

// Workload 9: one long call, then short ones on a schedule; each call's
// latency runs from its release to its reply.
void long_call_first(farm& f, const bench::config& cfg, bench::unequal_results& r) {
  const auto n = 1 + cfg.long_shorts;
  std::vector<clock::time_point> released(static_cast<std::size_t>(n));
  const auto start = clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    const double offset = i == 0 ? 0 : bench::short_call_offset_s(cfg, i - 1);
    released[static_cast<std::size_t>(i)] =
        start + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(offset));
  }
  std::vector<double> latency_s(static_cast<std::size_t>(n), -1);
  f.run_greedy(
      n, [&](std::int64_t i) { return released[static_cast<std::size_t>(i)]; },
      [&](std::int64_t i, request& req) {
        const double ms = i == 0 ? cfg.long_ms : cfg.short_ms;
        fill_sleep(req, i, std::llround(ms * 1e3));
      },
      [&](const reply& rep, clock::time_point when) {
        const auto i = static_cast<std::size_t>(rep.value);
        latency_s[i] = std::chrono::duration<double>(when - released[i]).count();
      });
  r.longest_s = latency_s[0];
  for (std::size_t i = 1; i < latency_s.size(); ++i) r.short_ms.push_back(latency_s[i] * 1e3);
}

bench::report measure(farm& f, const std::vector<int>& pids, const bench::config& cfg) {
  bench::report out;
  auto& figures = out.figures;
  auto& details = out.details;
  // Idle first: the farm is up (workers wait in MPI_Recv) and nothing was sent yet.
  bench::progress(system_name, "idle CPU");
  const auto idle = bench::idle_cpu_percent(pids, cfg.idle_seconds);
  bench::progress(system_name, "no-op tasks");
  bench::call_results r;
  r.submit = bench::auto_range([&](std::int64_t n) { return noop_tasks(f, n); }, cfg.first_n,
                               cfg.min_seconds);
  bench::progress(system_name, "chunks of 64");
  r.map = bench::auto_range([&](std::int64_t n) { return chunk_tasks(f, n); }, cfg.first_n,
                            cfg.min_seconds, max_values);
  bench::progress(system_name, "round trips");
  r.rtt_us = round_trips(f, cfg);
  bench::progress(system_name, "64 MiB payloads");
  std::tie(r.bw_in_gb_s, r.bw_out_gb_s) = bandwidth(f, cfg, warm_buffer);
  double fresh_in = 0, fresh_out = 0;
  std::tie(fresh_in, fresh_out) = bandwidth(f, cfg, fresh_buffer);
  bench::progress(system_name, "METG sweep");
  r.metg = bench::metg_sweep(cfg, f.workers(),
                             [&](double d, std::int64_t n) { return spin_tasks(f, d, n); });
  bench::record(r, figures, details);
  bench::progress(system_name, "unequal calls");
  bench::unequal_results u;
  unequal_calls(f, cfg, u);
  if (f.workers() >= 2) {
    bench::progress(system_name, "one long call first");
    long_call_first(f, cfg, u);
  }
  bench::record(u, figures, details);
  bench::json fresh;
  fresh.set("bw_in_gb_s", fresh_in).set("bw_out_gb_s", fresh_out);
  details.set("payload_fresh_buffer", fresh);

  figures.set("idle_pct_core_max", bench::max_finite(idle));
  for (const char* key : {"growth_small_calls_per_s", "growth_large_calls_per_s",
                          "growth_small_bytes_per_call", "growth_large_bytes_per_call"}) {
    bench::skip_figure(figures, key, "no pending queue: nothing to grow");
  }
  details.set("idle", bench::idle_json(idle, cfg.idle_seconds));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const mpi_session mpi(argc, argv);
  const auto cfg = bench::parse_args(argc, argv);
  const auto pids = bench::gather_pids(MPI_COMM_WORLD);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    if (rank == 0) std::cerr << "raw-farm-bench needs at least 2 ranks\n";
    return 2;
  }
  if (rank != 0) {
    serve(MPI_COMM_WORLD);
    return 0;
  }

  bench::report measured;
  {
    farm f(MPI_COMM_WORLD, size - 1);
    measured = measure(f, pids, cfg);
  }  // stops the workers
  const std::vector<std::string> notes = {
      "no pending queue: submit/map figures stream N tasks through the window (2 per worker), "
      "so the growth figures do not apply",
      "workers wait in MPI_Recv, which busy-polls in Open MPI: the idle figure is that cost",
      "64 MiB figures: both sides keep their buffers (the floor); a new vector per transfer "
      "is in details.payload_fresh_buffer",
      "unequal calls: greedy, one in flight per worker, the root polling without pause"};
  bench::json result;
  result.set("system", system_name).set("ranks", size).set("workers", size - 1);
  result.set("window", window).set("threading", "single").set("config", bench::to_json(cfg));
  result.set("figures", measured.figures).set("skipped_figures", bench::skipped_figures_json());
  result.set("details", measured.details).set("notes", notes);
  std::cout << result.str() << std::endl;
  return 0;
}
