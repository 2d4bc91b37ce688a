// Message framing between the root and its workers: which items a message
// holds, the MPI tags they travel with, and the reader that takes them apart.
// Every field is little-endian fixed width, and every length read from the
// wire is checked against the bytes that are there before anything is
// allocated or copied.
//
// clang-format off
//   message:      item item ...   (a call message holds call items, a result message result items)
//   call item:    see rankpool/detail/call_item.hpp, which owns its layout
//   result item:  u64 id | u8 status | u64 payload length | payload
//   error record: str type | str message | str host | i32 rank      (str = u32 length | bytes)
//                 [| i32 signal | i32 exit code]                   (a call process that died)
// clang-format on
//
// A call item with blocks_flag has raw arguments sent as blocks: such an
// argument is written as its element count with block_marker set, and its
// bytes follow as the root's next messages to that worker (arg_block_tag),
// in argument order. Such a call travels alone in its message.
//
// A result item's status (result_status) says what its payload is: an error
// record, the value, the u64 byte count of a value sent as a block (which
// follows as the worker's next message to the root, with block_tag, split at
// max_message_bytes like any message), or an envelope (see
// posted_result_max). An error item with id 0 reports that the worker's
// initializer threw.
//
// A call's payload holds the function object's state (if any) then `count`
// argument lists; a result's payload the result value (a chunk prefixes a u32
// count): see rankpool/detail/value_codec.hpp.
#pragma once

#include "rankpool/detail/call_item.hpp"
#include "wire/tags.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rankpool::detail::wire {

// The error types a worker reports for an isolated call it stopped or lost
// (see call_process.hpp); the root makes them the matching exceptions, and
// a terminated call's future ends cancelled.
inline constexpr std::string_view crashed_type = "rankpool::worker_crashed";
inline constexpr std::string_view timed_out_type = "rankpool::call_timed_out";
inline constexpr std::string_view terminated_type = "rankpool::terminated";

// The root keeps one receive posted per worker for result_tag messages of
// at most this many bytes (see posted_receives). A worker sends a larger
// message (or one over max_message_bytes) as an envelope, a result item with
// id 0 and status 3 whose payload is the u64 size of the message, which
// follows with large_tag (split into parts as usual).
inline constexpr std::size_t posted_result_max = 8192;

// A call item read out of a message (reader::next_call): views into the
// message's bytes, valid while the message is. The encoded item itself is a
// "call item" (rankpool/detail/call_item.hpp owns its layout, call_header).
struct call_view {
  call_view() = default;
  call_view(std::uint64_t id_, std::uint8_t flags_, std::uint32_t count_, std::string_view name_,
            std::string_view payload_)
      : id(id_), flags(flags_), count(count_), name(name_), payload(payload_) {}

  std::uint64_t id = 0;
  std::uint8_t flags = 0;
  std::uint32_t count = 1;
  std::string_view name;
  std::string_view payload;
  call_limits limits;    // with limits_flag
  std::string_view raw;  // the whole item, header to payload's end
};

// The result item's fixed fields: their offsets and size, used by
// begin_result and end_announcing (the reader takes them in this order).
namespace result_header {
inline constexpr std::size_t id_at = 0;
inline constexpr std::size_t status_at = 8;
inline constexpr std::size_t payload_length_at = 9;
inline constexpr std::size_t size = 17;
}  // namespace result_header

// A result item's status byte: what its payload holds.
enum class result_status : std::uint8_t {
  error = 0,     // an error record
  value = 1,     // the value
  block = 2,     // u64 size of the value's block, which follows
  envelope = 3,  // id 0; u64 size of the message that follows
};

struct result_item {
  std::uint64_t id = 0;
  result_status status = result_status::value;
  std::string_view payload;
  std::uint64_t follows = 0;  // block, envelope: the size read from the payload

  bool ok() const noexcept { return status != result_status::error; }
};

// The envelope that announces a message of `size` bytes.
std::string encode_envelope(std::uint64_t size);

struct error_info {
  std::string type_name;
  std::string message;
  std::string host;
  std::int32_t rank = -1;
  bool died = false;  // a call process died: the two fields below travel too
  std::int32_t signal = 0;
  std::int32_t exit_code = 0;
};

class decode_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends an error item for call `id`.
void append_error(std::string& message, std::uint64_t id, const error_info& error);
// As begin_call/end_call for results: a result item whose payload is
// appended in place; begin_result returns where its length goes.
std::size_t begin_result(std::string& message, std::uint64_t id, bool ok);
void end_result(std::string& message, std::size_t length_at);
// Turns the result item begun at length_at (with nothing appended yet) into
// one announcing a block of `bytes`, and ends it.
void end_block_result(std::string& message, std::size_t length_at, std::uint64_t bytes);
std::string encode_error(const error_info& error);

// Reads items one at a time from a message; throws decode_error on anything malformed.
class reader {
 public:
  explicit reader(std::string_view message) : rest_(message) {}
  bool empty() const noexcept { return rest_.empty(); }
  call_view next_call();
  result_item next_result();

 private:
  friend error_info decode_error_info(std::string_view payload);
  std::uint64_t u64();
  std::uint32_t u32();
  std::uint8_t u8();
  std::string_view bytes(std::uint64_t size);

  std::string_view rest_;
};

error_info decode_error_info(std::string_view payload);

}  // namespace rankpool::detail::wire
