// A call's result <-> bytes: result_writer on the worker, decode_result on
// the root. Raw when the result type is raw, else one Boost archive; a
// map() chunk is a u32 count, then its results (raw, or one archive for all).
#pragma once

#include "rankpool/detail/archive.hpp"
#include "rankpool/detail/map_chunk.hpp"
#include "rankpool/detail/raw_codec.hpp"
#include "rankpool/detail/raw_value.hpp"
#include "rankpool/detail/state.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace rankpool::detail {

// Appends results of type R to `out`: raw, or through one archive made on first use.
template <class R>
class result_writer {
 public:
  explicit result_writer(std::string& out) : out_(out) {
    if constexpr (is_raw_v<R>) raw_.emplace(out_);
  }
  void put(const R& value) {
    if constexpr (is_raw_v<R>) {
      raw_->put(value);
    } else {
      if (!archive_) archive_.emplace(out_);
      archive_->archive() << value;
    }
  }

 private:
  std::string& out_;
  std::optional<raw_writer> raw_;
  std::optional<oarchive_buffer> archive_;
};

template <class R>
void encode_result(std::string& out, const R& value) {
  result_writer<R>(out).put(value);
}

template <class T>
struct result_decoder {
  static T decode(std::string_view in) {
    if constexpr (is_raw_v<T>) {
      return raw_reader(in).get<T>();
    } else {
      iarchive_buffer archive(in.data(), in.size());
      T value;
      archive.archive() >> value;
      return value;
    }
  }
};

template <class R>
struct result_decoder<chunk<R>> {
  static chunk<R> decode(std::string_view in) {
    raw_reader reader(in);
    const auto count = reader.get<std::uint32_t>();
    chunk<R> c;
    if constexpr (is_scalar_raw_v<R> && !std::is_same_v<R, bool>) {
      // Scalars lie back to back: one bounds check and one copy (bools are
      // read one by one, since each byte must be checked).
      if (count > reader.remaining() / sizeof(R)) {
        throw std::length_error("rankpool: a chunk claims " + std::to_string(count) +
                                " results but its message holds fewer bytes");
      }
      c.values.resize(count);
      if (count > 0) {  // an empty vector's data() may be null, which memcpy never takes
        std::memcpy(c.values.data(), in.data() + (in.size() - reader.remaining()),
                    std::size_t{count} * sizeof(R));
      }
    } else if constexpr (is_raw_v<R>) {
      c.values.reserve(std::min<std::size_t>(count, reader.remaining()));
      for (std::uint32_t i = 0; i < count; ++i) c.values.push_back(reader.get<R>());
    } else {
      const auto rest = in.substr(in.size() - reader.remaining());
      iarchive_buffer archive(rest.data(), rest.size());
      for (std::uint32_t i = 0; i < count; ++i) {  // grows as values decode: count is not trusted
        R value;
        archive.archive() >> value;
        c.values.push_back(std::move(value));
      }
    }
    return c;
  }
};

template <class T>
T decode_result(std::string_view in) {
  return result_decoder<T>::decode(in);
}

// A pending call's shared state, which decodes its result with decode_result.
template <class R>
std::shared_ptr<state<R>> make_state(std::weak_ptr<driver> drv = {}) {
  if constexpr (std::is_void_v<R>) {
    return std::make_shared<state<void>>(std::move(drv));
  } else {
    return std::make_shared<state<R>>(std::move(drv), &decode_result<R>);
  }
}

}  // namespace rankpool::detail
