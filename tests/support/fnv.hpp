// FNV-1a over bytes: a cheap checksum that notices a lost, changed or
// reordered byte, for tests that compare large values.
#pragma once

#include <cstddef>
#include <cstdint>

namespace test_support {

inline std::uint64_t fnv1a(const void* data, std::size_t size) {
  std::uint64_t h = 14695981039346656037ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace test_support
