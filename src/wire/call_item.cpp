// Writing call items, and reading back the few fields the root needs from
// the ones it holds. The layout is call_item.hpp's (call_header).
#include "rankpool/detail/call_item.hpp"

#include "wire/little_endian.hpp"
#include "wire/wire.hpp"

#include <stdexcept>

namespace rankpool::detail::wire {

std::size_t begin_call(std::string& item, std::string_view name, std::uint8_t flags,
                       std::uint32_t count, const call_limits& limits) {
  begin_call(item, name, static_cast<std::uint8_t>(flags | limits_flag), count);
  // The limits go where the payload length was: it moves after them.
  const std::size_t limits_at = item.size() - call_header::payload_length_bytes;
  item.resize(limits_at);
  put<std::uint64_t>(item, limits.timeout_us);
  put<std::uint64_t>(item, limits.memory_bytes);
  const std::size_t length_at = item.size();
  put<std::uint64_t>(item, 0);
  return length_at;
}

std::size_t begin_call(std::string& item, std::string_view name, std::uint8_t flags,
                       std::uint32_t count) {
  if (name.size() > UINT32_MAX) throw std::length_error("rankpool: callable name too long");
  // The fixed fields in one append, the name in another (a map() of many
  // small chunks writes a header per chunk).
  char head[call_header::name_at];
  store<std::uint64_t>(head + call_header::id_at, 0);
  store(head + call_header::flags_at, flags);
  store(head + call_header::count_at, count);
  store(head + call_header::name_length_at, static_cast<std::uint32_t>(name.size()));
  item.append(head, sizeof head);
  item.append(name);
  const std::size_t length_at = item.size();
  put<std::uint64_t>(item, 0);
  return length_at;
}

void end_call(std::string& item, std::size_t length_at) {
  store<std::uint64_t>(&item[length_at],
                       item.size() - length_at - call_header::payload_length_bytes);
}

void end_call_with_blocks(std::string& item, std::size_t length_at,
                          const std::vector<pending_block>& blocks) {
  end_call(item, length_at);
  item[call_header::flags_at] = static_cast<char>(item[call_header::flags_at] | blocks_flag);
  for (const auto& b : blocks) item.append(static_cast<const char*>(b.data), b.size);
  for (const auto& b : blocks) put<std::uint64_t>(item, b.size);
  put<std::uint32_t>(item, static_cast<std::uint32_t>(blocks.size()));
}

void set_call_id(std::string& item, std::uint64_t id) {
  store(&item[call_header::id_at], id);
}

void set_call_count(std::string& item, std::uint32_t count) {
  store(&item[call_header::count_at], count);
}

std::uint64_t call_id(std::string_view item) {
  if (item.size() < call_header::id_at + 8) {
    throw decode_error("rankpool: a call item shorter than its id");
  }
  return load<std::uint64_t>(item.data() + call_header::id_at);
}

bool has_blocks(std::string_view buffer) {
  return buffer.size() > call_header::flags_at &&
         (static_cast<std::uint8_t>(buffer[call_header::flags_at]) & blocks_flag) != 0;
}

std::size_t split_blocks(std::string_view buffer, std::vector<block_span>& blocks) {
  blocks.clear();
  const auto truncated = [] {
    return decode_error("rankpool: a call buffer too short for its table of blocks");
  };
  if (buffer.size() < 4) throw truncated();
  const std::uint32_t count = load<std::uint32_t>(buffer.data() + buffer.size() - 4);
  if (count > (buffer.size() - 4) / 8) throw truncated();
  const std::size_t end = buffer.size() - 4 - std::size_t{8} * count;
  std::size_t total = 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto size = load<std::uint64_t>(buffer.data() + end + std::size_t{8} * i);
    if (size > end - total) throw truncated();
    blocks.push_back({total, static_cast<std::size_t>(size)});
    total += static_cast<std::size_t>(size);
  }
  const std::size_t item_size = end - total;
  for (auto& b : blocks) b.offset += item_size;
  return item_size;
}

}  // namespace rankpool::detail::wire
