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

namespace rankpool::detail::wire {

inline constexpr std::uint8_t chunk_flag = 1;  // a map() chunk: results prefixed by their count

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
