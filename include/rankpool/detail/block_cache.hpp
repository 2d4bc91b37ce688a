// Vectors (and strings) that carried a block, kept after their last use so
// that the next block of the same type lands in memory already mapped.
//
// A block (a large contiguous argument on a worker, or a large result on the
// root) is received straight into the value it becomes. A fresh 64 MiB
// vector costs the kernel 64 MiB of page faults and zeroing, and resize()
// writes it once more before the block overwrites it: together about as
// long as the transfer itself. The value of a call's argument dies when the
// call returns, and a result's when its future's state dies; both come here,
// and the next block of that type takes one that fits. A kept value of the
// same size needs no writing at all: the block overwrites every element.
#pragma once

#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/raw_value.hpp"
#include "rankpool/detail/smallest_fit.hpp"

#include <atomic>
#include <cstddef>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool::detail {

// At most this many bytes of each type are kept (as buffer_pool keeps for
// buffers), in at most block_cache_entries values.
inline constexpr std::size_t block_cache_limit = std::size_t{256} << 20;
inline constexpr std::size_t block_cache_entries = 4;

// T: a contiguous raw type (std::vector of raw elements, or std::string).
template <class T>
class block_cache {
  using element = typename T::value_type;

 public:
  static block_cache& instance() {
    static block_cache cache;
    return cache;
  }

  block_cache(const block_cache&) = delete;
  block_cache& operator=(const block_cache&) = delete;
  ~block_cache() { gone().store(true, std::memory_order_release); }

  // A T of n elements: a kept one with room for n if there is one (its old
  // elements stay; the caller overwrites them all), else a new one whose
  // large pages are advised before it is first written.
  T take(std::size_t n) {
    T value;
    if (take_kept(n, value)) {
      value.resize(n);  // writes only the elements past its old size
      return value;
    }
    value.reserve(n);
    advise_huge_pages(value.data(), n * sizeof(element));
    value.resize(n);
    return value;
  }

  // Keeps `value` if it is large and there is room; else leaves it to its owner.
  void keep(T& value) noexcept {
    const std::size_t bytes = value.capacity() * sizeof(element);
    if (bytes < pooled_buffer_min) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (kept_.size() >= block_cache_entries || bytes_ + bytes > block_cache_limit) return;
    kept_.push_back(std::move(value));  // reserved below: cannot throw
    bytes_ += bytes;
  }

  // Whether the cache still exists: a future that outlives static
  // destruction must not hand its value to a destroyed cache.
  static bool alive() noexcept { return !gone().load(std::memory_order_acquire); }

 private:
  block_cache() { kept_.reserve(block_cache_entries); }

  static std::atomic<bool>& gone() noexcept {
    static std::atomic<bool> flag{false};  // trivially destructible: readable at exit
    return flag;
  }

  // The smallest kept value with room for n, preferring one at least n long.
  bool take_kept(std::size_t n, T& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto best =
        smallest_fit(kept_, n, [n](const T& a, const T& b) { return better(a, b, n); });
    if (best == kept_.end()) return false;
    bytes_ -= best->capacity() * sizeof(element);
    out = std::move(*best);
    kept_.erase(best);
    return true;
  }

  // a beats b when it needs no writing and b does, else when it is smaller.
  static bool better(const T& a, const T& b, std::size_t n) noexcept {
    const bool a_whole = a.size() >= n, b_whole = b.size() >= n;
    if (a_whole != b_whole) return a_whole;
    return a.capacity() < b.capacity();
  }

  std::mutex mutex_;
  std::vector<T> kept_;
  std::size_t bytes_ = 0;
};

// Hands `value` to its type's cache if it is a large contiguous value.
template <class V>
void keep_block(V& value) noexcept {
  if constexpr (is_contiguous_raw_v<V>) {
    if (block_cache<V>::alive()) block_cache<V>::instance().keep(value);
  } else {
    (void)value;
  }
}

// Hands every large contiguous value in `values` (a call's decoded
// arguments, after the call) to its cache. A value the call took by value
// was moved out, and is empty: it is skipped.
template <class Tuple>
void keep_blocks(Tuple& values) noexcept {
  std::apply([](auto&... value) { (keep_block(value), ...); }, values);
}

}  // namespace rankpool::detail
