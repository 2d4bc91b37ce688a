// rankpool inside a simulation: a 2-D heat equation, stepped by the
// simulation ranks with halo exchanges over a Cartesian communicator, hands
// analysis of its snapshots (statistics, a checksum, a compressed file) to
// a rankpool pool, and keeps stepping while the analysis runs.
//
//   mpirun -n 4 ./build/apps/rankpool-heat                  # 3 simulation ranks, 1 analysis rank
//   mpirun -n 4 ./build/apps/rankpool-heat --mode spawn     # 4 simulation ranks, 1 spawned worker
//   options: --analysis on|off  --mode split|spawn  --workers K  --size N  --steps S
//            --every E (snapshot period)  --out DIR (write compressed snapshots there)
//
// --mode split: the last K ranks of MPI_COMM_WORLD are the pool's workers,
// split off with rank 0 (the pool's root, also a simulation rank).
// --mode spawn: every rank simulates; rank 0 spawns K workers running this
// same program. docs/embedding.md walks through it.
#include <rankpool/rankpool.hpp>

#include <boost/mpi/environment.hpp>
#include <boost/serialization/access.hpp>

#include <mpi.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

// ---- The analysis calls, run on the pool's workers -------------------------

struct field_summary {
  double min = 0, max = 0, mean = 0, total = 0;
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& min& max& mean& total;
  }
  bool operator==(const field_summary& o) const {
    return min == o.min && max == o.max && mean == o.mean && total == o.total;
  }
};

field_summary summarize(const std::vector<double>& field) {
  field_summary s;
  if (field.empty()) return s;
  s.min = *std::min_element(field.begin(), field.end());
  s.max = *std::max_element(field.begin(), field.end());
  for (double v : field) s.total += v;
  s.mean = s.total / static_cast<double>(field.size());
  return s;
}
RANKPOOL_REGISTER(summarize);

// FNV-1a over the values' bytes: equal fields, equal checksums.
std::uint64_t checksum(const std::vector<double>& field) {
  std::uint64_t h = 1469598103934665603ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(field.data());
  for (std::size_t i = 0; i < field.size() * sizeof(double); ++i) {
    h = (h ^ bytes[i]) * 1099511628211ull;
  }
  return h;
}
RANKPOOL_REGISTER(checksum);

// zlib-compresses the field into `path`; returns the bytes written.
std::uint64_t write_snapshot(const std::string& path, const std::vector<double>& field) {
  const auto* raw = reinterpret_cast<const Bytef*>(field.data());
  const uLong raw_size = static_cast<uLong>(field.size() * sizeof(double));
  std::vector<Bytef> packed(compressBound(raw_size));
  uLongf packed_size = static_cast<uLongf>(packed.size());
  if (compress2(packed.data(), &packed_size, raw, raw_size, 6) != Z_OK) {
    throw std::runtime_error("compress2 failed for " + path);
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(packed.data()),
            static_cast<std::streamsize>(packed_size));
  if (!out) throw std::runtime_error("cannot write " + path);
  return packed_size;
}
RANKPOOL_REGISTER(write_snapshot);

// Everything asked of one snapshot, in one call: the field travels once.
struct snapshot_report {
  int step = 0;
  field_summary summary;
  std::uint64_t sum = 0;
  std::uint64_t bytes_written = 0;  // 0 unless a path was given
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& step& summary& sum& bytes_written;
  }
};

snapshot_report analyze(int step, const std::string& path, const std::vector<double>& field) {
  snapshot_report r;
  r.step = step;
  r.summary = summarize(field);
  r.sum = checksum(field);
  if (!path.empty()) r.bytes_written = write_snapshot(path, field);
  return r;
}
RANKPOOL_REGISTER(analyze);

// ---- The simulation --------------------------------------------------------

struct settings {
  bool analysis = true;
  std::string mode = "split";
  int workers = 1;
  int size = 960;  // global grid: size x size
  int steps = 200;
  int every = 20;
  std::string out;
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--analysis") {
      s.analysis = value == "on";
    } else if (key == "--mode") {
      s.mode = value;
    } else if (key == "--workers") {
      s.workers = std::stoi(value);
    } else if (key == "--size") {
      s.size = std::stoi(value);
    } else if (key == "--steps") {
      s.steps = std::stoi(value);
    } else if (key == "--every") {
      s.every = std::stoi(value);
    } else if (key == "--out") {
      s.out = value;
    } else {
      throw std::invalid_argument("unknown option " + key);
    }
  }
  if (s.mode != "split" && s.mode != "spawn") throw std::invalid_argument("--mode split|spawn");
  if (s.workers < 1 || s.size < 8 || s.steps < 1 || s.every < 1) {
    throw std::invalid_argument("--workers, --size, --steps and --every must be positive");
  }
  return s;
}

// One simulation rank's block of the grid, with a halo of one cell.
class heat_block {
 public:
  heat_block(MPI_Comm cart, int global) : cart_(cart) {
    int dims[2], periods[2], coords[2];
    MPI_Cart_get(cart, 2, dims, periods, coords);
    if (global % dims[0] != 0 || global % dims[1] != 0) {
      throw std::invalid_argument("--size must divide by the process grid");
    }
    nx_ = global / dims[0];
    ny_ = global / dims[1];
    x0_ = coords[0] * nx_;
    y0_ = coords[1] * ny_;
    MPI_Cart_shift(cart, 0, 1, &up_, &down_);
    MPI_Cart_shift(cart, 1, 1, &left_, &right_);
    u_.assign(static_cast<std::size_t>((nx_ + 2) * (ny_ + 2)), 0.0);
    next_ = u_;
    // A hot square in the middle of the plate; the plate's edges stay at 0.
    for (int i = 0; i < nx_; ++i) {
      for (int j = 0; j < ny_; ++j) {
        const int gi = x0_ + i, gj = y0_ + j;
        if (std::abs(gi - global / 2) < global / 8 && std::abs(gj - global / 2) < global / 8) {
          at(i + 1, j + 1) = 100.0;
        }
      }
    }
    MPI_Type_vector(nx_, 1, ny_ + 2, MPI_DOUBLE, &column_);
    MPI_Type_commit(&column_);
  }
  ~heat_block() { MPI_Type_free(&column_); }
  heat_block(const heat_block&) = delete;
  heat_block& operator=(const heat_block&) = delete;

  // Halo exchange with the four neighbours, then one explicit Euler step.
  void step() {
    exchange_halos();
    constexpr double alpha = 0.2;
    for (int i = 1; i <= nx_; ++i) {
      for (int j = 1; j <= ny_; ++j) {
        const double lap = at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1) - 4 * at(i, j);
        next_[index(i, j)] = at(i, j) + alpha * lap;
      }
    }
    u_.swap(next_);
  }

  // This block's interior, row by row.
  std::vector<double> interior() const {
    std::vector<double> v;
    v.reserve(static_cast<std::size_t>(nx_ * ny_));
    for (int i = 1; i <= nx_; ++i) {
      for (int j = 1; j <= ny_; ++j) v.push_back(u_[index(i, j)]);
    }
    return v;
  }
  int nx() const { return nx_; }
  int ny() const { return ny_; }
  int x0() const { return x0_; }
  int y0() const { return y0_; }

 private:
  std::size_t index(int i, int j) const { return static_cast<std::size_t>(i * (ny_ + 2) + j); }
  double& at(int i, int j) { return u_[index(i, j)]; }

  void exchange_halos() {
    constexpr int tag = 11;  // the simulation's own tag on its own communicator
    // Rows are contiguous; columns are a strided datatype.
    MPI_Sendrecv(&u_[index(1, 1)], ny_, MPI_DOUBLE, up_, tag, &u_[index(nx_ + 1, 1)], ny_,
                 MPI_DOUBLE, down_, tag, cart_, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u_[index(nx_, 1)], ny_, MPI_DOUBLE, down_, tag, &u_[index(0, 1)], ny_, MPI_DOUBLE,
                 up_, tag, cart_, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u_[index(1, 1)], 1, column_, left_, tag, &u_[index(1, ny_ + 1)], 1, column_,
                 right_, tag, cart_, MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u_[index(1, ny_)], 1, column_, right_, tag, &u_[index(1, 0)], 1, column_, left_,
                 tag, cart_, MPI_STATUS_IGNORE);
  }

  MPI_Comm cart_;
  int nx_ = 0, ny_ = 0, x0_ = 0, y0_ = 0;
  int up_ = MPI_PROC_NULL, down_ = MPI_PROC_NULL, left_ = MPI_PROC_NULL, right_ = MPI_PROC_NULL;
  std::vector<double> u_, next_;
  MPI_Datatype column_ = MPI_DATATYPE_NULL;
};

// The whole field on simulation rank 0 (empty elsewhere): each block's
// interior gathered, then placed.
std::vector<double> gather_field(const heat_block& b, MPI_Comm sim, int global) {
  int size = 0, rank = 0;
  MPI_Comm_size(sim, &size);
  MPI_Comm_rank(sim, &rank);
  const std::vector<double> mine = b.interior();
  const int corner[2] = {b.x0(), b.y0()};
  std::vector<double> blocks(rank == 0 ? mine.size() * static_cast<std::size_t>(size) : 0);
  std::vector<int> corners(rank == 0 ? 2 * static_cast<std::size_t>(size) : 0);
  MPI_Gather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, blocks.data(),
             static_cast<int>(mine.size()), MPI_DOUBLE, 0, sim);
  MPI_Gather(corner, 2, MPI_INT, corners.data(), 2, MPI_INT, 0, sim);
  if (rank != 0) return {};
  std::vector<double> field(static_cast<std::size_t>(global) * static_cast<std::size_t>(global));
  for (int r = 0; r < size; ++r) {
    const double* block = &blocks[mine.size() * static_cast<std::size_t>(r)];
    for (int i = 0; i < b.nx(); ++i) {
      for (int j = 0; j < b.ny(); ++j) {
        const auto gi = static_cast<std::size_t>(corners[2 * r] + i);
        const auto gj = static_cast<std::size_t>(corners[2 * r + 1] + j);
        field[gi * static_cast<std::size_t>(global) + gj] = block[i * b.ny() + j];
      }
    }
  }
  return field;
}

// One line per snapshot, printed by rank 0 once its analysis has come back.
void print_report(const snapshot_report& r) {
  const field_summary& s = r.summary;
  std::printf("step %5d: min %.4f max %.4f mean %.6f total %.3f  checksum %016llx", r.step, s.min,
              s.max, s.mean, s.total, static_cast<unsigned long long>(r.sum));
  if (r.bytes_written > 0) {
    std::printf("  written: %llu bytes", static_cast<unsigned long long>(r.bytes_written));
  }
  std::printf("\n");
}

// Where a simulation rank's time went: stepping (halo exchange and
// update), and handing snapshots off (the gather, and on rank 0 the submit).
struct timing {
  double stepping = 0;
  double handing_off = 0;
};

// Runs the simulation on `sim`; world rank 0 (simulation rank 0) submits
// the analysis to `pool` if it has one. stepping < 0: a check failed.
timing simulate(const settings& s, MPI_Comm sim, rankpool::executor* pool) {
  int sim_size = 0, sim_rank = 0;
  MPI_Comm_size(sim, &sim_size);
  MPI_Comm_rank(sim, &sim_rank);
  int dims[2] = {0, 0};
  MPI_Dims_create(sim_size, 2, dims);
  const int periods[2] = {0, 0};
  MPI_Comm cart = MPI_COMM_NULL;
  MPI_Cart_create(sim, 2, dims, periods, 0, &cart);
  timing t;
  std::vector<rankpool::future<snapshot_report>> analyses;
  {
    heat_block block(cart, s.size);
    if (sim_rank == 0) {
      std::printf("heat: %dx%d grid on %d simulation ranks (%dx%d), %d steps; analysis %s\n",
                  s.size, s.size, sim_size, dims[0], dims[1], s.steps,
                  pool ? ("on " + std::to_string(pool->max_workers()) + " worker(s), " + s.mode +
                          " mode, every " + std::to_string(s.every) + " steps")
                             .c_str()
                       : "off");
    }
    MPI_Barrier(cart);
    using clock = std::chrono::steady_clock;
    const auto seconds_since = [](clock::time_point from) {
      return std::chrono::duration<double>(clock::now() - from).count();
    };
    for (int step = 1; step <= s.steps; ++step) {
      const auto step_start = clock::now();
      block.step();
      t.stepping += seconds_since(step_start);
      if (s.analysis && step % s.every == 0) {
        const auto handoff_start = clock::now();
        // Every simulation rank takes part in the gather; rank 0 submits
        // and goes straight on: the calls run while the next steps do.
        std::vector<double> field = gather_field(block, cart, s.size);
        if (sim_rank == 0 && pool) {
          std::string path;
          if (!s.out.empty()) {
            char name[64];
            std::snprintf(name, sizeof name, "/heat_%05d.z", step);
            path = s.out + name;
          }
          analyses.push_back(pool->submit(analyze, step, path, field));
        }
        t.handing_off += seconds_since(handoff_start);
      }
    }
    // The final field, checked on rank 0 against the pool's own summary of it.
    std::vector<double> final_field = gather_field(block, cart, s.size);
    if (sim_rank == 0) {
      for (const auto& a : analyses) print_report(a.get());
      const auto local = checksum(final_field);
      std::printf("final field checksum %016llx\n", static_cast<unsigned long long>(local));
      if (pool) {
        const bool same = pool->submit(summarize, final_field).get() == summarize(final_field) &&
                          pool->submit(checksum, final_field).get() == local;
        std::printf("pool's analysis of the final field matches rank 0's own: %s\n",
                    same ? "yes" : "NO");
        if (!same) t.stepping = -1;
      }
    }
  }
  MPI_Comm_free(&cart);
  return t;
}

// True in a process that executor::spawn() started: it only serves.
bool started_by_a_pool() {
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  return parent != MPI_COMM_NULL;
}

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  if (started_by_a_pool()) {
    rankpool::serve();  // a spawned analysis worker (--mode spawn)
    return 0;
  }
  settings s;
  try {
    s = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "rankpool-heat: " << e.what() << '\n';
    return 2;
  }
  int world_size = 0, world_rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);

  std::optional<rankpool::executor> pool;
  MPI_Comm sim = MPI_COMM_NULL;
  if (s.mode == "split") {
    if (s.workers >= world_size) {  // (the split is the same with analysis off: same layout)
      if (world_rank == 0)
        std::cerr << "rankpool-heat: --mode split needs more ranks than --workers\n";
      return 2;
    }
    // Simulation ranks: 0 .. n-K-1. The pool: world rank 0 (its root) and the last K ranks.
    const int sim_ranks = world_size - s.workers;
    const bool simulates = world_rank < sim_ranks;
    const bool in_pool = world_rank == 0 || !simulates;
    MPI_Comm_split(MPI_COMM_WORLD, simulates ? 0 : MPI_UNDEFINED, world_rank, &sim);
    MPI_Comm pool_comm = MPI_COMM_NULL;
    MPI_Comm_split(MPI_COMM_WORLD, in_pool ? 0 : MPI_UNDEFINED, world_rank, &pool_comm);
    if (in_pool && s.analysis) {
      const boost::mpi::communicator comm(pool_comm, boost::mpi::comm_take_ownership);
      pool.emplace(comm);
      if (!*pool) return 0;  // an analysis rank: served until rank 0 shut the pool down
    } else if (pool_comm != MPI_COMM_NULL) {
      MPI_Comm_free(&pool_comm);
    }
    if (!simulates) return 0;  // an analysis rank with analysis off: nothing to do
  } else {
    MPI_Comm_dup(MPI_COMM_WORLD, &sim);
    if (world_rank == 0 && s.analysis) pool.emplace(rankpool::executor::spawn(s.workers));
  }
  const timing t = simulate(s, sim, pool ? &*pool : nullptr);
  // The slowest simulation rank's figures, and whether any check failed.
  const double mine[3] = {t.stepping, t.handing_off, t.stepping < 0 ? 1.0 : 0.0};
  double slowest[3] = {0, 0, 0};
  MPI_Reduce(mine, slowest, 3, MPI_DOUBLE, MPI_MAX, 0, sim);
  const bool any_failed = slowest[2] > 0;
  int sim_rank = 0;
  MPI_Comm_rank(sim, &sim_rank);
  if (sim_rank == 0) {
    const int snapshots = s.analysis ? s.steps / s.every : 0;
    std::printf("mean step time %.3f ms (halo exchange and update, slowest rank, %d steps)\n",
                1e3 * slowest[0] / s.steps, s.steps);
    if (snapshots > 0) {
      std::printf("snapshot hand-off %.3f ms each (gather, and submit on rank 0; %d snapshots)\n",
                  1e3 * slowest[1] / snapshots, snapshots);
    }
    if (pool) {
      const auto stats = pool->stats();
      std::printf("analysis calls: %llu submitted, %llu completed, %llu failed\n",
                  static_cast<unsigned long long>(stats.submitted),
                  static_cast<unsigned long long>(stats.completed),
                  static_cast<unsigned long long>(stats.failed));
    }
  }
  MPI_Comm_free(&sim);
  if (pool) pool->shutdown();
  return any_failed ? 1 : 0;
}
