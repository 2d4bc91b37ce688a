#!/usr/bin/env bash
# Stops the private Slurm cluster that scripts/slurm-up.sh started: cancels
# its jobs, then ends its PID namespace (every daemon and job step in it) and
# removes its temporary root. Stops only what slurm-up.sh started.
#   scripts/slurm-down.sh [ROOT]     (default: $RANKPOOL_SLURM_ROOT)
set -euo pipefail

root="${1:-${RANKPOOL_SLURM_ROOT:-}}"
if [[ -z "$root" || ! -f "$root/etc/slurm.conf" ]]; then
  echo "usage: $0 ROOT (a directory made by scripts/slurm-up.sh), or set RANKPOOL_SLURM_ROOT" >&2
  exit 2
fi
export SLURM_CONF="$root/etc/slurm.conf"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
client=()
if [[ -f "$root/run/netns.env" ]]; then  # slurm-up.sh --netns: clients run on the first host
  set -a
  # shellcheck source=/dev/null
  source "$root/run/netns.env"
  set +a
  client=("$here/netns-hosts.sh" exec "$("$here/netns-hosts.sh" list | awk 'NR == 1 {print $1}')")
fi
"${client[@]}" scancel --full --quiet --user=root 2>/dev/null || true
pid="$(cat "$root/run/unshare.pid" 2>/dev/null || true)"
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
fi
if [[ -f "$root/run/netns.env" ]]; then "$here/netns-hosts.sh" down >&2 || true; fi
case "$root" in
  /tmp/rankpool-slurm.*) rm -rf "$root" ;;
  *) echo "slurm-down: left $root in place (not made by slurm-up.sh)" >&2 ;;
esac
