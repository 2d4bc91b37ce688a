#!/usr/bin/env bash
# Builds the library and its tests with AddressSanitizer+UndefinedBehaviorSanitizer
# and with ThreadSanitizer (build-asan/, build-tsan/), then runs under each the
# unit tests, the MPI suites at 1 rank (local threads), 2 and 4 ranks, and the
# spawn tests (MPI_Comm_spawn). Assumes scripts/setup.sh ran.
#   scripts/sanitize.sh [address|thread]   (default: both)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"

# fuzz.*: the fuzzer's seed corpus replayed through its checks (tests/fuzz).
targets=(rankpool_unit_tests rankpool_run_unit_tests rankpool_test_executor
  rankpool_test_collections rankpool_test_map_timeout rankpool_test_communicators rankpool_test_no_background_thread
  rankpool_test_concurrency rankpool_test_bad_input rankpool_test_mpi_errors rankpool_test_blocks
  rankpool_test_scheduling rankpool_test_isolation rankpool_test_continuations rankpool_test_stats
  rankpool_test_lazy_maps rankpool_test_security rankpool_spawn_check rankpool_spawn_worker
  rankpool_fuzz_seeds rankpool_fuzz_replay)
# Every rank count each suite is registered at (mpi_errors: 2 and 4 only).
# Not here: huge.* (GiB-sized values), soak.* and the scripted suites.
selection='^(unit|rankpool_run\.parts|(executor|collections|map_timeout|communicators|no_background_thread|concurrency|bad_input|mpi_errors|blocks|scheduling|isolation|continuations|stats|lazy_maps|security)\.[124]ranks|spawn\..*|fuzz\..*)$'

run_kind() {
  local kind="$1" dir="$2"
  echo "== sanitizer: $kind ($dir)"
  # -O1, as the sanitizers' own documentation suggests: it compiles our
  # Boost-heavy tests in less than half the time of -O2 (40 s -> 18 s a file).
  cmake -S "$repo" -B "$repo/$dir" -DRANKPOOL_SANITIZE="$kind" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" >/dev/null
  cmake --build "$repo/$dir" -j"$(nproc)" --target "${targets[@]}"
  ctest --test-dir "$repo/$dir" --output-on-failure --no-tests=error -R "$selection" --timeout 600
}

# Leaks: Open MPI keeps allocations until exit by design. halt_on_error makes
# any report fail its test.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:report_signal_unsafe=0:suppressions=$repo/tests/sanitizers/tsan.supp"

case "${1:-both}" in
  address) run_kind address,undefined build-asan ;;
  thread) run_kind thread build-tsan ;;
  both)
    run_kind address,undefined build-asan
    run_kind thread build-tsan
    ;;
  *)
    echo "sanitize.sh: unknown argument '$1' (address, thread or nothing)" >&2
    exit 2
    ;;
esac
