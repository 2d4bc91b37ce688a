// The search the buffer pool and the block cache share: which kept buffer a
// request of n elements takes.
#pragma once

#include <cstddef>

namespace rankpool::detail {

// The element of `kept` with capacity for `n` that ranks first by
// `better(a, b)` (a beats b); kept.end() if none has room.
template <class Kept, class Better>
auto smallest_fit(Kept& kept, std::size_t n, Better better) {
  auto best = kept.end();
  for (auto it = kept.begin(); it != kept.end(); ++it) {
    if (it->capacity() < n) continue;
    if (best == kept.end() || better(*it, *best)) best = it;
  }
  return best;
}

}  // namespace rankpool::detail
