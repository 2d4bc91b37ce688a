# shellcheck shell=bash
# MPI environment for running rankpool locally. Source it, don't execute it:
#   source scripts/mpi-env.sh && rankpool_mpirun -n 4 ./build/apps/rankpool-montecarlo
# No `set -euo pipefail` here on purpose: this file runs inside the caller's
# shell, and those options would leak into (and could kill) an interactive shell.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  echo "mpi-env.sh must be sourced: source ${BASH_SOURCE[0]}" >&2
  exit 1
fi

# Open MPI refuses to start as root unless told otherwise. Only containers and
# CI run as root, so only set these there and keep the safety net elsewhere.
if [[ "$(id -u)" -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1
  export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# --oversubscribe: allow more ranks than cores (e.g. 4 ranks on a 2-core CI
# machine); rank 0 mostly waits on results, so this costs little.
rankpool_mpirun() {
  mpirun --oversubscribe "$@"
}
