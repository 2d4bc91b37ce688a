// Which values travel "raw": copied as plain bytes with no Boost archive (see
// value_codec.hpp). Decided by the type alone, so the root and the worker
// always agree. Kept apart from the codec so that the future's state can ask
// without including Boost.Serialization.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

namespace rankpool::detail {

// Enums travel as their bytes (raw) or as an int (Boost); neither can check
// that the value is one the enum can hold, since that depends on its
// enumerators. An enum with a fixed underlying type (every enum class, or
// `enum e : int`) holds any value of that type; one without can be given an
// out-of-range value by a corrupt message, which is undefined behaviour.
template <class T>
struct is_raw : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T>> {};
template <class Tr, class A>
struct is_raw<std::basic_string<char, Tr, A>> : std::true_type {};
// vector<bool> packs bits: it goes through Boost.
template <class T, class A>
struct is_raw<std::vector<T, A>>
    : std::bool_constant<(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) ||
                         std::is_enum_v<T>> {};
template <class T>
inline constexpr bool is_raw_v = is_raw<std::decay_t<T>>::value;

template <class T>
inline constexpr bool is_scalar_raw_v = std::is_arithmetic_v<T> || std::is_enum_v<T>;
// Raw values whose elements lie in one contiguous run (vectors and strings):
// a large one can travel as a block (see wire::block_min).
template <class T>
inline constexpr bool is_contiguous_raw_v = is_raw_v<T> && !is_scalar_raw_v<std::decay_t<T>>;

}  // namespace rankpool::detail
