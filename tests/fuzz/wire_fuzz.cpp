// libFuzzer target over the wire decoder and the worker's call runner: the same
// code a worker runs on a message from the root and the root runs on a
// message from a worker, driven without MPI (linked, never initialised).
//
// Each input is one message, read twice:
//   - as call items: every item decoded, then run through run_call against
//     the callables of fuzz_calls.cpp; the reply must be one well-formed
//     result item whose value (or error record) decodes as the root would;
//   - as result items: every item decoded, its payload decoded as the
//     result type its id selects (fuzz_calls.hpp), or as an error record.
// Exceptions the code is designed to throw on malformed input are fine;
// a crash, a sanitizer report, an allocation past -malloc_limit_mb, a hang
// or a broken invariant (reported with abort) is a bug.
#include "fuzz_calls.hpp"
#include "worker/run_call.hpp"

#include <cstdio>
#include <cstdlib>
#include <new>

namespace {

namespace rd = rankpool::detail;
namespace wire = rankpool::detail::wire;
namespace fz = rankpool_fuzz;

// A chunk of a callable without arguments reads no bytes per call, so its
// count is work the root asked for, not a length: running 4 billion calls
// would only time out. Larger chunks of those are skipped.
constexpr std::uint32_t max_nullary_chunk = 4096;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "wire_fuzz: invariant broken: %s\n", what);
  std::abort();
}

// Decoding a value may throw (that is how a bad payload is reported to the
// caller of future::get), but never std::bad_alloc: that would mean a length
// from the wire was trusted for an allocation.
template <class Decode>
bool decodes(Decode&& decode) {
  try {
    decode();
    return true;
  } catch (const std::bad_alloc&) {
    broken("std::bad_alloc while decoding a value");
  } catch (const std::exception&) {
    return false;
  }
}

const fz::callable* find(std::string_view name) {
  for (const auto& c : fz::callables()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// What the root does with the reply of one call: it must be exactly one
// result item, and what our own encoder wrote must decode.
void check_reply(const wire::call_view& call, bool ok, const std::string& reply) {
  wire::result_item result;
  try {
    wire::reader reader(reply);
    result = reader.next_result();
    if (!reader.empty()) broken("trailing bytes after the reply's result item");
    if (!ok) (void)wire::decode_error_info(result.payload);
  } catch (const wire::decode_error&) {
    broken("the reply of run_call does not decode");
  }
  if (result.id != call.id || result.ok() != ok) broken("reply id or status differs from the call");
  if (!ok) return;
  const auto* c = find(call.name);
  if (c == nullptr) broken("an unknown callable succeeded");
  const bool chunk = (call.flags & wire::chunk_flag) != 0;
  if (!decodes([&] { c->decode_result(result.payload, chunk); })) {
    broken("the result of a successful call does not decode");
  }
}

void run_as_calls(std::string_view message) {
  wire::reader reader(message);
  const rd::call_site site{1, "fuzz-host"};
  std::string reply;
  try {
    while (!reader.empty()) {
      const auto call = reader.next_call();
      const auto* c = find(call.name);
      if (c != nullptr && c->nullary && call.count > max_nullary_chunk) continue;
      reply.clear();
      const bool ok = rd::run_call(call, site, reply);  // never throws for a failing call
      check_reply(call, ok, reply);
    }
  } catch (const wire::decode_error&) {
    // A malformed message: the worker drops the rest of it.
  }
}

void run_as_results(std::string_view message) {
  wire::reader reader(message);
  try {
    while (!reader.empty()) {
      const auto result = reader.next_result();
      if (!result.ok()) {
        try {
          (void)wire::decode_error_info(result.payload);
        } catch (const wire::decode_error&) {
          // The root reports an undecodable error record as a broken executor.
        }
        continue;
      }
      const auto& c = fz::decoder_for(result.id);
      const bool chunk = fz::chunk_decoder_for(result.id);
      (void)decodes([&] { c.decode_result(result.payload, chunk); });
    }
  } catch (const wire::decode_error&) {
    // A malformed message: the root drops the rest of it.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  run_as_calls(message);
  run_as_results(message);
  return 0;
}
