#!/usr/bin/env bash
# cluster-configs/pbs.sh and lsf.bsub cannot be submitted here (no PBS or LSF),
# so each runs as its scheduler would start it: the same script, unchanged,
# with the variables the scheduler sets (a node file with one line per rank
# slot, the submit directory) and the workload overrides in the environment.
# Also checks that each script's #PBS / #BSUB lines parse as options.
#   tests/slurm/run_pbs_lsf.sh REPO
set -euo pipefail

repo="$(cd "${1:?usage: run_pbs_lsf.sh REPO}" && pwd)"
# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf 'localhost\nlocalhost\nlocalhost\n' >"$work/nodes"  # 3 slots: root + 2 workers
export RANKPOOL_ARGS="32 100000"

check() {
  local name="$1" out="$2"
  if ! grep -q "from 3200000 darts on 2 workers" "$out"; then
    echo "FAIL $name: no result line; its output:" >&2
    cat "$out" >&2
    exit 1
  fi
  echo "ok   $name: $(grep 'pi ~' "$out")"
}

bash -n "$repo/cluster-configs/pbs.sh"
bash -n "$repo/cluster-configs/lsf.bsub"
# Directives: each must be `#PBS -x ...` / `#BSUB -x ...` (a typo like
# `#PBS-l` would be silently ignored by the scheduler).
if grep -nE '^#(PBS|BSUB)' "$repo"/cluster-configs/{pbs.sh,lsf.bsub} | grep -vE ':#(PBS|BSUB) -[A-Za-z]+( |$)'; then
  echo "FAIL a scheduler directive above is malformed" >&2
  exit 1
fi

(cd "$HOME" && PBS_O_WORKDIR="$repo" PBS_NODEFILE="$work/nodes" \
  bash "$repo/cluster-configs/pbs.sh" >"$work/pbs.out" 2>&1) || { cat "$work/pbs.out" >&2; exit 1; }
check pbs.sh "$work/pbs.out"
# LSF starts the job in the submit directory.
(cd "$repo" && LSB_DJOB_HOSTFILE="$work/nodes" \
  bash "$repo/cluster-configs/lsf.bsub" >"$work/lsf.out" 2>&1) || { cat "$work/lsf.out" >&2; exit 1; }
check lsf.bsub "$work/lsf.out"
