// An executor over a one-rank communicator: calls run on threads of this
// process (src/local/local_core.cpp).
#pragma once

#include "root/executor_core.hpp"

#include <memory>

namespace rankpool::detail {

std::shared_ptr<executor_core> make_local_core(const options& opts, int threads);

}  // namespace rankpool::detail
