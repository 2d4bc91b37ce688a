// Values <-> bytes: how call arguments and results become bytes. Values of "raw" types
// (arithmetic, enums, std::string, vectors of arithmetic) are copied as
// plain bytes with no Boost archive, whose set-up alone costs about a
// microsecond per archive; everything else goes through one Boost binary
// archive. The choice depends only on the types, so the root and the
// worker always agree:
//   arguments: raw if the callable is a function and all its parameters are raw;
//   a result:  raw if its type is raw;
//   a chunk:   a u32 count, then the results (raw, or one archive for all).
// Raw layout: arithmetic values as their bytes; strings and vectors as a u64
// element count, then the elements' bytes. Lengths are checked against the
// bytes present before anything is allocated.
#pragma once

#include "rankpool/detail/archive.hpp"
#include "rankpool/detail/block_cache.hpp"
#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/call_item.hpp"
#include "rankpool/detail/map_chunk.hpp"
#include "rankpool/detail/raw_value.hpp"
#include "rankpool/detail/traits.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

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

// A large contiguous result taken whole out of a call (see wire::block_min),
// to be sent straight from its own memory; `owner` keeps it alive.
struct result_block {
  std::shared_ptr<const void> owner;
  const void* data = nullptr;
  std::size_t bytes = 0;
};

// How one call on a worker exchanges blocks with the root: its arguments'
// blocks come in through receive(), and a large result is moved into
// `result` to be sent after the reply. Local threads and map() chunks have
// none: their values always travel inside the messages.
class call_blocks {
 public:
  // Receives the call's next argument block, of `bytes`, into `into`.
  virtual void receive(char* into, std::size_t bytes) = 0;
  result_block result;

 protected:
  ~call_blocks() = default;
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

template <class Tuple>
struct all_raw;
template <class... P>
struct all_raw<std::tuple<P...>> : std::bool_constant<(is_raw_v<P> && ...)> {};

// Whether a callable's arguments travel raw (see the top of this file).
template <class F>
inline constexpr bool raw_arguments_v =
    !callable_traits<F>::is_object && all_raw<typename callable_traits<F>::params>::value;

template <class Tuple>
struct decoded_args;
template <class... P>
struct decoded_args<std::tuple<P...>> {
  using type = std::tuple<std::decay_t<P>...>;
};

// Appends the state of F (function objects) and then any number of argument
// lists to `out`, each converted to F's own parameter types.
template <class F>
class args_writer {
  using traits = callable_traits<F>;
  static constexpr bool raw = raw_arguments_v<F>;

 public:
  // With `blocks`, large contiguous arguments the caller passes as they are
  // (already of the parameter's type) are not copied here but listed there,
  // to be sent as blocks.
  args_writer(std::string& out, const F& f, std::vector<wire::pending_block>* blocks = nullptr)
      : out_(out), blocks_(blocks) {
    if constexpr (raw) {
      raw_.emplace(out_);
    } else {
      archive_.emplace(out_);
      if constexpr (traits::is_object) archive_->archive() << f;
    }
  }

  template <class... A>
  void add(A&&... args) {
    add_as(static_cast<typename traits::params*>(nullptr), std::forward<A>(args)...);
  }

  // n argument lists of one scalar each, the callable's only parameter
  // type, as their bytes (what n add() calls would write): see bulk_inputs_v.
  template <class T>
  void add_scalars(const T* values, std::size_t n) {
    raw_->put_bytes(values, n * sizeof(T));
  }

  // The bytes add(args...) will append when they are known without encoding
  // (raw arguments already of their parameter types), else 0.
  template <class... A>
  static std::size_t size_hint(const A&... args) {
    return size_hint_as(static_cast<typename traits::params*>(nullptr), args...);
  }

 private:
  template <class... P, class... A>
  void add_as(std::tuple<P...>*, A&&... args) {
    static_assert(sizeof...(P) == sizeof...(A),
                  "rankpool: wrong number of arguments for the submitted callable");
    if constexpr (sizeof...(P) == sizeof...(A)) (save<P>(std::forward<A>(args)), ...);
  }

  template <class... P, class... A>
  static std::size_t size_hint_as(std::tuple<P...>*, const A&... args) {
    if constexpr (raw && sizeof...(P) == sizeof...(A)) {
      return (raw_size<P>(args) + ... + 0);
    } else {
      return 0;
    }
  }

  template <class P, class A>
  static std::size_t raw_size(const A& arg) {
    using value_t = std::decay_t<P>;
    if constexpr (std::is_same_v<std::decay_t<A>, value_t>) {
      std::size_t size = raw_writer::size_of(arg);
      // A block's bytes follow the item, with its size in a table (u64 each, u32 count).
      if (is_contiguous_raw_v<value_t> && size >= wire::block_min) size += 12;
      return size;
    } else {
      return 0;  // converted first: the reserve is only a hint
    }
  }

  template <class P, class A>
  void save(A&& arg) {
    using value_t = std::decay_t<P>;
    if constexpr (std::is_same_v<std::decay_t<A>, value_t>) {
      // No copy when the caller already has the parameter type; the value
      // lives until the call is encoded, so it may be listed as a block.
      if constexpr (raw && is_contiguous_raw_v<value_t>) {
        if (put_block(arg)) return;
      }
      put(arg);
    } else {
      static_assert(std::is_constructible_v<value_t, A&&>,
                    "rankpool: an argument cannot be converted to the callable's parameter type");
      const value_t converted(std::forward<A>(arg));
      put(converted);
    }
  }

  template <class V>
  void put(const V& value) {
    if constexpr (raw) {
      raw_->put(value);
    } else {
      archive_->archive() << value;
    }
  }

  template <class V>
  bool put_block(const V& value) {
    const std::size_t bytes = value.size() * sizeof(typename V::value_type);
    if (blocks_ == nullptr || bytes < wire::block_min) return false;
    raw_->put(static_cast<std::uint64_t>(value.size()) | wire::block_marker);
    blocks_->push_back({value.data(), bytes});
    return true;
  }

  std::string& out_;
  std::vector<wire::pending_block>* blocks_;
  std::optional<raw_writer> raw_;  // one of the two, by the callable's type
  std::optional<oarchive_buffer> archive_;
};

// map() of a function whose one parameter is a raw scalar type (not bool)
// over a contiguous range of exactly that type (std::vector, std::array, C
// array): a chunk's arguments are then the inputs' bytes, copied at once.
template <class F, class Range, class = void>
struct bulk_inputs : std::false_type {};
template <class F, class Range>
struct bulk_inputs<F, Range,
                   std::void_t<decltype(std::data(std::declval<const Range&>())),
                               decltype(std::size(std::declval<const Range&>()))>> {
  using params = typename callable_traits<F>::params;
  using element =
      std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const Range&>()))>>;
  static constexpr bool value = [] {
    if constexpr (raw_arguments_v<F> && std::tuple_size_v<params> == 1) {
      using P = std::decay_t<std::tuple_element_t<0, params>>;
      using iterator = decltype(std::begin(std::declval<const Range&>()));
      return std::is_same_v<P, element> && is_scalar_raw_v<P> && !std::is_same_v<P, bool> &&
             std::is_base_of_v<std::random_access_iterator_tag,
                               typename std::iterator_traits<iterator>::iterator_category>;
    } else {
      return false;
    }
  }();
};
template <class F, class Range>
inline constexpr bool bulk_inputs_v = bulk_inputs<F, Range>::value;
struct bulk_save {};  // map_impl's marker for the bulk path

template <class F, class... A>
void save_call(std::string& out, const F& f, A&&... args) {
  args_writer<F>(out, f).add(std::forward<A>(args)...);
}

// Reads what args_writer<F> wrote: the function object (if any), then argument lists.
template <class F>
class args_reader {
  using traits = callable_traits<F>;
  static constexpr bool raw = raw_arguments_v<F>;

 public:
  using args_t = typename decoded_args<typename traits::params>::type;

  explicit args_reader(std::string_view in, call_blocks* blocks = nullptr) : raw_(in, blocks) {
    if constexpr (!raw) archive_.emplace(in.data(), in.size());
  }

  F object() {
    F f;
    archive_->archive() >> f;
    return f;
  }

  // After the last argument list: bytes left over mean the message was not
  // what the callable's types say (garbled, or from another build).
  void expect_end() const {
    const std::size_t left = raw ? raw_.remaining() : archive_->remaining();
    if (left != 0) {
      throw std::length_error("rankpool: " + std::to_string(left) +
                              " bytes left over after the arguments");
    }
  }

  // n argument lists of one scalar each, as their bytes: see scalar_chunk_v.
  const char* scalars(std::size_t n, std::size_t size) {
    if (n > raw_.remaining() / size) {
      throw std::length_error("rankpool: a chunk claims " + std::to_string(n) +
                              " arguments but its message holds fewer bytes");
    }
    return raw_.bytes(n * size);
  }

  args_t next() {
    args_t args;
    std::apply(
        [this](auto&... a) { ((a = this->template load<std::decay_t<decltype(a)>>()), ...); },
        args);
    return args;
  }

 private:
  template <class V>
  V load() {
    if constexpr (raw) {
      return raw_.get<V>();
    } else {
      V value;
      archive_->archive() >> value;
      return value;
    }
  }

  raw_reader raw_;
  std::optional<iarchive_buffer> archive_;
};

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

}  // namespace rankpool::detail
