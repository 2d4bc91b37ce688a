// Spawned pools, as programs use them: started without mpirun (a
// singleton) or from one rank of an mpirun job; shut down and spawned
// again; workers running this program or another one. Every check prints
// what failed and exits non-zero; a spawned copy exits 0 once it has served.
//
//   spawn_check workers N            spawn N copies of this program, run calls on them
//   spawn_check twice N              spawn, shut down, spawn again
//   spawn_check other-binary N PROG  spawn N workers running PROG (which calls serve())
//   spawn_check from-rank N          under mpirun -n 2: rank 1 spawns, rank 0 talks to it
#include "mpi/test_calls.hpp"

#include <rankpool/rankpool.hpp>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/environment.hpp>

#include <cstdlib>
#include <iostream>
#include <numeric>
#include <set>
#include <string>

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "FAILED: " << what << '\n';
    ++failures;
  }
}

// Calls on every worker of a spawned pool, checked.
void use(rankpool::executor& pool, int workers) {
  check(pool.max_workers() == workers, "max_workers() is the number spawned");
  check(pool.comm().size() == workers + 1 && pool.comm().rank() == 0,
        "the pool's communicator holds this process as rank 0 and the workers");
  std::vector<int> xs(100);
  std::iota(xs.begin(), xs.end(), 0);
  const auto squares = pool.map(calls::square, xs, 7).get();
  for (int i = 0; i < 100; ++i) check(squares[i] == i * i, "map() results");
  // Long enough calls that every worker takes some.
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 4 * workers; ++i) fs.push_back(pool.submit(calls::sleep_ms, 30));
  for (auto& f : fs) check(f.get() == 30, "sleep_ms result");
  check(pool.submit(calls::greet, std::string("spawn")).get() == "hello spawn", "a string result");
  const auto stats = pool.stats();
  check(stats.workers.size() == static_cast<std::size_t>(workers), "stats: one entry per worker");
  std::set<int> ranks;
  for (const auto& w : stats.workers) {
    ranks.insert(w.rank);
    check(w.calls > 0, "every spawned worker ran calls (worker " + std::to_string(w.rank) + ")");
  }
  check(ranks.size() == static_cast<std::size_t>(workers) && *ranks.begin() == 1,
        "workers are ranks 1..n");
  pool.shutdown();
  check(pool.stats().completed == stats.completed, "stats() after shutdown keeps the figures");
  try {
    (void)pool.submit(calls::square, 1);
    check(false, "submit() after shutdown throws");
  } catch (const std::runtime_error&) {
  }
}

int spawned_copy_done() {
  return 0;  // a spawned copy: served its pool, nothing else to do
}

}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  const std::string mode = argc > 1 ? argv[1] : "";
  const int workers = argc > 2 ? std::atoi(argv[2]) : 2;
  if (mode == "workers") {
    auto pool = rankpool::executor::spawn(workers);
    if (!pool) return spawned_copy_done();
    use(pool, workers);
    try {
      (void)rankpool::executor::spawn(2, {}, "/nonexistent/worker");
      check(false, "spawning a missing program throws");
    } catch (const std::invalid_argument& e) {
      check(std::string(e.what()).find("/nonexistent/worker") != std::string::npos,
            "the error names the program");
    }
    try {
      (void)rankpool::executor::spawn(0);
      check(false, "spawn(0) throws");
    } catch (const std::invalid_argument&) {
    }
  } else if (mode == "twice") {
    for (int round = 0; round < 2; ++round) {
      auto pool = rankpool::executor::spawn(workers);
      if (!pool) return spawned_copy_done();
      use(pool, workers);
    }
  } else if (mode == "other-binary") {
    rankpool::options opts;
    opts.initializer = rankpool::initializer(calls::set_offset, 1000);
    auto pool = rankpool::executor::spawn(workers, opts, argv[3], {"--unused-flag"});
    check(static_cast<bool>(pool), "the parent is the root");
    // The worker program took the parent's options: its initializer ran there.
    check(pool.submit(calls::add_offset, 1).get() == 1001, "the parent's initializer ran");
    use(pool, workers);
    try {
      rankpool::serve();
      check(false, "serve() in a process nobody spawned throws");
    } catch (const std::logic_error&) {
    }
  } else if (mode == "from-rank") {
    boost::mpi::communicator world;
    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    const bool spawned = parent != MPI_COMM_NULL;
    if (spawned || world.rank() == 1) {
      // Rank 1 spawns its own pool while rank 0 goes on with its own messages.
      auto pool = rankpool::executor::spawn(workers);
      if (!pool) return spawned_copy_done();
      int token = 0;
      for (int i = 0; i < 50; ++i) {
        world.recv(0, 5, token);
        check(pool.submit(calls::square, token).get() == token * token, "a call between messages");
        world.send(0, 6, token + 1);
      }
      use(pool, workers);
    } else {
      for (int i = 0; i < 50; ++i) {
        world.send(1, 5, i);
        int reply = 0;
        world.recv(1, 6, reply);
        check(reply == i + 1, "rank 0's own messages are answered in order");
      }
    }
    int total = 0;
    boost::mpi::all_reduce(world, failures, total, std::plus<int>());
    failures = total;
  } else {
    std::cerr << "usage: spawn_check workers|twice|other-binary|from-rank N [PROGRAM]\n";
    return 2;
  }
  if (failures == 0) std::cout << "spawn_check " << mode << ": ok\n";
  return failures == 0 ? 0 : 1;
}
