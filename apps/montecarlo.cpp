// Estimate pi by Monte Carlo: each call throws darts with its own seed on a
// worker rank; the root sums the hits as results come back.
//   mpirun -n 4 ./build/apps/rankpool-montecarlo [tasks] [darts-per-task]
#include <rankpool/rankpool.hpp>

#include <boost/mpi/environment.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <vector>

std::uint64_t count_hits(std::uint64_t seed, std::uint64_t darts) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uint64_t hits = 0;
  for (std::uint64_t i = 0; i < darts; ++i) {
    const double x = unit(rng), y = unit(rng);
    hits += (x * x + y * y <= 1.0) ? 1 : 0;
  }
  return hits;
}
RANKPOOL_REGISTER(count_hits);

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  const std::uint64_t tasks = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 64;
  const std::uint64_t darts = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;

  rankpool::executor pool;
  if (!pool) return 0;  // worker ranks return here once the root shuts down

  std::vector<std::uint64_t> seeds(tasks);
  for (std::uint64_t i = 0; i < tasks; ++i) seeds[i] = 1000 + i;
  std::uint64_t hits = 0;
  for (std::uint64_t h : pool.starmap(count_hits, [&] {
         std::vector<std::pair<std::uint64_t, std::uint64_t>> args;
         for (auto s : seeds) args.emplace_back(s, darts);
         return args;
       }())) {
    hits += h;
  }
  const double pi = 4.0 * static_cast<double>(hits) / static_cast<double>(tasks * darts);
  std::cout << "pi ~ " << pi << " from " << tasks * darts << " darts on " << pool.max_workers()
            << " workers\n";
  return 0;
}
