#!/usr/bin/env bash
# Pretend hosts for multi-host MPI runs on one machine: network namespaces
# joined by veth links, each with its own address (and, through `exec`, its own
# hostname). Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2.
#
#   scripts/netns-hosts.sh up          create the hosts (removes leftovers of the same prefix first)
#   scripts/netns-hosts.sh down        kill what still runs in them, delete them
#   scripts/netns-hosts.sh list        one line per host: "<name> <address>"
#   scripts/netns-hosts.sh ns-of HOST  the namespace of HOST (its name or address)
#   scripts/netns-hosts.sh exec HOST CMD [ARGS...]
#                                      run CMD inside HOST's namespace with HOST's hostname
#
# Settings (environment; the same values must reach every call, e.g. up, the
# rsh agent and down of one test run):
#   RANKPOOL_NETNS_PREFIX  namespace name prefix (default rp-): hosts are
#                          <prefix>h0..<prefix>h<N-1>, the switch is <prefix>sw.
#                          Give concurrent runs different prefixes.
#   RANKPOOL_NETNS_HOSTS   number of hosts (default 3, at most 250)
#   RANKPOOL_NETNS_NET     first three octets of the private /24 (default 10.77.0);
#                          host i gets <net>.<i+1>/24
#
# Wiring: a star. A fourth namespace, <prefix>sw, holds a Linux bridge br0
# (the switch). Each host namespace <prefix>h<i> has one interface, eth0, whose
# veth peer h<i> lives in the switch namespace and is a port of br0. Nothing is
# added to the machine's own (root) namespace: no interface, address or route,
# so the test hosts can only reach each other, no traffic can leave the machine,
# and two runs with different prefixes may even use the same subnet. Every veth
# end is created directly in its namespace, so its name never clashes with an
# interface of the machine. Deleting a namespace deletes its veth ends too.
set -euo pipefail

prefix="${RANKPOOL_NETNS_PREFIX:-rp-}"
count="${RANKPOOL_NETNS_HOSTS:-3}"
net="${RANKPOOL_NETNS_NET:-10.77.0}"
switch="${prefix}sw"

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

die() {
  echo "netns-hosts: $*" >&2
  exit 1
}

if ! [[ "$count" =~ ^[0-9]+$ ]] || ((count < 1 || count > 250)); then
  die "RANKPOOL_NETNS_HOSTS must be 1..250, not '$count'"
fi
if ! [[ "$net" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  die "RANKPOOL_NETNS_NET must be three octets such as 10.77.0, not '$net'"
fi

host_name() { echo "${prefix}h$1"; }
host_addr() { echo "${net}.$(($1 + 1))"; }

# Namespaces of ours that exist now (a run killed half way may leave some).
existing() {
  local have i name
  have="$(ip netns list 2>/dev/null | awk '{print $1}')"
  for name in $(for ((i = 0; i < count; i++)); do host_name "$i"; done) "$switch"; do
    if grep -Fxq -- "$name" <<<"$have"; then echo "$name"; fi
  done
}

down() {
  local ns
  local -a pids
  for ns in $(existing); do
    # `ip netns del` only removes the name: the namespace (and its addresses)
    # lives on while a process is inside it. A run that timed out may leave
    # orted or ranks behind, so end them first: TERM, then KILL what stays.
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
    if ((${#pids[@]} > 0)); then
      kill -TERM "${pids[@]}" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
        ((${#pids[@]} == 0)) && break
        sleep 0.2
      done
      if ((${#pids[@]} > 0)); then
        kill -KILL "${pids[@]}" 2>/dev/null || true
      fi
    fi
    ip netns del "$ns" 2>/dev/null || true
  done
}

up() {
  down
  # From here on a failure (or die) must not leave half a network behind.
  trap down EXIT
  ip netns add "$switch"
  ip -n "$switch" link set lo up
  ip -n "$switch" link add br0 type bridge
  # No spanning tree and no forwarding delay: ports forward as soon as they are up.
  ip -n "$switch" link set br0 type bridge stp_state 0 forward_delay 0
  ip -n "$switch" link set br0 up
  local i ns
  for ((i = 0; i < count; i++)); do
    ns="$(host_name "$i")"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip -n "$switch" link add "h$i" type veth peer name eth0 netns "$ns"
    ip -n "$switch" link set "h$i" master br0
    ip -n "$switch" link set "h$i" up
    ip -n "$ns" addr add "$(host_addr "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  # Links come up asynchronously; wait (bounded) until every host's carrier is on.
  for ((i = 0; i < count; i++)); do
    ns="$(host_name "$i")"
    for _ in $(seq 50); do
      ip -n "$ns" link show eth0 | grep -q 'LOWER_UP' && break
      sleep 0.1
    done
    ip -n "$ns" link show eth0 | grep -q 'LOWER_UP' || die "eth0 of $ns did not come up"
  done
  trap - EXIT
}

list() {
  local i
  for ((i = 0; i < count; i++)); do
    echo "$(host_name "$i") $(host_addr "$i")"
  done
}

ns_of() {
  local host="$1" i
  for ((i = 0; i < count; i++)); do
    if [[ "$host" == "$(host_name "$i")" || "$host" == "$(host_addr "$i")" ]]; then
      host_name "$i"
      return 0
    fi
  done
  die "unknown host '$host' (hosts: $(list | tr '\n' ' '))"
}

# The namespace gives the host its network; a new UTS namespace gives it its
# own hostname, so gethostname() there (Open MPI's node name, rankpool's
# remote_error::host()) names the pretend host rather than the machine.
exec_on() {
  local ns
  ns="$(ns_of "$1")"
  shift
  (($# > 0)) || die "exec: no command"
  # shellcheck disable=SC2016  # $0 and $@ are the inner shell's: the name and the command
  exec ip netns exec "$ns" unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
}

(($# > 0)) || usage
command="$1"
shift
case "$command" in
  up) up ;;
  down) down ;;
  list) list ;;
  ns-of)
    (($# == 1)) || usage
    ns_of "$1"
    ;;
  exec)
    (($# >= 2)) || usage
    exec_on "$@"
    ;;
  *) usage ;;
esac
