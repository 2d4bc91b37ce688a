#!/usr/bin/env bash
# Build (installing packages on a fresh machine) and run the test suite.
#   scripts/test.sh [extra ctest args...]   e.g. scripts/test.sh -R codec
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Sourced first so the MPI tests may start as root (CI, containers).
# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"

# Our arguments belong to ctest, so setup.sh gets none.
bash "$repo/scripts/setup.sh"

# exec: the script's exit status is ctest's. -j2 matches a 2-core CI machine;
# the timeout catches a hung MPI job instead of stalling CI forever.
exec ctest --test-dir "$repo/build" --output-on-failure --no-tests=error -j2 --timeout 300 "$@"
