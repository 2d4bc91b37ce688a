#!/usr/bin/env bash
# Benchmark rankpool against the floor of this stack (a hand-written raw MPI
# farm), mpi4py.futures and Python's ProcessPoolExecutor, on 3 ranks
# (1 root + 2 workers) with the same workloads, then write
# bench-results/<UTC timestamp>.json, .md and .png and print the table, the
# ratios and the targets. Method: docs/benchmarks/README.md.
#   scripts/bench.sh          full size (a few minutes)
#   scripts/bench.sh --tiny   a few seconds per system (CI smoke run)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=/usr/bin/python3
ranks=3
# The Python benchmarks import bench_common.py: leave no __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1

size=full
for arg in "$@"; do
  case "$arg" in
    --tiny) size=tiny ;;
    --full) size=full ;;
    -h | --help)
      sed -n '2,8p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument '$arg' (use --tiny or --full)" >&2
      exit 2
      ;;
  esac
done
# A hung MPI job must not stall CI: each system gets at most this long.
if [[ "$size" == tiny ]]; then limit=120; else limit=900; fi

# OMPI_ALLOW_RUN_AS_ROOT* when root.
# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"

build_benchmarks() {
  if [[ ! -d "$repo/build" ]]; then
    bash "$repo/scripts/setup.sh"
  fi
  # Configure again (cheap, keeps the cache) so that a build tree made before
  # apps/bench existed learns its targets.
  cmake -S "$repo" -B "$repo/build" >/dev/null
  cmake --build "$repo/build" --target rankpool-bench raw-farm-bench -j"$(nproc)"
}

# The plot needs matplotlib; install it when we may, else the report notes its absence.
ensure_matplotlib() {
  if "$python" -c 'import matplotlib' 2>/dev/null; then return 0; fi
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || return 0
    sudo=(sudo -n)
  fi
  echo "bench.sh: installing python3-matplotlib for the plot" >&2
  local install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends python3-matplotlib)
  "${install[@]}" >/dev/null 2>&1 ||
    { "${sudo[@]}" apt-get update >/dev/null 2>&1 && "${install[@]}" >/dev/null 2>&1; } ||
    echo "bench.sh: could not install python3-matplotlib; no plot this time" >&2
}

runs="$(mktemp -d)"
trap 'rm -rf "$runs"' EXIT

# Percent of the machine's CPU in use over half a second, from /proc/stat.
# Measured while nothing of ours runs: another job on the machine (a build,
# a test suite) skews every figure, and the report says so.
cpu_busy_percent() {
  local before after
  read -r -a before < <(grep '^cpu ' /proc/stat)
  sleep 0.5
  read -r -a after < <(grep '^cpu ' /proc/stat)
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + after[i] - before[i])); done
  local idle=$((after[4] - before[4] + after[5] - before[5]))  # idle + iowait
  echo $((total > 0 ? 100 * (total - idle) / total : 0))
}

# run_system NAME COMMAND... : runs COMMAND --size SIZE, keeping its stdout
# (the JSON line), its exit status and how busy the machine was just before
# for report.py. Progress and errors go to the terminal.
run_system() {
  local name="$1"
  shift
  echo "== $name" >&2
  cpu_busy_percent >"$runs/$name.busy"
  local rc=0
  timeout --kill-after=10 "$limit" "$@" --size "$size" </dev/null >"$runs/$name.out" || rc=$?
  echo "$rc" >"$runs/$name.rc"
  if ((rc != 0)); then echo "bench.sh: $name failed with exit status $rc" >&2; fi
}

# As rankpool_mpirun (mpi-env.sh) but an array, which timeout can run.
# --bind-to none: 3 ranks on 2 cores, so let the kernel place every thread.
mpi_run=(mpirun --oversubscribe --bind-to none -n "$ranks")

build_benchmarks
ensure_matplotlib

run_system raw "${mpi_run[@]}" "$repo/build/apps/bench/raw-farm-bench"
run_system rankpool "${mpi_run[@]}" "$repo/build/apps/bench/rankpool-bench"
if "$python" -c 'import mpi4py.futures' 2>/dev/null; then
  run_system mpi4py "${mpi_run[@]}" "$python" "$repo/apps/bench/mpi4py_bench.py"
else
  echo "mpi4py is not installed for $python (Debian package python3-mpi4py)" >"$runs/mpi4py.skip"
fi
run_system ppe "$python" "$repo/apps/bench/ppe_bench.py"

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$repo/bench-results"
"$python" "$repo/apps/bench/report.py" --runs "$runs" --out "$repo/bench-results/$stamp" \
  --size "$size" --ranks "$ranks"
