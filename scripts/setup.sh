#!/usr/bin/env bash
# Install the Debian packages rankpool needs (only the missing ones), then
# configure and build in build/. Safe to re-run: an up-to-date machine skips
# apt entirely and an up-to-date build tree is a no-op.
#   scripts/setup.sh [extra cmake configure args...]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake
  libopenmpi-dev openmpi-bin
  libboost-mpi-dev libboost-serialization-dev
  libgtest-dev python3-mpi4py
  libboost-program-options-dev nlohmann-json3-dev  # rankpool-run
  python3 parallel python3-matplotlib              # rankpool-run tests; benchmark references and plot
  zlib1g-dev                                       # the embedding example writes compressed snapshots
  iproute2                                         # multi-host test: `ip netns` (absent from minimal images)
  clang libclang-rt-14-dev                         # scripts/fuzz.sh: clang 14 and its libFuzzer
  slurmctld slurmd slurm-client munge              # Slurm tests: a private cluster (scripts/slurm-up.sh)
)

# Ask dpkg rather than apt so the check needs no network and no root.
missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing missing packages: ${missing[*]}"
  # Root (CI, containers) runs apt directly; everyone else goes through sudo.
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "setup: not root and sudo not found; install as root: ${missing[*]}" >&2
      exit 1
    fi
  fi
  "${sudo[@]}" apt-get update
  # env(1) so DEBIAN_FRONTEND survives sudo's environment reset; no prompts
  # because CI has no stdin.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: all required packages are installed"
fi

cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$repo/build" -j"$(nproc)"

echo "setup: done. Next: scripts/run-example.sh (or scripts/test.sh to run the tests)"
