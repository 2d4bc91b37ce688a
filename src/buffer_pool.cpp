#include "rankpool/detail/framing.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <vector>

namespace rankpool::detail {
namespace {

constexpr std::size_t pool_limit = std::size_t{256} << 20;

struct pool {
  std::mutex mutex;
  std::vector<std::string> buffers;
  std::size_t bytes = 0;
};

pool& the_pool() {
  static pool p;
  return p;
}

}  // namespace

std::string acquire_buffer(std::size_t capacity) {
  std::string out;
  if (capacity >= pooled_buffer_min) {
    auto& p = the_pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    // The smallest buffer that fits, so a small request does not take a huge one.
    auto best = p.buffers.end();
    for (auto it = p.buffers.begin(); it != p.buffers.end(); ++it) {
      if (it->capacity() >= capacity &&
          (best == p.buffers.end() || it->capacity() < best->capacity())) {
        best = it;
      }
    }
    if (best != p.buffers.end()) {
      p.bytes -= best->capacity();
      out = std::move(*best);
      p.buffers.erase(best);
      return out;
    }
  }
  out.reserve(capacity);
  if (capacity >= pooled_buffer_min) advise_huge_pages(out.data(), capacity);
  return out;
}

void advise_huge_pages(void* data, std::size_t bytes) noexcept {
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  const auto first = (start + huge - 1) & ~(huge - 1);
  const auto last = (start + bytes) & ~(huge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

void release_buffer(std::string&& buffer) noexcept {
  if (buffer.capacity() < pooled_buffer_min) return;
  auto& p = the_pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.bytes + buffer.capacity() > pool_limit) return;  // freed by the caller's string
  p.bytes += buffer.capacity();
  try {
    p.buffers.push_back(std::move(buffer));
  } catch (...) {
    p.bytes -= buffer.capacity();  // out of memory: just free it
  }
}

}  // namespace rankpool::detail
