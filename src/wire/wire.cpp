#include "wire/wire.hpp"

#include "wire/little_endian.hpp"

namespace rankpool::detail::wire {
namespace {

void put_str32(std::string& out, std::string_view s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

}  // namespace

std::size_t begin_result(std::string& message, std::uint64_t id, bool ok) {
  char head[result_header::size];
  store(head + result_header::id_at, id);
  store(head + result_header::status_at,
        static_cast<std::uint8_t>(ok ? result_status::value : result_status::error));
  store<std::uint64_t>(head + result_header::payload_length_at, 0);
  const std::size_t start = message.size();
  message.append(head, sizeof head);
  return start + result_header::payload_length_at;
}

void end_result(std::string& message, std::size_t length_at) {
  store<std::uint64_t>(&message[length_at], message.size() - length_at - 8);
}

// Ends the result item begun at length_at (nothing appended yet) as one that
// announces `bytes` to follow: a block or a whole message.
static void end_announcing(std::string& message, std::size_t length_at, result_status status,
                           std::uint64_t bytes) {
  const std::size_t start = length_at - result_header::payload_length_at;
  message[start + result_header::status_at] = static_cast<char>(status);
  put(message, bytes);
  end_result(message, length_at);
}

void end_block_result(std::string& message, std::size_t length_at, std::uint64_t bytes) {
  end_announcing(message, length_at, result_status::block, bytes);
}

void append_error(std::string& message, std::uint64_t id, const error_info& error) {
  const std::string record = encode_error(error);
  const std::size_t length_at = begin_result(message, id, false);
  message.append(record);
  end_result(message, length_at);
}

std::string encode_envelope(std::uint64_t size) {
  std::string out;
  end_announcing(out, begin_result(out, 0, true), result_status::envelope, size);
  return out;
}

std::string encode_error(const error_info& error) {
  std::string out;
  put_str32(out, error.type_name);
  put_str32(out, error.message);
  put_str32(out, error.host);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(error.rank));
  if (error.died) {
    put<std::uint32_t>(out, static_cast<std::uint32_t>(error.signal));
    put<std::uint32_t>(out, static_cast<std::uint32_t>(error.exit_code));
  }
  return out;
}

std::string_view reader::bytes(std::uint64_t size) {
  if (size > rest_.size()) {
    throw decode_error("rankpool: truncated message (a field claims " + std::to_string(size) +
                       " bytes, " + std::to_string(rest_.size()) + " remain)");
  }
  const auto out = rest_.substr(0, static_cast<std::size_t>(size));
  rest_.remove_prefix(static_cast<std::size_t>(size));
  return out;
}

std::uint64_t reader::u64() {
  return load<std::uint64_t>(bytes(8).data());
}

std::uint32_t reader::u32() {
  return load<std::uint32_t>(bytes(4).data());
}

std::uint8_t reader::u8() {
  return static_cast<std::uint8_t>(bytes(1)[0]);
}

call_view reader::next_call() {
  // The fixed fields at call_header's offsets, then the name and the payload.
  const char* head = bytes(call_header::name_at).data();
  call_view item;
  const std::size_t before = rest_.size() + call_header::name_at;
  item.id = load<std::uint64_t>(head + call_header::id_at);
  item.flags = load<std::uint8_t>(head + call_header::flags_at);
  item.count = load<std::uint32_t>(head + call_header::count_at);
  item.name = bytes(load<std::uint32_t>(head + call_header::name_length_at));
  if (item.flags & limits_flag) {
    item.limits.timeout_us = u64();
    item.limits.memory_bytes = u64();
  }
  item.payload = bytes(u64());
  item.raw = std::string_view(head, before - rest_.size());
  if ((item.flags & ~(chunk_flag | blocks_flag | limits_flag)) ||
      (item.flags & chunk_flag && item.flags & blocks_flag)) {
    throw decode_error("rankpool: call item with unknown flags");
  }
  if (item.count == 0 || (!(item.flags & chunk_flag) && item.count != 1)) {
    throw decode_error("rankpool: call item with an invalid call count");
  }
  return item;
}

result_item reader::next_result() {
  result_item item;
  item.id = u64();
  const auto status = u8();
  if (status > static_cast<std::uint8_t>(result_status::envelope)) {
    throw decode_error("rankpool: result item with an invalid status byte");
  }
  item.status = static_cast<result_status>(status);
  item.payload = bytes(u64());
  if (item.status == result_status::block || item.status == result_status::envelope) {
    if (item.payload.size() != 8) {
      throw decode_error("rankpool: a block or message is announced with a malformed size");
    }
    item.follows = reader(item.payload).u64();
  }
  return item;
}

error_info decode_error_info(std::string_view payload) {
  reader r(payload);
  error_info e;
  e.type_name = std::string(r.bytes(r.u32()));
  e.message = std::string(r.bytes(r.u32()));
  e.host = std::string(r.bytes(r.u32()));
  e.rank = static_cast<std::int32_t>(r.u32());
  if (r.rest_.size() == 8) {
    e.died = true;
    e.signal = static_cast<std::int32_t>(r.u32());
    e.exit_code = static_cast<std::int32_t>(r.u32());
  }
  if (!r.empty()) throw decode_error("rankpool: trailing bytes after an error record");
  return e;
}

}  // namespace rankpool::detail::wire
