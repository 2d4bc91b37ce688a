// Compile-time checks on what may cross the wire, so misuse fails with a
// readable static_assert instead of pages of Boost template errors.
#pragma once

#include "rankpool/detail/archive.hpp"

#include <array>
#include <complex>
#include <deque>
#include <list>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rankpool {

// Specialise to std::true_type for a type that Boost.Serialization handles but
// the detection below cannot see (a private serialize() befriending
// boost::serialization::access, or a free serialize() outside T's namespace).
template <class T, class = void>
struct is_serializable;

namespace detail {

template <class T, class = void>
struct has_member_serialize : std::false_type {};
template <class T>
struct has_member_serialize<
    T, std::void_t<decltype(std::declval<T&>().serialize(std::declval<oarchive&>(), 0u))>>
    : std::true_type {};

// A free serialize(Archive&, T&, unsigned) found through argument-dependent lookup.
template <class T, class = void>
struct has_adl_serialize : std::false_type {};
template <class T>
struct has_adl_serialize<
    T, std::void_t<decltype(serialize(std::declval<oarchive&>(), std::declval<T&>(), 0u))>>
    : std::true_type {};

template <class T>
struct known_serializable
    : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T> ||
                         ((has_member_serialize<T>::value || has_adl_serialize<T>::value) &&
                          !std::is_pointer_v<T>)> {};

template <class... T>
struct all_serializable : std::conjunction<is_serializable<T>...> {};

}  // namespace detail

template <class T, class>
struct is_serializable : detail::known_serializable<T> {};
template <class C, class Tr, class A>
struct is_serializable<std::basic_string<C, Tr, A>> : is_serializable<C> {};
template <class T, class A>
struct is_serializable<std::vector<T, A>> : is_serializable<T> {};
template <class T, class A>
struct is_serializable<std::list<T, A>> : is_serializable<T> {};
template <class T, class A>
struct is_serializable<std::deque<T, A>> : is_serializable<T> {};
template <class T, std::size_t N>
struct is_serializable<std::array<T, N>> : is_serializable<T> {};
template <class T>
struct is_serializable<std::complex<T>> : is_serializable<T> {};
template <class A, class B>
struct is_serializable<std::pair<A, B>> : detail::all_serializable<A, B> {};
template <class K, class C, class A>
struct is_serializable<std::set<K, C, A>> : is_serializable<K> {};
template <class K, class C, class A>
struct is_serializable<std::multiset<K, C, A>> : is_serializable<K> {};
template <class K, class V, class C, class A>
struct is_serializable<std::map<K, V, C, A>> : detail::all_serializable<K, V> {};
template <class K, class V, class C, class A>
struct is_serializable<std::multimap<K, V, C, A>> : detail::all_serializable<K, V> {};
template <class K, class H, class E, class A>
struct is_serializable<std::unordered_set<K, H, E, A>> : is_serializable<K> {};
template <class K, class V, class H, class E, class A>
struct is_serializable<std::unordered_map<K, V, H, E, A>> : detail::all_serializable<K, V> {};

template <class T>
inline constexpr bool is_serializable_v = is_serializable<T>::value;

namespace detail {

// Parameter and result types of a registered callable: a function pointer, or
// a function object with one non-template operator().
template <class F, class = void>
struct callable_traits {
  static constexpr bool valid = false;
};
template <class R, class... P>
struct callable_traits<R (*)(P...)> {
  static constexpr bool valid = true;
  static constexpr bool is_object = false;
  using result = R;
  using params = std::tuple<P...>;
};
template <class R, class... P>
struct callable_traits<R (*)(P...) noexcept> : callable_traits<R (*)(P...)> {};

template <class M>
struct member_call_traits {
  static constexpr bool valid = false;
};
template <class R, class C, class... P>
struct member_call_traits<R (C::*)(P...)> {
  static constexpr bool valid = true;
  static constexpr bool is_object = true;
  using result = R;
  using params = std::tuple<P...>;
};
template <class R, class C, class... P>
struct member_call_traits<R (C::*)(P...) const> : member_call_traits<R (C::*)(P...)> {};
template <class R, class C, class... P>
struct member_call_traits<R (C::*)(P...) noexcept> : member_call_traits<R (C::*)(P...)> {};
template <class R, class C, class... P>
struct member_call_traits<R (C::*)(P...) const noexcept> : member_call_traits<R (C::*)(P...)> {};

template <class F>
struct callable_traits<F,
                       std::enable_if_t<std::is_class_v<F>, std::void_t<decltype(&F::operator())>>>
    : member_call_traits<decltype(&F::operator())> {};

// What calling F returns (F as given to submit(): decayed first).
template <class F>
using result_of_t = typename callable_traits<std::decay_t<F>>::result;

// A parameter is decoded on the worker into a value it owns, so by-value and
// const& parameters work; a non-const reference could never send its changes back.
template <class P>
inline constexpr bool param_ok_v =
    !(std::is_lvalue_reference_v<P> &&
      !std::is_const_v<std::remove_reference_t<P>>)&&!std::is_pointer_v<std::decay_t<P>>;

template <class Tuple>
struct params_check;
template <class... P>
struct params_check<std::tuple<P...>> {
  static constexpr bool no_mutable_refs = (param_ok_v<P> && ...);
  static constexpr bool serializable = (is_serializable_v<std::decay_t<P>> && ...);
  static constexpr bool default_constructible =
      (std::is_default_constructible_v<std::decay_t<P>> && ...);
};

template <class R>
inline constexpr bool result_ok_v = std::is_void_v<R> ||
                                    (is_serializable_v<R> && std::is_default_constructible_v<R> &&
                                     !std::is_reference_v<R>);

// All the rules a registered or submitted callable must satisfy, each with its own message.
template <class F>
constexpr bool check_callable() {
  using traits = callable_traits<F>;
  static_assert(traits::valid,
                "rankpool: a callable must be a function pointer or a function object with "
                "exactly one non-template operator()");
  if constexpr (traits::valid) {
    using check = params_check<typename traits::params>;
    static_assert(check::no_mutable_refs,
                  "rankpool: parameters must be taken by value or by const reference; a "
                  "non-const reference or pointer cannot be sent to another rank");
    static_assert(check::serializable,
                  "rankpool: every parameter type must be serializable with Boost.Serialization "
                  "(give it a serialize() member, or specialise rankpool::is_serializable)");
    static_assert(
        check::default_constructible,
        "rankpool: parameter types must be default-constructible to be decoded on a worker");
    static_assert(result_ok_v<typename traits::result>,
                  "rankpool: the result must be void or a default-constructible, serializable "
                  "value type (give it a serialize() member, or specialise "
                  "rankpool::is_serializable)");
    if constexpr (traits::is_object) {
      static_assert(is_serializable_v<F> && std::is_default_constructible_v<F>,
                    "rankpool: a function object must be default-constructible and serializable "
                    "(a serialize() member), and registered with RANKPOOL_REGISTER_TYPE");
    }
  }
  return true;
}

}  // namespace detail
}  // namespace rankpool
