#!/usr/bin/env bash
# rankpool-run against GNU parallel on the same file of short tasks, in one run.
#   scripts/bench-farm.sh [tasks]      (default 10000 `true` tasks; 2 workers each)
# Prints tasks/s for each and the ratio rankpool-run / parallel. Fails (exit 1)
# when a program exits non-zero or a rankpool-run journal does not hold one
# record with status "ok" per task: a broken run is never timed as a speed-up.
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

# timed NAME COMMAND...: runs COMMAND (output kept in $work/NAME.log) and sets
# the variable NAME to the seconds (wall clock) it took. Not in $(...), where
# set -e does not apply: a failed command ends the benchmark here.
timed() {
  local name="$1" start end rc=0
  shift
  start=$(date +%s.%N)
  "$@" >"$work/$name.log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  if ((rc != 0)); then
    echo "bench-farm: FAILED: '$*' exited with status $rc; its output:" >&2
    tail -n 20 "$work/$name.log" >&2
    exit 1
  fi
  printf -v "$name" '%s' "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
}

# check_journal FILE: one JSON Lines record per task (tasks 0..count-1), each
# with status "ok".
check_journal() {
  python3 - "$1" "$count" <<'PY' || exit 1
import json, sys
path, count = sys.argv[1], int(sys.argv[2])
try:
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
except (OSError, ValueError) as e:
    sys.exit("bench-farm: FAILED: cannot read the journal %s: %s" % (path, e))
ok = {r.get("task") for r in records if r.get("status") == "ok"}
if len(records) != count or ok != set(range(count)):
    sys.exit("bench-farm: FAILED: %s holds %d records, %d distinct tasks with status ok; "
             "expected %d of %d" % (path, len(records), len(ok), count, count))
PY
}

farm="$repo/build/apps/rankpool-run/rankpool-run"
timed t_mpi rankpool_mpirun -n 3 "$farm" --journal "$work/mpi.journal" "$work/tasks.txt"
check_journal "$work/mpi.journal"
timed t_local "$farm" --journal "$work/local.journal" "$work/tasks.txt"
check_journal "$work/local.journal"
timed t_parallel parallel -j2 <"$work/tasks.txt"

rate() { awk -v n="$count" -v t="$1" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-44s %10s %12s\n' "system ($count x true, 2 workers)" "seconds" "tasks/s"
printf '%-44s %10.2f %12s\n' "rankpool-run, mpirun -n 3 (root + 2 workers)" "$t_mpi" "$(rate "$t_mpi")"
printf '%-44s %10.2f %12s\n' "rankpool-run, local (2 threads)" "$t_local" "$(rate "$t_local")"
printf '%-44s %10.2f %12s\n' "GNU parallel -j2" "$t_parallel" "$(rate "$t_parallel")"
echo "rankpool-run (mpirun) is $(ratio "$t_parallel" "$t_mpi")x the speed of GNU parallel"
echo "rankpool-run (local)  is $(ratio "$t_parallel" "$t_local")x the speed of GNU parallel"
