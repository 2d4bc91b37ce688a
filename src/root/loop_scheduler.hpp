// An executor whose workers are other ranks: the root_loop, and the threads
// that run its steps (src/root/loop_scheduler.cpp).
#pragma once

#include "root/executor_core.hpp"

#include <boost/mpi/communicator.hpp>

#include <memory>
#include <string>
#include <vector>

namespace rankpool::detail {

// `comm` is the executor's private communicator; `hosts` names each of its
// ranks' hosts (for stats).
std::shared_ptr<executor_core> make_loop_scheduler(const boost::mpi::communicator& comm,
                                                   const options& opts,
                                                   std::vector<std::string> hosts);

}  // namespace rankpool::detail
