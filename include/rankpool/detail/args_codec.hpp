// A call's arguments <-> bytes: args_writer encodes the function object's
// state (if any) and argument lists converted to the callable's parameter
// types; args_reader decodes them on the worker. Raw when the callable is a
// function whose parameters are all raw, else one Boost archive per call.
#pragma once

#include "rankpool/detail/archive.hpp"
#include "rankpool/detail/block_cache.hpp"
#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/call_blocks.hpp"
#include "rankpool/detail/call_item.hpp"
#include "rankpool/detail/raw_codec.hpp"
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

}  // namespace rankpool::detail
