// The worker side of an executor (src/worker/worker_loop.cpp).
#pragma once

#include "rankpool/options.hpp"

#include <boost/mpi/communicator.hpp>

namespace rankpool::detail {

// Serves calls from the root until it sends stop.
void run_worker(const boost::mpi::communicator& comm, const options& opts);

}  // namespace rankpool::detail
