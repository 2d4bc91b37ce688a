#!/usr/bin/env bash
# Builds the libFuzzer target over the wire decoder and the worker's call runner
# (build-fuzz/, Clang, ASan+UBSan) and runs it from the committed seed corpus
# for a bounded time. Fails on any crash, sanitizer report, allocation past
# the malloc limit, hang or leak. Assumes scripts/setup.sh ran (clang and
# libclang-rt-14-dev, which ships libFuzzer).
#   scripts/fuzz.sh [seconds]   (default 60)
# A failure leaves the input that triggered it in build-fuzz/artifacts/;
# replay it with: build-fuzz/tests/fuzz/rankpool_wire_fuzz FILE
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
build="$repo/build-fuzz"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ not found; scripts/setup.sh installs clang and libclang-rt-14-dev" >&2
  exit 1
fi

echo "== fuzz: building rankpool_wire_fuzz in $build"
# Only the fuzz target (and the library) is built, and no test of this tree
# runs: MPI is linked into the target but never initialised.
CC=clang CXX=clang++ cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRANKPOOL_BUILD_FUZZERS=ON >/dev/null
cmake --build "$build" -j2 --target rankpool_wire_fuzz >/dev/null

# libFuzzer adds what it finds to its first corpus directory: give it a
# scratch copy so the committed seeds never change behind git's back.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$repo/tests/fuzz/corpus" "$work/corpus"
mkdir -p "$build/artifacts"

# -malloc_limit_mb: any single allocation over 256 MiB is reported as a
#   crash; inputs are at most -max_len bytes, so only a length from the wire
#   trusted for an allocation gets there. -rss_limit_mb is the overall cap:
#   ASan's quarantine of freed memory alone holds up to 256 MiB.
# -timeout: one input running for seconds is a hang (e.g. a loop over a count).
# -dict: the callable names, so mutations reach the call runner's lookup.
# -print_final_stats: the figures for docs/reliability.md.
# ASan: leaks are checked; halt on the first report of any sanitizer.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
echo "== fuzz: running for ${seconds}s from $(find "$work/corpus" -type f | wc -l) seeds"
status=0
"$build/tests/fuzz/rankpool_wire_fuzz" "$work/corpus" \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -malloc_limit_mb=256 -rss_limit_mb=2048 \
  -dict="$repo/tests/fuzz/wire.dict" \
  -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
  >"$work/log" 2>&1 || status=$?

# The log is long (one line per new coverage point): show its summary, or
# on failure its end, which holds the report, the stack and the input's name.
if ((status != 0)); then
  tail -n 120 "$work/log"
  echo "fuzz: FAILED (exit $status); the input is in $build/artifacts/" >&2
  exit "$status"
fi
grep -E '^(INFO: Seed|#[0-9]+[[:space:]]+DONE|Done|stat::)' "$work/log" || true
echo "fuzz: passed, no crash in ${seconds}s"
