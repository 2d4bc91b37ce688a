#include "rankpool/detail/registry.hpp"

#include <map>
#include <stdexcept>
#include <string>
#include <typeindex>
#include <unordered_map>

namespace rankpool::detail {
namespace {

struct registry {
  // std::less<>: look names up by string_view, with no allocation per call.
  std::map<std::string, callable_entry, std::less<>> by_name;
  std::unordered_map<function_key, const std::string*> function_names;
  std::unordered_map<std::type_index, const std::string*> type_names;
};

// Function-local static: registrations run during static initialisation of
// other translation units, in an order we do not control.
registry& table() {
  static registry r;
  return r;
}

const std::string* add(const char* name, invoker_fn invoke) {
  auto& entries = table().by_name;
  auto [it, inserted] = entries.try_emplace(name, callable_entry{name, invoke});
  if (!inserted && it->second.invoke != invoke) {
    throw std::logic_error(std::string("rankpool: two different callables are registered as '") +
                           name + "'; use RANKPOOL_REGISTER_AS to give one another name");
  }
  return &it->second.name;
}

}  // namespace

void register_function(const char* name, function_key key, invoker_fn invoke) {
  const std::string* stored = add(name, invoke);
  auto [it, inserted] = table().function_names.try_emplace(key, stored);
  if (!inserted && *it->second != name) {
    throw std::logic_error("rankpool: one function is registered under two names, '" + *it->second +
                           "' and '" + name + "'");
  }
}

void register_type(const char* name, const std::type_info& type, invoker_fn invoke) {
  const std::string* stored = add(name, invoke);
  auto [it, inserted] = table().type_names.try_emplace(std::type_index(type), stored);
  if (!inserted && *it->second != name) {
    throw std::logic_error("rankpool: one type is registered under two names, '" + *it->second +
                           "' and '" + name + "'");
  }
}

const std::string* registered_name(function_key key) noexcept {
  const auto& names = table().function_names;
  const auto it = names.find(key);
  return it == names.end() ? nullptr : it->second;
}

const std::string* registered_name(const std::type_info& type) noexcept {
  const auto& names = table().type_names;
  const auto it = names.find(std::type_index(type));
  return it == names.end() ? nullptr : it->second;
}

const callable_entry* find_callable(std::string_view name) noexcept {
  const auto& entries = table().by_name;
  const auto it = entries.find(name);
  return it == entries.end() ? nullptr : &it->second;
}

}  // namespace rankpool::detail
