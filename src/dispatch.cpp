#include "dispatch.hpp"

#include "rankpool/detail/archive.hpp"
#include "rankpool/detail/registry.hpp"

#include <cxxabi.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <typeinfo>

namespace rankpool::detail {
namespace {

std::string describe_failure(call_phase phase, const std::string& name, const call_site& site,
                             const std::string& what) {
  switch (phase) {
    case call_phase::decoding:
      return "rankpool: could not decode the arguments of '" + name + "' on rank " +
             std::to_string(site.rank) + ": " + what;
    case call_phase::encoding:
      return "rankpool: could not serialize the result of '" + name + "' on rank " +
             std::to_string(site.rank) + ": " + what;
    case call_phase::calling:
      break;
  }
  return what;
}

call_outcome failure(std::string type_name, std::string message, const call_site& site) {
  wire::error_info error{std::move(type_name), std::move(message), site.host, site.rank};
  return {false, wire::encode_error(error)};
}

}  // namespace

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

const std::string& this_host() {
  static const std::string host = [] {
    char buffer[256] = {};
    if (gethostname(buffer, sizeof buffer - 1) != 0) return std::string("unknown-host");
    return std::string(buffer);
  }();
  return host;
}

call_outcome run_call(const wire::call_item& item, const call_site& site) {
  const std::string name(item.name);
  const callable_entry* entry = find_callable(item.name);
  if (entry == nullptr) {
    return failure("std::invalid_argument",
                   "rankpool: no callable is registered as '" + name + "' on rank " +
                       std::to_string(site.rank) + " (do all ranks run the same program?)",
                   site);
  }
  call_phase phase = call_phase::decoding;
  try {
    call_outcome outcome;
    {
      iarchive_buffer in(item.payload.data(), item.payload.size());
      oarchive_buffer out(outcome.payload);
      if (item.flags & wire::chunk_flag) out.archive() << item.count;
      entry->invoke(in.archive(), out.archive(), item.count, phase);
    }
    return outcome;
  } catch (const std::exception& e) {
    return failure(demangle(typeid(e).name()), describe_failure(phase, name, site, e.what()), site);
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    const std::string type_name = type ? demangle(type->name()) : std::string("unknown");
    return failure(
        type_name,
        describe_failure(phase, name, site,
                         "'" + name + "' threw a non-standard exception of type " + type_name),
        site);
  }
}

}  // namespace rankpool::detail
