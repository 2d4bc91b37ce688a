// What tests look at inside an executor: the private communicator (to forge
// messages) and how deep the workers' windows went. Only tests reach this
// far inside.
#pragma once

#include "root/executor_core.hpp"

#include <rankpool/executor.hpp>

namespace rankpool::detail {

struct executor_access {
  static const boost::mpi::communicator* private_comm(const executor& e) {
    return e.core_ ? e.core_->private_comm() : nullptr;
  }
  // The most calls one worker has had in flight so far (0 with local threads).
  static std::size_t deepest_window(const executor& e) {
    return e.core_ ? e.core_->deepest_window() : 0;
  }
};

}  // namespace rankpool::detail
