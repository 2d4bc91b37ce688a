#!/usr/bin/env bash
# Build tests/consumer against rankpool and run it under MPI.
#   check.sh <repo-dir> <work-dir> find_package|add_subdirectory
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 <repo-dir> <work-dir> find_package|add_subdirectory" >&2
  exit 2
fi
repo=$(cd "$1" && pwd)
mkdir -p "$2"
work=$(cd "$2" && pwd)
mode=$3
consumer_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

step() { echo "== check.sh [$mode]: $*"; }

# Start from clean build trees so a stale cache or install cannot hide a problem.
rm -rf "$work/lib-build" "$work/prefix" "$work/consumer-build"

case "$mode" in
  find_package)
    step "configure rankpool in $work/lib-build"
    cmake -S "$repo" -B "$work/lib-build" -DRANKPOOL_BUILD_TESTS=OFF -DRANKPOOL_BUILD_APPS=OFF
    step "build rankpool"
    cmake --build "$work/lib-build" -j2
    step "install rankpool into $work/prefix"
    cmake --install "$work/lib-build" --prefix "$work/prefix"
    step "configure consumer (find_package)"
    cmake -S "$consumer_src" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$work/prefix"
    ;;
  add_subdirectory)
    step "configure consumer (add_subdirectory $repo)"
    cmake -S "$consumer_src" -B "$work/consumer-build" -DRANKPOOL_SOURCE_DIR="$repo"
    ;;
  *)
    echo "check.sh: unknown mode '$mode' (want find_package or add_subdirectory)" >&2
    exit 2
    ;;
esac

step "build consumer"
cmake --build "$work/consumer-build" -j2

if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

for n in 1 2 4; do
  step "mpirun -n $n"
  log="$work/consumer-n$n.log"
  rc=0
  timeout 120 mpirun --oversubscribe -n "$n" "$work/consumer-build/consumer" >"$log" 2>&1 || rc=$?
  cat "$log"
  if [[ $rc -ne 0 ]]; then
    [[ $rc -eq 124 ]] && echo "check.sh [$mode]: mpirun -n $n timed out after 120 s" >&2
    echo "check.sh [$mode]: mpirun -n $n failed with exit code $rc" >&2
    exit 1
  fi
  if ! grep -q '^consumer ok' "$log"; then
    echo "check.sh [$mode]: mpirun -n $n exited 0 but the root never printed 'consumer ok'" >&2
    exit 1
  fi
done
step "passed for -n 1, 2, 4"
