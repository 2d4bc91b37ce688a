// The MPI tags on the executor's private communicator: every message the
// root and its workers exchange carries one of these.
#pragma once

namespace rankpool::detail::wire {

enum tag : int {
  call_tag = 1,       // root -> worker: call items
  result_tag = 2,     // worker -> root: result items
  stop_tag = 3,       // root -> worker: leave the worker loop
  part_tag = 5,       // either way: a leading part of a split message (the last part
                      // carries the message's own tag; mpi/transport.hpp)
  block_tag = 6,      // worker -> root: a result's block, after its result item
  arg_block_tag = 7,  // root -> worker: an argument's block, after its call's message
  large_tag = 8,      // worker -> root: a message announced by an envelope
  terminate_tag = 9,  // root -> worker: u64 id of a call to stop (isolated calls)
};

}  // namespace rankpool::detail::wire
