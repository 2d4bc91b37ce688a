// How the farm is asked to stop (SIGTERM/SIGINT) or to drain (SIGUSR1),
// on every rank: the flags the root's scheduler and the workers' tasks obey.
#pragma once

#include <atomic>

namespace rankpool::run {

// Set by SIGTERM/SIGINT on any rank: workers end their running command, the
// root stops dispatching.
extern std::atomic<bool> stop_requested;
// Set by SIGUSR1 (e.g. Slurm's --signal=USR1@N before the time limit): the
// root starts no more tasks; running ones get --grace seconds to end, then
// stop_requested is set (see drain_watch).
extern std::atomic<bool> drain_requested;

// Call from the signal handler of the drain signal, on every rank.
void request_drain() noexcept;
// Run on a thread of every rank: sets stop_requested `grace` seconds after
// a drain was requested. Returns when `done` becomes true.
void drain_watch(double grace_seconds, const std::atomic<bool>& done);

}  // namespace rankpool::run
