// Name <-> callable registry. Every rank runs the same program, so callables
// travel by name; RANKPOOL_REGISTER fills this table during static
// initialisation and it is read-only afterwards (no locking needed).
#pragma once

#include "rankpool/detail/archive.hpp"
#include "rankpool/detail/traits.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <typeindex>
#include <typeinfo>
#include <utility>

namespace rankpool::detail {

// Which step of a call was running when it threw, for the error message.
enum class call_phase { decoding, calling, encoding };

// Runs `count` calls: reads the callable's state (function objects only) once,
// then `count` argument lists from `in`, writing each result to `out`.
using invoker_fn = void (*)(iarchive& in, oarchive& out, std::uint32_t count, call_phase& phase);
using function_key = void (*)();

struct callable_entry {
  std::string name;
  invoker_fn invoke = nullptr;
};

// Implemented in src/registry.cpp. Registration errors (one name for two
// callables) throw std::logic_error, which ends a program at start-up with the name.
void register_function(const char* name, function_key key, invoker_fn invoke);
void register_type(const char* name, const std::type_info& type, invoker_fn invoke);
const std::string* registered_name(function_key key) noexcept;
const std::string* registered_name(const std::type_info& type) noexcept;
const callable_entry* find_callable(std::string_view name) noexcept;

template <class Tuple>
struct decoded_args;
template <class... P>
struct decoded_args<std::tuple<P...>> {
  using type = std::tuple<std::decay_t<P>...>;
};

template <class Tuple>
Tuple load_args(iarchive& in) {
  Tuple args;
  std::apply([&in](auto&... a) { ((in >> a), ...); }, args);
  return args;
}

template <class R, class Call>
void call_and_save(Call&& call, oarchive& out, call_phase& phase) {
  phase = call_phase::calling;
  if constexpr (std::is_void_v<R>) {
    call();
  } else {
    const R result = call();
    phase = call_phase::encoding;
    out << result;
  }
  phase = call_phase::decoding;
}

template <auto F>
void invoke_function(iarchive& in, oarchive& out, std::uint32_t count, call_phase& phase) {
  using traits = callable_traits<decltype(F)>;
  using args_t = typename decoded_args<typename traits::params>::type;
  for (std::uint32_t i = 0; i < count; ++i) {
    auto args = load_args<args_t>(in);
    call_and_save<typename traits::result>([&] { return std::apply(F, std::move(args)); }, out,
                                           phase);
  }
}

template <class T>
void invoke_object(iarchive& in, oarchive& out, std::uint32_t count, call_phase& phase) {
  using traits = callable_traits<T>;
  using args_t = typename decoded_args<typename traits::params>::type;
  T object;
  in >> object;
  for (std::uint32_t i = 0; i < count; ++i) {
    auto args = load_args<args_t>(in);
    call_and_save<typename traits::result>([&] { return std::apply(object, std::move(args)); }, out,
                                           phase);
  }
}

template <auto F>
struct function_registrar {
  explicit function_registrar(const char* name) {
    static_assert(check_callable<decltype(F)>());
    register_function(name, reinterpret_cast<function_key>(F), &invoke_function<F>);
  }
};

template <class T>
struct type_registrar {
  explicit type_registrar(const char* name) {
    static_assert(check_callable<T>());
    register_type(name, typeid(T), &invoke_object<T>);
  }
};

}  // namespace rankpool::detail

#define RANKPOOL_DETAIL_CONCAT2(a, b) a##b
#define RANKPOOL_DETAIL_CONCAT(a, b) RANKPOOL_DETAIL_CONCAT2(a, b)
#define RANKPOOL_DETAIL_UNIQUE(prefix) RANKPOOL_DETAIL_CONCAT(prefix, __COUNTER__)

// Register a function under an explicit name: RANKPOOL_REGISTER_AS(static_cast<double
// (*)(int)>(&f), "f_int"); Use at namespace scope, followed by a semicolon.
#define RANKPOOL_REGISTER_AS(function_pointer, name)                                     \
  [[maybe_unused]] static const ::rankpool::detail::function_registrar<function_pointer> \
  RANKPOOL_DETAIL_UNIQUE(rankpool_registrar_)(name)

// Register a function under its own spelling: RANKPOOL_REGISTER(work); or
// RANKPOOL_REGISTER(ns::work);
#define RANKPOOL_REGISTER(function) RANKPOOL_REGISTER_AS(&function, #function)

// Register a serializable function-object type; its state travels with each call.
#define RANKPOOL_REGISTER_TYPE(type)                                                             \
  [[maybe_unused]] static const ::rankpool::detail::type_registrar<type> RANKPOOL_DETAIL_UNIQUE( \
      rankpool_registrar_)(#type)
