#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/smallest_fit.hpp"

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

// Small buffers (the call items of a map(), a few hundred bytes each) are
// kept too, a few dozen of them: each one reused spares a malloc and a free,
// about a twentieth of what a map() chunk costs the root.
constexpr std::size_t small_buffers_max = 64;
constexpr std::size_t small_buffer_min = 64;
constexpr std::size_t small_buffer_max = std::size_t{64} << 10;

struct small_pool {
  std::mutex mutex;
  std::vector<std::string> buffers;
};

small_pool& the_small_pool() {
  static small_pool p;
  return p;
}

bool take_small(std::size_t capacity, std::string& out) {
  auto& p = the_small_pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.buffers.empty() || p.buffers.back().capacity() < capacity) return false;
  out = std::move(p.buffers.back());
  p.buffers.pop_back();
  return true;
}

std::string acquire_large(std::size_t capacity) {
  std::string out;
  {
    auto& p = the_pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    // The smallest buffer that fits, so a small request does not take a huge one.
    const auto best = smallest_fit(p.buffers, capacity, [](const auto& a, const auto& b) {
      return a.capacity() < b.capacity();
    });
    if (best != p.buffers.end()) {
      p.bytes -= best->capacity();
      out = std::move(*best);
      p.buffers.erase(best);
      return out;
    }
  }
  out.reserve(capacity);
  advise_huge_pages(out.data(), capacity);
  return out;
}

}  // namespace

std::string acquire_buffer(std::size_t capacity) {
  if (capacity >= pooled_buffer_min) return acquire_large(capacity);
  std::string out;
  if (capacity <= small_buffer_max && take_small(capacity, out)) return out;
  out.reserve(capacity);
  return out;
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

void release_small_buffer(std::string&& buffer) noexcept {
  if (buffer.capacity() < small_buffer_min || buffer.capacity() > small_buffer_max) return;
  auto& p = the_small_pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  if (p.buffers.size() >= small_buffers_max) return;  // freed by the caller's string
  try {
    if (p.buffers.capacity() == 0) p.buffers.reserve(small_buffers_max);
    p.buffers.push_back(std::move(buffer));
  } catch (...) {
    // out of memory: just free it
  }
}

void advise_huge_pages(void* data, std::size_t bytes) noexcept {
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  const auto first = (start + huge - 1) & ~(huge - 1);
  const auto last = (start + bytes) & ~(huge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

}  // namespace rankpool::detail
