// Runs one call item on this process and writes its result item: shared by
// MPI workers and the local threads of a one-rank executor, so both behave
// the same.
#pragma once

#include "rankpool/detail/registry.hpp"
#include "rankpool/options.hpp"
#include "wire/wire.hpp"

#include <optional>
#include <string>

namespace rankpool::detail {

// Where calls run, for error reports.
struct call_site {
  int rank = 0;
  std::string host;
};

const std::string& this_host();

// Runs the call and appends its result item to `reply` (the result written
// in place, no copy); returns whether the call succeeded. Never throws for a
// failing call: an unknown name, undecodable arguments, the call throwing or
// an unserializable result become an error item. With `blocks` given (a
// worker), a single call's argument blocks are received through it, and a
// large contiguous result is moved into blocks->result with the item
// announcing it (status 2): the caller sends that block after the reply.
bool run_call(const wire::call_view& item, const call_site& site, std::string& reply,
              call_blocks* blocks = nullptr);

// Runs an initializer (if any) as a call; on failure returns its error, to
// send to the root or to report locally.
std::optional<wire::error_info> run_initializer(const rankpool::initializer& init,
                                                const call_site& site);

// The demangled name of a type, e.g. "std::out_of_range".
std::string demangle(const char* mangled);

}  // namespace rankpool::detail
