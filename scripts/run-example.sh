#!/usr/bin/env bash
# Set up and run a real job: build everything, then run an example on RANKS
# ranks (default 4).
#   RANKS=8 scripts/run-example.sh [tasks] [darts-per-task]   # Monte Carlo pi: a root and 3 workers
#   scripts/run-example.sh heat [rankpool-heat options]        # a simulation that embeds a pool
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Our arguments belong to the example, so setup.sh gets none.
bash "$repo/scripts/setup.sh"

# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"

if (($# > 0)) && [[ "$1" == heat ]]; then
  shift
  # --mode spawn starts workers with MPI_Comm_spawn: let them share the cores.
  export OMPI_MCA_rmaps_base_oversubscribe=1
  rankpool_mpirun -n "${RANKS:-4}" "$repo/build/apps/rankpool-heat" "$@"
  exit
fi

if (($# == 0)); then
  set -- 64 1000000
fi

rankpool_mpirun -n "${RANKS:-4}" "$repo/build/apps/rankpool-montecarlo" "$@"
