// The call item: one call (or one map() chunk of calls) as it travels from
// the root to a worker. This header owns its layout: every field's offset
// and the header's size are defined here and nowhere else. submit() writes
// the header first (begin_call), appends the arguments straight after it and
// fills in the payload length at the end (end_call), so a call is never
// copied into a message afterwards. src/wire/wire.cpp reads items back with the
// same constants.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rankpool::detail::wire {

// clang-format off
// The call item, all fields little-endian:
//
//   offset 0   u64 id              set by the executor when the call is queued
//   offset 8   u8  flags           chunk_flag, blocks_flag
//   offset 9   u32 count           calls in the item (1, or a map() chunk's size)
//   offset 13  u32 name length
//   offset 17  name                the callable's registered name
//   then       u64 timeout (µs), u64 memory limit (bytes)    only with limits_flag
//   then       u64 payload length
//   then       payload             the function object's state (if any), then
//                                  `count` argument lists (see value_codec.hpp)
// clang-format on
namespace call_header {
inline constexpr std::size_t id_at = 0;
inline constexpr std::size_t flags_at = 8;
inline constexpr std::size_t count_at = 9;
inline constexpr std::size_t name_length_at = 13;
inline constexpr std::size_t name_at = 17;  // the fixed fields' size
inline constexpr std::size_t payload_length_bytes = 8;
inline constexpr std::size_t limits_bytes = 16;  // with limits_flag, after the name
// The bytes of an item's header and payload length for a name of `name_size`.
constexpr std::size_t size(std::size_t name_size, bool limits = false) noexcept {
  return name_at + name_size + (limits ? limits_bytes : 0) + payload_length_bytes;
}
}  // namespace call_header

inline constexpr std::uint8_t chunk_flag = 1;   // a map() chunk: results prefixed by their count
inline constexpr std::uint8_t blocks_flag = 2;  // arguments sent as blocks (see block_min)
inline constexpr std::uint8_t limits_flag = 4;  // the call's own limits follow its name

// One call's limits (submit_with), as the item carries them; 0: none.
struct call_limits {
  std::uint64_t timeout_us = 0;
  std::uint64_t memory_bytes = 0;
};

// A time limit in whole microseconds, rounded up so that a limit under one
// is not "no limit". The one conversion of seconds for every call limit.
inline std::uint64_t limit_us(std::chrono::duration<double> t) {
  return static_cast<std::uint64_t>(std::ceil(t.count() * 1e6));
}

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

// Appends a call item header (id 0, to be set by set_call_id) and returns
// where the payload length goes.
std::size_t begin_call(std::string& item, std::string_view name, std::uint8_t flags,
                       std::uint32_t count);
// As begin_call, for a call with its own limits (limits_flag).
std::size_t begin_call(std::string& item, std::string_view name, std::uint8_t flags,
                       std::uint32_t count, const call_limits& limits);
// Fills in the payload length: everything appended since begin_call.
void end_call(std::string& item, std::size_t length_at);
// As end_call, for a call whose arguments named `blocks`: marks the item and
// appends, after it, the blocks' bytes and their sizes (u64 each, then a u32
// count). Those stay on the root; the item is sent, then each block.
void end_call_with_blocks(std::string& item, std::size_t length_at,
                          const std::vector<pending_block>& blocks);
// Set the id, or the call count, of the call item that starts at offset 0.
void set_call_id(std::string& item, std::uint64_t id);
void set_call_count(std::string& item, std::uint32_t count);

// What the root reads back from a call buffer it holds (see
// end_call_with_blocks): the item's id, whether it has blocks, and then the
// item's length and where each block lies after it.
std::uint64_t call_id(std::string_view item);
bool has_blocks(std::string_view buffer);
struct block_span {
  std::size_t offset;
  std::size_t size;
};
std::size_t split_blocks(std::string_view buffer, std::vector<block_span>& blocks);

}  // namespace rankpool::detail::wire
