// For tests of the wire protocol: the executor's private communicator on the
// root of a multi-rank pool, else null. Only tests reach this far inside.
#pragma once

#include "executor_core.hpp"

#include <rankpool/executor.hpp>

namespace rankpool::detail {

struct executor_access {
  static const boost::mpi::communicator* private_comm(const executor& e) {
    return e.core_ ? e.core_->private_comm() : nullptr;
  }
};

}  // namespace rankpool::detail
