// Spawned pools (executor::spawn): workers started with MPI_Comm_spawn, and
// the worker side of a process that such a pool started.
#pragma once

#include "rankpool/options.hpp"

#include <boost/mpi/communicator.hpp>

#include <memory>
#include <string>
#include <vector>

namespace rankpool::detail {

// The intercommunicator to spawned workers; disconnecting it (collective
// with the workers, which disconnect once released) lets both sides go on
// or finalize on their own.
class spawned_workers {
 public:
  explicit spawned_workers(MPI_Comm intercomm) : intercomm_(intercomm) {}
  spawned_workers(const spawned_workers&) = delete;
  spawned_workers& operator=(const spawned_workers&) = delete;
  ~spawned_workers();

 private:
  MPI_Comm intercomm_;
};

// What the parent gets: the merged communicator (it is rank 0, the workers
// 1..n) and the link to release after the pool has shut down.
struct spawned_pool {
  boost::mpi::communicator comm;
  std::unique_ptr<spawned_workers> link;
};

// Starts `workers` processes of `program` (this program, with its own
// arguments, if empty) and sends them `opts`. Throws std::invalid_argument
// for a bad count or a program that cannot be run, std::runtime_error if
// MPI could not start them.
spawned_pool spawn_workers(int workers, const options& opts, const std::string& program,
                           const std::vector<std::string>& args);

// True once, in a process started by spawn_workers that has not served its
// parent yet.
bool take_parent();
// Serves the parent's pool with the parent's options until it shuts down,
// then releases the link. Call after take_parent() returned true.
void serve_parent();

}  // namespace rankpool::detail
