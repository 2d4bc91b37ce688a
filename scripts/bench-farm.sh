#!/usr/bin/env bash
# rankpool-run against GNU parallel on the same file of short tasks, in one run.
#   scripts/bench-farm.sh [tasks]      (default 10000 `true` tasks; 2 workers each)
# Prints tasks/s for each and the ratio rankpool-run / parallel.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
count="${1:-10000}"
[[ -x "$repo/build/apps/rankpool-run/rankpool-run" ]] || bash "$repo/scripts/setup.sh"
# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"
if ! command -v parallel >/dev/null 2>&1; then
  echo "bench-farm: GNU parallel is not installed (apt-get install parallel)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
seq "$count" | sed "s/.*/true/" > "$work/tasks.txt"  # (yes|head fails under pipefail)

# Seconds (wall clock) that a command takes; its output is discarded.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" > /dev/null 2>&1
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }' 
}

farm="$repo/build/apps/rankpool-run/rankpool-run"
t_mpi=$(seconds rankpool_mpirun -n 3 "$farm" --journal "$work/mpi.journal" "$work/tasks.txt")
t_local=$(seconds "$farm" --journal "$work/local.journal" "$work/tasks.txt")
t_parallel=$(seconds parallel -j2 < "$work/tasks.txt")

rate() { awk -v n="$count" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-44s %10s %12s\n' "system ($count x true, 2 workers)" "seconds" "tasks/s"
printf '%-44s %10.2f %12s\n' "rankpool-run, mpirun -n 3 (root + 2 workers)" "$t_mpi" "$(rate "$t_mpi")"
printf '%-44s %10.2f %12s\n' "rankpool-run, local (2 threads)" "$t_local" "$(rate "$t_local")"
printf '%-44s %10.2f %12s\n' "GNU parallel -j2" "$t_parallel" "$(rate "$t_parallel")"
echo "rankpool-run (mpirun) is $(ratio "$t_parallel" "$t_mpi")x the speed of GNU parallel"
echo "rankpool-run (local)  is $(ratio "$t_parallel" "$t_local")x the speed of GNU parallel"
