#include "codec.hpp"

#include <cstring>

namespace rankpool::detail::wire {
namespace {

// Little-endian fixed-width fields: one memcpy on a little-endian host (every
// platform rankpool runs on), a byte loop elsewhere.
constexpr bool little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

template <class T>
void store(char* at, T value) {
  if constexpr (little_endian) {
    std::memcpy(at, &value, sizeof value);
  } else {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      at[i] = static_cast<char>((static_cast<std::uint64_t>(value) >> (8 * i)) & 0xff);
    }
  }
}

template <class T>
T load(const char* at) {
  T value = 0;
  if constexpr (little_endian) {
    std::memcpy(&value, at, sizeof value);
  } else {
    for (std::size_t i = sizeof(T); i-- > 0;) {
      value = static_cast<T>((static_cast<std::uint64_t>(value) << 8) |
                             static_cast<unsigned char>(at[i]));
    }
  }
  return value;
}

template <class T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  store(bytes, value);
  out.append(bytes, sizeof(T));
}

void put_str32(std::string& out, std::string_view s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

void patch_u64(std::string& out, std::size_t at, std::uint64_t value) {
  store(&out[at], value);
}

}  // namespace

std::size_t begin_call(std::string& item, std::string_view name, std::uint8_t flags,
                       std::uint32_t count) {
  if (name.size() > UINT32_MAX) throw std::length_error("rankpool: callable name too long");
  // The fixed fields in one append, the name in another (a map() of many
  // small chunks writes a header per chunk).
  char head[17];
  store<std::uint64_t>(head, 0);
  store(head + 8, flags);
  store(head + 9, count);
  store(head + 13, static_cast<std::uint32_t>(name.size()));
  item.append(head, sizeof head);
  item.append(name);
  const std::size_t length_at = item.size();
  put<std::uint64_t>(item, 0);
  return length_at;
}

void end_call(std::string& item, std::size_t length_at) {
  patch_u64(item, length_at, item.size() - length_at - 8);
}

void end_call_with_blocks(std::string& item, std::size_t length_at,
                          const std::vector<pending_block>& blocks) {
  end_call(item, length_at);
  item[8] = static_cast<char>(item[8] | blocks_flag);
  for (const auto& b : blocks) item.append(static_cast<const char*>(b.data), b.size);
  for (const auto& b : blocks) put<std::uint64_t>(item, b.size);
  put<std::uint32_t>(item, static_cast<std::uint32_t>(blocks.size()));
}

bool has_blocks(std::string_view buffer) {
  return buffer.size() > 8 && (static_cast<std::uint8_t>(buffer[8]) & blocks_flag) != 0;
}

std::size_t split_blocks(std::string_view buffer, std::vector<block_span>& blocks) {
  blocks.clear();
  reader tail(buffer.substr(buffer.size() - 4));
  const std::uint32_t count = tail.u32();
  std::size_t end = buffer.size() - 4 - std::size_t{8} * count;
  reader sizes(buffer.substr(end, std::size_t{8} * count));
  std::size_t total = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto size = static_cast<std::size_t>(sizes.u64());
    blocks.push_back({total, size});
    total += size;
  }
  const std::size_t item_size = end - total;
  for (auto& b : blocks) b.offset += item_size;
  return item_size;
}

void set_call_id(std::string& item, std::uint64_t id) {
  patch_u64(item, 0, id);
}

void set_call_count(std::string& item, std::uint32_t count) {
  store(&item[9], count);
}

std::size_t begin_result(std::string& message, std::uint64_t id, bool ok) {
  char head[17];
  store(head, id);
  store<std::uint8_t>(head + 8, ok ? status_value : status_error);
  store<std::uint64_t>(head + 9, 0);
  message.append(head, sizeof head);
  return message.size() - 8;
}

void end_result(std::string& message, std::size_t length_at) {
  patch_u64(message, length_at, message.size() - length_at - 8);
}

// Ends the result item begun at length_at (nothing appended yet) as one that
// announces `bytes` to follow: a block or a whole message.
static void end_announcing(std::string& message, std::size_t length_at, std::uint8_t status,
                           std::uint64_t bytes) {
  message[length_at - 1] = static_cast<char>(status);  // the status byte
  put(message, bytes);
  end_result(message, length_at);
}

void end_block_result(std::string& message, std::size_t length_at, std::uint64_t bytes) {
  end_announcing(message, length_at, status_block, bytes);
}

void append_call(std::string& message, const call_item& item) {
  if (item.name.size() > UINT32_MAX) throw std::length_error("rankpool: callable name too long");
  put(message, item.id);
  put(message, item.flags);
  put(message, item.count);
  put_str32(message, item.name);
  put<std::uint64_t>(message, item.payload.size());
  message.append(item.payload);
}

void append_result(std::string& message, const result_item& item) {
  put(message, item.id);
  put<std::uint8_t>(message, item.ok ? status_value : status_error);
  put<std::uint64_t>(message, item.payload.size());
  message.append(item.payload);
}

std::string encode_envelope(std::uint64_t size) {
  std::string out;
  end_announcing(out, begin_result(out, 0, true), status_envelope, size);
  return out;
}

std::string encode_error(const error_info& error) {
  std::string out;
  put_str32(out, error.type_name);
  put_str32(out, error.message);
  put_str32(out, error.host);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(error.rank));
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

call_item reader::next_call() {
  call_item item;
  item.id = u64();
  item.flags = u8();
  item.count = u32();
  item.name = bytes(u32());
  item.payload = bytes(u64());
  if ((item.flags & ~(chunk_flag | blocks_flag)) ||
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
  if (status > status_envelope) {
    throw decode_error("rankpool: result item with an invalid status byte");
  }
  item.ok = status != status_error;
  item.block = status == status_block;
  item.envelope = status == status_envelope;
  item.payload = bytes(u64());
  if (item.block || item.envelope) {
    if (item.payload.size() != 8) {
      throw decode_error("rankpool: a block or message is announced with a malformed size");
    }
    item.follows = reader(item.payload).u64();
  }
  return item;
}

std::uint64_t call_id(std::string_view item) {
  if (item.size() < 8) throw decode_error("rankpool: a call item shorter than its id");
  return load<std::uint64_t>(item.data());
}

error_info decode_error_info(std::string_view payload) {
  reader r(payload);
  error_info e;
  e.type_name = std::string(r.bytes(r.u32()));
  e.message = std::string(r.bytes(r.u32()));
  e.host = std::string(r.bytes(r.u32()));
  e.rank = static_cast<std::int32_t>(r.u32());
  if (!r.empty()) throw decode_error("rankpool: trailing bytes after an error record");
  return e;
}

}  // namespace rankpool::detail::wire
