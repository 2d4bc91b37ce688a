// The raw byte codec: values of raw types (arithmetic, enums, std::string,
// vectors of arithmetic) as plain bytes, with no Boost archive. Arithmetic
// values are their bytes; strings and vectors a u64 element count, then the
// elements' bytes (or a block marker: the elements follow as a block).
// Lengths are checked against the bytes present before anything is allocated.
#pragma once

#include "rankpool/detail/block_cache.hpp"
#include "rankpool/detail/call_blocks.hpp"
#include "rankpool/detail/call_item.hpp"
#include "rankpool/detail/raw_value.hpp"

#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace rankpool::detail {

// Appends raw values to a string. Small values are copied into room made
// ahead (a few hundred bytes at a time), not appended one library call
// each: a map() chunk of 64 ints is 64 copies of 4 bytes. The string may
// hold that unused room until the writer is destroyed, so read it only after.
class raw_writer {
 public:
  explicit raw_writer(std::string& out) noexcept : out_(out), used_(out.size()) {}
  raw_writer(const raw_writer&) = delete;
  raw_writer& operator=(const raw_writer&) = delete;
  ~raw_writer() { out_.resize(used_); }  // only ever shrinks: cannot throw

  template <class T>
  static std::size_t size_of(const T& value) {
    if constexpr (is_scalar_raw_v<T>) {
      return sizeof(T);
    } else {
      return sizeof(std::uint64_t) + value.size() * sizeof(typename T::value_type);
    }
  }

  // Bytes as they are: raw values laid out back to back.
  void put_bytes(const void* data, std::size_t size) { append(data, size); }

  template <class T>
  void put(const T& value) {
    if constexpr (is_scalar_raw_v<T>) {
      append(&value, sizeof value);
    } else {
      const std::uint64_t count = value.size();
      append(&count, sizeof count);
      append(value.data(), value.size() * sizeof(typename T::value_type));
    }
  }

 private:
  static constexpr std::size_t small_value = 256;

  void append(const void* data, std::size_t size) {
    if (size == 0) return;     // an empty vector's data() may be null, which memcpy never takes
    if (size > small_value) {  // large: one append, no zero-filled room ahead
      out_.resize(used_);
      out_.append(static_cast<const char*>(data), size);
      used_ = out_.size();
      return;
    }
    if (out_.size() - used_ < size) make_room(size);
    std::memcpy(&out_[used_], data, size);
    used_ += size;
  }

  // Room for this value and about as many bytes as are written already (at
  // least 256, at most 4 KiB), the string's capacity growing as it would
  // anyway; but within a capacity reserved ahead (submit reserves the exact
  // size) if the value fits, so that buffer is never reallocated.
  void make_room(std::size_t size) {
    const std::size_t ahead = std::min<std::size_t>(std::max<std::size_t>(used_, 256), 4096);
    std::size_t target = used_ + size + ahead;
    if (out_.capacity() >= used_ + size) target = std::min(target, out_.capacity());
    out_.resize(target);
  }

  std::string& out_;
  std::size_t used_;
};

class raw_reader {
 public:
  explicit raw_reader(std::string_view in, call_blocks* blocks = nullptr)
      : rest_(in), blocks_(blocks) {}
  std::size_t remaining() const noexcept { return rest_.size(); }
  // The next `size` bytes as they are (throws if fewer remain).
  const char* bytes(std::size_t size) { return take(size); }

  template <class T>
  T get() {
    if constexpr (std::is_same_v<T, bool>) {
      // Copying any byte but 0 or 1 into a bool makes one with no valid value.
      const auto byte = get<std::uint8_t>();
      if (byte > 1) throw std::invalid_argument("rankpool: a bool on the wire is neither 0 nor 1");
      return byte == 1;
    } else if constexpr (is_scalar_raw_v<T>) {
      T value;
      std::memcpy(&value, take(sizeof value), sizeof value);
      return value;
    } else {
      using element = typename T::value_type;
      std::uint64_t count = 0;
      std::memcpy(&count, take(sizeof count), sizeof count);
      if (count & wire::block_marker) return get_block<T>(count & ~wire::block_marker);
      if (count > rest_.size() / sizeof(element)) {
        throw std::length_error("rankpool: a value claims " + std::to_string(count) +
                                " elements but its message holds fewer bytes");
      }
      const char* bytes = take(static_cast<std::size_t>(count) * sizeof(element));
      T value;
      if constexpr (sizeof(element) == 1) {
        const auto* first = reinterpret_cast<const element*>(bytes);
        value.assign(first, first + count);  // one pass: no zero-fill before the copy
      } else if (count > 0) {  // an empty vector's data() may be null, which memcpy never takes
        value.resize(static_cast<std::size_t>(count));
        std::memcpy(value.data(), bytes, static_cast<std::size_t>(count) * sizeof(element));
      }
      return value;
    }
  }

 private:
  const char* take(std::size_t size) {
    if (size > rest_.size()) throw std::length_error("rankpool: a value is cut short");
    const char* p = rest_.data();
    rest_.remove_prefix(size);
    return p;
  }

  // A value whose elements follow as a block: received straight into it.
  template <class T>
  T get_block(std::uint64_t count) {
    using element = typename T::value_type;
    if (blocks_ == nullptr) {
      throw std::length_error("rankpool: a value announces a block where none can follow");
    }
    if (count > std::numeric_limits<std::size_t>::max() / 2 / sizeof(element)) {
      throw std::length_error("rankpool: a block claims " + std::to_string(count) + " elements");
    }
    const auto n = static_cast<std::size_t>(count);
    T value = block_cache<T>::instance().take(n);
    blocks_->receive(reinterpret_cast<char*>(value.data()), n * sizeof(element));
    return value;
  }

  std::string_view rest_;
  call_blocks* blocks_;
};

}  // namespace rankpool::detail
