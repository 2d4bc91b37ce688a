// Runs one call item on this process: shared by MPI workers and the local
// threads of a one-rank executor, so both behave the same.
#pragma once

#include "codec.hpp"

#include <string>

namespace rankpool::detail {

struct call_outcome {
  bool ok = true;
  std::string payload;  // the result archive, or an encoded wire::error_info
};

// Where calls run, for error reports.
struct call_site {
  int rank = 0;
  std::string host;
};

const std::string& this_host();

// Never throws: every failure (unknown name, undecodable arguments, the call
// throwing, an unserializable result) becomes an error outcome.
call_outcome run_call(const wire::call_item& item, const call_site& site);

// The demangled name of a type, e.g. "std::out_of_range".
std::string demangle(const char* mangled);

}  // namespace rankpool::detail
