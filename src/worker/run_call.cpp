#include "worker/run_call.hpp"

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

std::string describe_failure(call_phase phase, std::string_view name, const call_site& site,
                             const std::string& what) {
  switch (phase) {
    case call_phase::decoding:
      return "rankpool: could not decode the arguments of '" + std::string(name) + "' on rank " +
             std::to_string(site.rank) + ": " + what;
    case call_phase::encoding:
      return "rankpool: could not serialize the result of '" + std::string(name) + "' on rank " +
             std::to_string(site.rank) + ": " + what;
    case call_phase::calling:
      break;
  }
  return what;
}

bool failure(std::uint64_t id, std::string type_name, std::string message, const call_site& site,
             std::string& reply) {
  wire::append_error(reply, id, {std::move(type_name), std::move(message), site.host, site.rank});
  return false;
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

bool run_call(const wire::call_view& item, const call_site& site, std::string& reply,
              call_blocks* blocks) {
  const std::string_view name = item.name;
  const callable_entry* entry = find_callable(item.name);
  if (entry == nullptr) {
    return failure(item.id, "std::invalid_argument",
                   "rankpool: no callable is registered as '" + std::string(name) + "' on rank " +
                       std::to_string(site.rank) + " (do all ranks run the same program?)",
                   site, reply);
  }
  const std::size_t start = reply.size();
  call_phase phase = call_phase::decoding;
  try {
    const auto length_at = wire::begin_result(reply, item.id, true);
    const bool chunk = (item.flags & wire::chunk_flag) != 0;
    if (chunk) raw_writer(reply).put(item.count);
    entry->invoke(item.payload, reply, item.count, phase, chunk ? nullptr : blocks);
    if (blocks != nullptr && blocks->result.keep_alive) {
      wire::end_block_result(reply, length_at, blocks->result.bytes);
    } else {
      wire::end_result(reply, length_at);
    }
    return true;
  } catch (const std::exception& e) {
    reply.resize(start);  // drop the partial result
    if (blocks != nullptr) blocks->result = {};
    return failure(item.id, demangle(typeid(e).name()),
                   describe_failure(phase, name, site, e.what()), site, reply);
  } catch (...) {
    reply.resize(start);
    if (blocks != nullptr) blocks->result = {};
    const std::type_info* type = abi::__cxa_current_exception_type();
    const std::string type_name = type ? demangle(type->name()) : std::string("unknown");
    return failure(item.id, type_name,
                   describe_failure(phase, name, site,
                                    "'" + std::string(name) +
                                        "' threw a non-standard exception of type " + type_name),
                   site, reply);
  }
}

std::optional<wire::error_info> run_initializer(const rankpool::initializer& init,
                                                const call_site& site) {
  if (!init) return std::nullopt;
  const wire::call_view item{0, 0, 1, init.name(), init.payload()};
  std::string reply;
  if (run_call(item, site, reply)) return std::nullopt;
  return wire::decode_error_info(wire::reader(reply).next_result().payload);
}

}  // namespace rankpool::detail
