// Little-endian fixed-width fields, as every message of ours writes them:
// one memcpy on a little-endian host (every platform rankpool runs on), a
// byte loop elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace rankpool::detail::wire {

inline constexpr bool little_endian_host = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

template <class T>
void store(char* at, T value) {
  if constexpr (little_endian_host) {
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
  if constexpr (little_endian_host) {
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

}  // namespace rankpool::detail::wire
