// Names <-> invokers. Every rank runs the same program, so callables
// travel by name; RANKPOOL_REGISTER fills this table during static
// initialisation and it is read-only afterwards (no locking needed).
#pragma once

#include "rankpool/detail/invoke.hpp"
#include "rankpool/detail/traits.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>

namespace rankpool::detail {

using function_key = void (*)();

struct callable_entry {
  std::string name;
  invoker_fn invoke = nullptr;
};

// Implemented in src/worker/registry.cpp. Registration errors (one name for two
// callables) throw std::logic_error, which ends a program at start-up with the name.
void register_function(const char* name, function_key key, invoker_fn invoke);
void register_type(const char* name, const std::type_info& type, invoker_fn invoke);
const std::string* registered_name(function_key key) noexcept;
const std::string* registered_name(const std::type_info& type) noexcept;
const callable_entry* find_callable(std::string_view name) noexcept;

// The registered name of a callable, or std::invalid_argument naming the fix.
template <class F>
const std::string& name_of(const F& f) {
  const std::string* name = nullptr;
  if constexpr (callable_traits<F>::is_object) {
    name = registered_name(typeid(F));
  } else {
    name = registered_name(reinterpret_cast<function_key>(f));
  }
  if (name == nullptr) {
    throw std::invalid_argument(
        "rankpool: the callable was never registered; add RANKPOOL_REGISTER(function) or "
        "RANKPOOL_REGISTER_TYPE(type) at namespace scope (every rank must register it)");
  }
  return *name;
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

/// @brief Register a function under an explicit name, e.g. an overload or a template.
///
/// Use at namespace scope, followed by a semicolon, on every rank.
/// @code
/// double f(int);
/// double f(double);
/// RANKPOOL_REGISTER_AS(static_cast<double (*)(int)>(&f), "f_int");
/// @endcode
#define RANKPOOL_REGISTER_AS(function_pointer, name)                                     \
  [[maybe_unused]] static const ::rankpool::detail::function_registrar<function_pointer> \
  RANKPOOL_DETAIL_UNIQUE(rankpool_registrar_)(name)

/// @brief Register a function under its own spelling.
/// @code
/// RANKPOOL_REGISTER(work);
/// RANKPOOL_REGISTER(ns::work);
/// @endcode
#define RANKPOOL_REGISTER(function) RANKPOOL_REGISTER_AS(&function, #function)

/// @brief Register a serializable function-object type; its state travels with each call.
/// @code
/// struct Scale {
///   double factor = 1;
///   double operator()(double x) const { return factor * x; }
///   template <class Archive>
///   void serialize(Archive& ar, unsigned) { ar & factor; }
/// };
/// RANKPOOL_REGISTER_TYPE(Scale);
///
/// rankpool::future<double> f = pool.submit(Scale{2.0}, 1.5);  // 3
/// @endcode
#define RANKPOOL_REGISTER_TYPE(type)                                                             \
  [[maybe_unused]] static const ::rankpool::detail::type_registrar<type> RANKPOOL_DETAIL_UNIQUE( \
      rankpool_registrar_)(#type)
