// A worker program other than the one that spawns the pool: it registers
// the same callables (test_calls.cpp) and serves its parent's pool.
#include "mpi/test_calls.hpp"

#include <rankpool/rankpool.hpp>

#include <boost/mpi/environment.hpp>

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  rankpool::serve();
  return 0;
}
