// The wire format between the root and its workers. Every message is a
// sequence of items; each field is little-endian fixed width, and every
// length read from the wire is checked against the bytes that are there
// before anything is allocated or copied.
//
//   call item:   u64 id | u8 flags | u32 count | u32 name length | name | u64 payload length |
//   payload result item: u64 id | u8 status | u64 payload length | payload error payload (status
//   0): str type | str message | str host | i32 rank   (str = u32 length | bytes)
//
// A call item with blocks_flag has raw arguments sent as blocks: such an
// argument is written as its element count with block_marker set, and its
// bytes follow as the root's next messages to that worker (arg_block_tag),
// in argument order. Such a call travels alone in its message.
//
// Result status 1 is a value in the payload; status 2 a value sent as a
// block (see block_min): the payload is its u64 byte count, and the block
// follows as the worker's next message to the root, with block_tag (split
// at max_message_bytes like any message); status 3 an envelope (see
// posted_result_max). An error item (status 0) with id 0 reports that the
// worker's initializer threw.
//
// The payload is a Boost.Serialization binary archive: for a call the
// function object's state (if any) then `count` argument lists; for a result
// the result value (a chunk prefixes a u32 count).
#pragma once

#include "rankpool/detail/framing.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rankpool::detail::wire {

// MPI tags on the executor's private communicator.
enum tag : int {
  call_tag = 1,       // root -> worker: call items
  result_tag = 2,     // worker -> root: result items
  stop_tag = 3,       // root -> worker: leave the worker loop
  part_tag = 5,       // a leading part of a message split at max_message_bytes
  block_tag = 6,      // worker -> root: a result's block, after its result item
  arg_block_tag = 7,  // root -> worker: an argument's block, after its call's message
  large_tag = 8,      // worker -> root: a message announced by an envelope
};

// The root keeps one receive posted per worker for result_tag messages of
// at most this many bytes (see posted_receives). A worker sends a larger
// message (or one over max_message_bytes) as an envelope, a result item with
// id 0 and status 3 whose payload is the u64 size of the message, which
// follows with large_tag (split into parts as usual).
inline constexpr std::size_t posted_result_max = 8192;

struct call_item {
  std::uint64_t id = 0;
  std::uint8_t flags = 0;
  std::uint32_t count = 1;
  std::string_view name;
  std::string_view payload;
};

// A result item's status byte.
enum result_status : std::uint8_t {
  status_error = 0,     // payload: an error record
  status_value = 1,     // payload: the value
  status_block = 2,     // payload: u64 size of the value's block, which follows
  status_envelope = 3,  // id 0; payload: u64 size of the message that follows
};

struct result_item {
  std::uint64_t id = 0;
  bool ok = true;
  std::string_view payload;
  bool block = false;         // the value follows as a block of `follows` bytes
  bool envelope = false;      // a message of `follows` bytes follows (id 0)
  std::uint64_t follows = 0;  // (read from the payload)
};

// The envelope that announces a message of `size` bytes.
std::string encode_envelope(std::uint64_t size);

struct error_info {
  std::string type_name;
  std::string message;
  std::string host;
  std::int32_t rank = -1;
};

class decode_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void append_call(std::string& message, const call_item& item);
// A call buffer on the root (see end_call_with_blocks): whether its item has
// blocks, and then the item's length and where each block lies after it.
struct block_span {
  std::size_t offset;
  std::size_t size;
};
bool has_blocks(std::string_view buffer);
std::size_t split_blocks(std::string_view buffer, std::vector<block_span>& blocks);
void append_result(std::string& message, const result_item& item);
// As begin_call/end_call for results: a result item whose payload is
// appended in place; begin_result returns where its length goes.
std::size_t begin_result(std::string& message, std::uint64_t id, bool ok);
void end_result(std::string& message, std::size_t length_at);
// Turns the result item begun at length_at (with nothing appended yet) into
// one announcing a block of `bytes`, and ends it.
void end_block_result(std::string& message, std::size_t length_at, std::uint64_t bytes);
std::string encode_error(const error_info& error);
// The id of the call item at the start of `item`.
std::uint64_t call_id(std::string_view item);

// Reads items one at a time from a message; throws decode_error on anything malformed.
class reader {
 public:
  explicit reader(std::string_view message) : rest_(message) {}
  bool empty() const noexcept { return rest_.empty(); }
  call_item next_call();
  result_item next_result();

 private:
  friend error_info decode_error_info(std::string_view payload);
  friend std::size_t split_blocks(std::string_view buffer, std::vector<block_span>& blocks);
  std::uint64_t u64();
  std::uint32_t u32();
  std::uint8_t u8();
  std::string_view bytes(std::uint64_t size);

  std::string_view rest_;
};

error_info decode_error_info(std::string_view payload);

}  // namespace rankpool::detail::wire
