// What a call process does once forked: serve calls from its channel until
// it is killed, running each with run_call under the call's memory limit.
#pragma once

#include "isolation/call_channel.hpp"
#include "worker/run_call.hpp"

namespace rankpool::detail {

// Never returns: the call process is killed, or dies with its call. `blocks`:
// whether calls take argument blocks and give large results as blocks.
[[noreturn]] void serve_calls(call_channel& channel, const call_site& site, bool blocks);

}  // namespace rankpool::detail
