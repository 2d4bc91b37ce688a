// Whole call and result items for tests that forge messages: written by the
// library's own encoders (begin_call/end_call, begin_result/end_result), so
// tests and the executor cannot disagree on the layout.
#pragma once

#include "wire/wire.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace test_support {

inline void append_call(std::string& message, const rankpool::detail::wire::call_view& item) {
  namespace wire = rankpool::detail::wire;
  std::string one;
  const auto length_at = wire::begin_call(one, item.name, item.flags, item.count);
  one.append(item.payload);
  wire::end_call(one, length_at);
  wire::set_call_id(one, item.id);
  message += one;
}

// The fields of a plain result item (a value or an error record).
struct result_fields {
  std::uint64_t id;
  bool ok;
  std::string_view payload;
};

// Appends a result item, written by the library's own encoder (begin_result/end_result).
inline void append_result(std::string& message, const result_fields& item) {
  namespace wire = rankpool::detail::wire;
  const auto length_at = wire::begin_result(message, item.id, item.ok);
  message.append(item.payload);
  wire::end_result(message, length_at);
}

}  // namespace test_support
