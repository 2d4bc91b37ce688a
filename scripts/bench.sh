#!/usr/bin/env bash
# Benchmark rankpool against the floor of this stack (a hand-written raw MPI
# farm), mpi4py.futures and Python's ProcessPoolExecutor with the same
# workloads, in two placements, then write bench-results/<UTC timestamp>-
# <placement>.json, .md and .png and print the tables, the ratios and the
# targets. Method: docs/benchmarks/README.md.
#   oversubscribed: 3 ranks (1 root + 2 workers), --oversubscribe --bind-to none
#   dedicated:      one rank per core (1 root + nproc-1 workers), --bind-to core
#   scripts/bench.sh [--tiny|--full] [--placement oversubscribed|dedicated|both]
#   --full (default) takes several minutes per placement; --tiny seconds per
#   system (the CI smoke run); --placement both (default) runs both.
# Exits non-zero when any program fails (exit status, or no JSON line) or a
# figure is null without a named reason (report.py); a missed target is not
# a failure (targets are timings: `report.py --check` judges them).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=/usr/bin/python3
# The Python benchmarks import bench_common.py: leave no __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1

size=full
placements=(oversubscribed dedicated)
while (($# > 0)); do
  case "$1" in
    --tiny) size=tiny ;;
    --full) size=full ;;
    --placement)
      case "${2:-}" in
        oversubscribed | dedicated) placements=("$2") ;;
        both) placements=(oversubscribed dedicated) ;;
        *)
          echo "bench.sh: --placement takes oversubscribed, dedicated or both, not '${2:-}'" >&2
          exit 2
          ;;
      esac
      shift
      ;;
    -h | --help)
      sed -n '2,11p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument '$1' (see --help)" >&2
      exit 2
      ;;
  esac
  shift
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
  cmake --build "$repo/build" --target rankpool-bench raw-farm-bench isolation-bench -j"$(nproc)"
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

# run_system DIR NAME COMMAND... : runs COMMAND --size SIZE, keeping its
# stdout (the JSON line), its exit status and how busy the machine was just
# before in DIR for report.py. Progress and errors go to the terminal. A
# failure is counted in `failures`; report.py names it too.
failures=0
run_system() {
  local dir="$1" name="$2"
  shift 2
  echo "== $name" >&2
  cpu_busy_percent >"$dir/$name.busy"
  local rc=0
  timeout --kill-after=10 "$limit" "$@" --size "$size" </dev/null >"$dir/$name.out" || rc=$?
  echo "$rc" >"$dir/$name.rc"
  if ((rc != 0)); then
    echo "bench.sh: FAILED: $name exited with status $rc" >&2
    failures=$((failures + 1))
  fi
}

# Cores this process may use, counting each physical core once (mpirun
# --bind-to core gives each rank a whole core; hyperthreads are not cores).
physical_cores() {
  local cores
  cores="$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l)"
  local usable
  usable="$(nproc)"
  if ((cores < 1 || cores > usable)); then cores="$usable"; fi
  echo "$cores"
}

# run_placement PLACEMENT: every system in that placement, then its report.
# Returns non-zero if a program failed or report.py did (a figure not measured).
run_placement() {
  local placement="$1" ranks mpi_run
  if [[ "$placement" == oversubscribed ]]; then
    # 3 ranks on 2 cores: let the kernel place every thread.
    ranks=3
    mpi_run=(mpirun --oversubscribe --bind-to none -n "$ranks")
  else
    # One rank per core, each bound to its own: no rank waits for a core.
    ranks="$(physical_cores)"
    mpi_run=(mpirun --bind-to core -n "$ranks")
  fi
  local dir="$runs/$placement"
  mkdir -p "$dir"
  echo "=== $placement: ${mpi_run[*]}" >&2
  if ((ranks < 2)); then
    echo "bench.sh: the dedicated placement needs 2 cores; this machine has $ranks" >&2
    return 0
  fi
  run_system "$dir" raw "${mpi_run[@]}" "$repo/build/apps/bench/raw-farm-bench"
  run_system "$dir" rankpool "${mpi_run[@]}" "$repo/build/apps/bench/rankpool-bench"
  if "$python" -c 'import mpi4py.futures' 2>/dev/null; then
    run_system "$dir" mpi4py "${mpi_run[@]}" "$python" "$repo/apps/bench/mpi4py_bench.py"
  else
    echo "mpi4py is not installed for $python (Debian package python3-mpi4py)" >"$dir/mpi4py.skip"
  fi
  # No MPI: as many worker processes as the MPI systems have worker ranks.
  run_system "$dir" ppe "$python" "$repo/apps/bench/ppe_bench.py" --workers $((ranks - 1))

  # What isolated calls cost, against the plain pool in the same run
  # (docs/reliability.md, "Isolated calls"): kept beside the report.
  run_system "$dir" isolation "${mpi_run[@]}" "$repo/build/apps/bench/isolation-bench"

  mkdir -p "$repo/bench-results"
  cp "$dir/isolation.out" "$repo/bench-results/$stamp-$placement-isolation.json" 2>/dev/null || true
  "$python" "$repo/apps/bench/report.py" --runs "$dir" \
    --out "$repo/bench-results/$stamp-$placement" --size "$size" --ranks "$ranks" \
    --placement "$placement" --launch "${mpi_run[*]}"
}

build_benchmarks
ensure_matplotlib

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
status=0
for placement in "${placements[@]}"; do
  run_placement "$placement" || status=$?
done
if ((status != 0 || failures != 0)); then
  echo "bench.sh: FAILED ($failures program(s) failed; see above)" >&2
  exit $((status != 0 ? status : 1))
fi
exit 0
