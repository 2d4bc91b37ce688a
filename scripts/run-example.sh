#!/usr/bin/env bash
# Set up and run a real job: build everything, then run the Monte Carlo pi
# example on RANKS ranks (default 4: one root + three workers).
#   RANKS=8 scripts/run-example.sh [tasks] [darts-per-task]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Our arguments belong to the example, so setup.sh gets none.
bash "$repo/scripts/setup.sh"

# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"

if (($# == 0)); then
  set -- 64 1000000
fi

rankpool_mpirun -n "${RANKS:-4}" "$repo/build/apps/rankpool-montecarlo" "$@"
