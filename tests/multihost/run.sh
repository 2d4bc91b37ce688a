#!/usr/bin/env bash
# Multi-host over TCP: three network namespaces joined by veth links stand in
# for three hosts (scripts/netns-hosts.sh); mpirun starts its daemons on them
# through scripts/netns-rsh.sh as if through ssh, and the ranks talk over TCP
# only (btl tcp,self: no shared memory, not even between ranks of one host).
# Runs the executor GoogleTest suite and the multi-host checks across them.
#
#   tests/multihost/run.sh <repo> <executor test binary> <multihost check binary> [mpirun]
#
# Exits 77 (ctest: skipped) where namespaces cannot be made: not root, no
# iproute2, or a kernel/container that refuses network namespaces, veth or
# bridges; with CI=true it exits 1 instead, naming what is
# missing.
set -euo pipefail

if (($# < 3)); then
  echo "usage: $0 <repo> <executor test binary> <multihost check binary> [mpirun]" >&2
  exit 2
fi
repo="$1"
executor_test="$2"
check="$3"
mpirun="${4:-mpirun}"
hosts_sh="$repo/scripts/netns-hosts.sh"
agent="$repo/scripts/netns-rsh.sh"

# Each mpirun gets this long; well under the ctest TIMEOUT, so our own
# cleanup runs rather than ctest killing the script (and skipping the trap).
mpirun_timeout="${RANKPOOL_MULTIHOST_TIMEOUT:-120}"

# Under CI (CI set, and not "false" or "0") a missing capability is a
# failure: CI has root and network namespaces, so their absence is a fault.
skip() {
  case "${CI:-}" in
    "" | false | 0) ;;
    *)
      echo "multihost: FAILED (CI=$CI): cannot run here: $*" >&2
      exit 1
      ;;
  esac
  echo "multihost: SKIPPED: $*" >&2
  exit 77
}

[[ "$(uname -s)" == Linux ]] || skip "network namespaces are a Linux feature"
[[ "$(id -u)" -eq 0 ]] || skip "creating network namespaces needs root (run as root, e.g. in CI)"
command -v ip >/dev/null || skip "'ip' not found (Debian package iproute2; scripts/setup.sh installs it)"
command -v unshare >/dev/null || skip "'unshare' not found (util-linux)"

# The namespaces are named after this script's pid so that concurrent runs
# (other work trees on the same machine) never share one; the subnet may be
# the same, since every run's hosts sit on their own switch.
export RANKPOOL_NETNS_PREFIX="rpmh$$-"
hosts=3
export RANKPOOL_NETNS_HOSTS="$hosts"
export RANKPOOL_NETNS_NET="${RANKPOOL_NETNS_NET:-10.77.0}"

# Open MPI's session directories are named after the host (ompi.<host>.<uid>),
# so ours are told apart by our hosts' names. mpirun removes them when it ends
# normally, but not when it is killed.
remove_session_dirs() {
  local dir
  for dir in "${TMPDIR:-/tmp}/ompi.$1h"[0-9]*.* "/tmp/ompi.$1h"[0-9]*.*; do
    if [[ -d "$dir" ]]; then rm -rf "$dir"; fi
  done
}

# A run that was SIGKILLed (no trap) leaves its namespaces behind; their
# names carry its pid, so remove those whose run is gone.
stale_pids="$(ip netns list 2>/dev/null | awk '{print $1}' |
  sed -n 's/^rpmh\([0-9][0-9]*\)-\(h[0-9]*\|sw\|probe\)$/\1/p' | sort -u)"
for stale in $stale_pids; do
  if ! kill -0 "$stale" 2>/dev/null; then
    echo "multihost: removing namespaces left by run $stale"
    RANKPOOL_NETNS_PREFIX="rpmh$stale-" "$hosts_sh" down || true
    ip netns del "rpmh$stale-probe" 2>/dev/null || true
    remove_session_dirs "rpmh$stale-"
  fi
done

# Can this machine make what the hosts need? Ask with a throwaway namespace,
# so a refusal here is a skip, while a failure of `up` below is a failure.
probe="${RANKPOOL_NETNS_PREFIX}probe"
if ! why="$(ip netns add "$probe" 2>&1)"; then
  skip "cannot create a network namespace ('ip netns add': ${why:-failed}); needs root with CAP_SYS_ADMIN outside a restricted container"
fi
why=""
ip -n "$probe" link add br0 type bridge 2>/dev/null || why="no bridge support in the kernel"
ip -n "$probe" link add probe0 type veth peer name probe1 2>/dev/null || why="${why:+$why, }no veth support in the kernel"
unshare --uts true 2>/dev/null || why="${why:+$why, }cannot unshare the UTS namespace"
ip netns del "$probe" || true
[[ -z "$why" ]] || skip "$why"

work="$(mktemp -d)"
cleanup() {
  local status=$?
  # timeout passes TERM on to mpirun, which ends its daemons and ranks; `down`
  # then ends whatever is still inside the hosts before deleting them.
  if [[ -n "${mpi_pid:-}" ]]; then
    kill -TERM "$mpi_pid" 2>/dev/null || true
    wait "$mpi_pid" 2>/dev/null || true
  fi
  "$hosts_sh" down || true
  remove_session_dirs "$RANKPOOL_NETNS_PREFIX"
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=scripts/mpi-env.sh
source "$repo/scripts/mpi-env.sh"  # OMPI_ALLOW_RUN_AS_ROOT*: this test runs as root

started=$SECONDS
"$hosts_sh" up
"$hosts_sh" list | sed 's/^/multihost: host /'

# Two slots per host: 6 ranks, rank 0 (the executor) and rank 1 on the first
# host, two workers on each of the others.
hostfile="$work/hostfile"
"$hosts_sh" list | awk '{print $2 " slots=2"}' >"$hostfile"
ranks=$((2 * hosts))
first_host="$(head -n1 "$hostfile" | cut -d' ' -f1)"
subnet="$RANKPOOL_NETNS_NET.0/24"

# Every flag and why:
#  --hostfile            the hosts by address, as on a cluster without a scheduler
#  plm_rsh_agent         start the daemons on the other hosts with our ssh stand-in
#                        (the one flag without which nothing starts)
#  oob_tcp_if_include    daemons and mpirun talk over the hosts' network...
#  btl_tcp_if_include    ...and so do the ranks. Each host has only lo and eth0, so
#                        this changes nothing here; it says which network is meant,
#                        as on a cluster whose nodes have several
#  pml ob1               the point-to-point layer that uses the BTLs, so that the BTL
#                        list below is the whole story: on a machine with a usable
#                        UCX device or libfabric provider, another PML would bring
#                        its own transports, shared memory included
#  btl tcp,self          TCP between all ranks, even two on the same host; no vader
#                        (shared memory)
# Deliberately absent: plm_rsh_no_tree_spawn (the agent passes its settings on,
# so daemons may start daemons: run (a) makes them) and orte_keep_fqdn_hostnames
# (the hosts' names have no domain).
# shellcheck disable=SC2054  # tcp,self is one argument
mpi_args=(
  --hostfile "$hostfile" -n "$ranks"
  --mca plm_rsh_agent "$agent"
  --mca oob_tcp_if_include "$subnet"
  --mca btl_tcp_if_include "$subnet"
  --mca pml ob1
  --mca btl tcp,self
)

# mpirun itself runs on the first host, like a login on a cluster's first node.
# It may print "plm:rsh: Warning: setpgid(N,N) failed in parent with
# errno=Permission denied": a harmless race that Open MPI ignores (the agent
# already made its own process group and exec'd before mpirun's call).
# In the background with `wait`, because bash runs a trap (INT, TERM) only once
# the foreground command ends: waiting lets a signal end the test at once, and
# cleanup stops mpirun.
mpi_pid=""
run_mpi() {
  local status=0
  timeout -k 10 "$mpirun_timeout" "$hosts_sh" exec "$first_host" "$mpirun" "${mpi_args[@]}" "$@" &
  mpi_pid=$!
  wait "$mpi_pid" || status=$?
  mpi_pid=""
  if ((status == 124 || status == 137)); then
    echo "multihost: FAILED: mpirun did not finish within $mpirun_timeout s" >&2
  fi
  return "$status"
}

# No process may outlive mpirun on any host (a stray orted would keep the
# namespace alive and, on a real cluster, a node busy).
check_no_strays() {
  local ns pids=""
  for _ in $(seq 50); do
    pids=""
    for ns in $("$hosts_sh" list | awk '{print $1}'); do
      pids+="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    done
    [[ -z "${pids// /}" ]] && return 0
    sleep 0.1
  done
  echo "multihost: FAILED: processes left on the hosts after mpirun:" >&2
  for pid in $pids; do
    echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
  done
  return 1
}

# (a) with a routing tree of fan-out 1, so mpirun starts the second host's
# daemon and that daemon the third's (tree spawn, as on large clusters): the
# agent's log shows who launched whom.
echo "multihost: (a) the executor suite across $ranks ranks on $hosts hosts, daemons in a chain"
export RANKPOOL_NETNS_RSH_LOG="$work/rsh.log"
if ! run_mpi --mca routed_radix 1 "$executor_test" --gtest_color=no; then
  echo "multihost: FAILED: the executor suite across hosts" >&2
  exit 1
fi
unset RANKPOOL_NETNS_RSH_LOG
sed -n 's/^.* netns-rsh on \([^:]*\): \[\([^]]*\)\].*$/multihost: daemon for \2 started from \1/p' "$work/rsh.log"
check_no_strays

# (b) with the BTL layer's own report of which transport reaches each peer:
# "mca: bml: Using tcp btl for send to [[job,1],r] on node <host>". The
# report goes to a file, the rest is shown.
echo "multihost: (b) the multi-host checks, with the BTL choice logged"
log="$work/check.log"
status=0
run_mpi --mca btl_base_verbose 30 -x RANKPOOL_MULTIHOST_EXPECT_HOSTS="$hosts" \
  "$check" --gtest_color=no >"$log" 2>&1 || status=$?
grep -v -e 'btl:' -e 'mca:' -e 'select:' "$log" || true
if ((status != 0)); then
  echo "multihost: FAILED: the multi-host checks exited with $status; full log:" >&2
  cat "$log" >&2
  exit 1
fi
check_no_strays

# Open MPI connects peers on first use, so not every pair of ranks shows up;
# but every worker talks to rank 0 and rank 0 to every worker. Each such pair
# must have chosen TCP, and no pair anything but TCP (or self, for itself).
other="$(grep 'mca: bml: Using' "$log" | grep -v -e 'Using tcp btl' -e 'Using self btl' || true)"
if [[ -n "$other" ]]; then
  echo "multihost: FAILED: a transport other than TCP was chosen:" >&2
  echo "$other" >&2
  exit 1
fi
to_rank() { grep -c "mca: bml: Using tcp btl for send to \[\[[0-9]*,1\],$1\]" "$log" || true; }
if (($(to_rank 0) != ranks - 1)); then
  echo "multihost: FAILED: $(to_rank 0) of $((ranks - 1)) workers reached rank 0 over TCP" >&2
  exit 1
fi
for ((r = 1; r < ranks; r++)); do
  if (($(to_rank "$r") < 1)); then
    echo "multihost: FAILED: nobody reached rank $r over TCP" >&2
    exit 1
  fi
done
echo "multihost: BTL report: all $((ranks - 1)) workers reach rank 0 over TCP, rank 0 reaches all of them;" \
  "$(grep -c 'mca: bml: Using tcp btl' "$log") pairs over TCP, none over another transport"

echo "multihost: passed in $((SECONDS - started)) s"
