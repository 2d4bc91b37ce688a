// The results of one map() chunk: the value type of the future behind each
// chunk of a map_result.
#pragma once

#include <vector>

namespace rankpool::detail {

template <class R>
struct chunk {
  std::vector<R> values;
};

}  // namespace rankpool::detail
