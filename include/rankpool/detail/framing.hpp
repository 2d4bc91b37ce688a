// Framing of call items, used by the templates that encode a call in place
// (see src/codec.hpp for the whole wire format): the item's header is
// written first, the arguments are appended straight after it, and the
// payload length is filled in at the end, so a call is never copied into a
// message afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rankpool::detail::wire {

inline constexpr std::uint8_t chunk_flag = 1;   // a map() chunk: results prefixed by their count
inline constexpr std::uint8_t blocks_flag = 2;  // arguments sent as blocks (see block_min)

// A large contiguous raw value (a std::vector of arithmetic values or a
// std::string) of at least this many bytes travels as its own message, a
// block, received straight into the vector it becomes: copying it into and
// out of the message of its call or result would cost two more passes over
// it (a third of the time of a 64 MiB transfer). In the message it is a u64
// element count with block_marker set, and the block follows the message.
inline constexpr std::size_t block_min = std::size_t{64} << 10;
inline constexpr std::uint64_t block_marker = std::uint64_t{1} << 63;

// An argument to send as a block: the caller's own value, alive during submit.
struct pending_block {
  const void* data;
  std::size_t size;
};
// As end_call, for a call whose arguments named `blocks`: marks the item and
// appends, after it, the blocks' bytes and their sizes (u64 each, then a u32
// count). Those stay on the root; the item is sent, then each block.
void end_call_with_blocks(std::string& item, std::size_t length_at,
                          const std::vector<pending_block>& blocks);

// Appends a call item header (id 0, to be set by set_call_id) and returns
// where the payload length goes.
std::size_t begin_call(std::string& item, std::string_view name, std::uint8_t flags,
                       std::uint32_t count);
// Fills in the payload length: everything appended since begin_call.
void end_call(std::string& item, std::size_t length_at);
// Set the id, or the call count, of the call item that starts at offset 0.
void set_call_id(std::string& item, std::uint64_t id);
void set_call_count(std::string& item, std::uint32_t count);

}  // namespace rankpool::detail::wire

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
