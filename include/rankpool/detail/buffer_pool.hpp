// Reusable byte buffers for call items, result items and blocks
// (implemented in src/wire/buffer_pool.cpp).
#pragma once

#include <cstddef>
#include <string>

namespace rankpool::detail {

// Large buffers (1 MiB or more) are reused across calls instead of being
// mapped, faulted in and zeroed by the kernel for every call: a 64 MiB
// argument otherwise costs as much in page faults as in copying. At most
// 256 MiB is kept; small buffers never touch the pool (no lock).
inline constexpr std::size_t pooled_buffer_min = std::size_t{1} << 20;

// A buffer with at least `capacity` bytes reserved; its size is unspecified
// (a reused buffer keeps its old size, so resize() to a size it already had
// costs nothing), so clear() it before appending.
std::string acquire_buffer(std::size_t capacity);
// Offers a buffer for reuse; small or surplus buffers are simply freed.
void release_buffer(std::string&& buffer) noexcept;
// Offers a small buffer (under 64 KiB) for reuse by acquire_buffer; a few
// dozen are kept, the rest freed.
void release_small_buffer(std::string&& buffer) noexcept;

// Asks the kernel to back [data, data + bytes) with huge pages (2 MiB) where
// it can: a 64 MiB buffer then takes 32 page faults instead of 16384, the
// better part of the cost of filling fresh memory. For large buffers only.
void advise_huge_pages(void* data, std::size_t bytes) noexcept;

}  // namespace rankpool::detail
