#!/usr/bin/env bash
# Starts a private Slurm cluster on this machine, for the tests and for trying
# the cluster-configs/ scripts without a real cluster: munged, slurmctld and
# slurmd, every file they use (config, state, spool, logs, pid files, the munge
# key and socket) under one temporary root, and all of them inside a PID
# namespace (unshare --pid --kill-child), so stopping that namespace's first
# process ends them all: nothing is left behind. Needs root and the Debian
# packages slurmctld slurmd slurm-client munge (scripts/setup.sh installs them).
#
#   eval "$(scripts/slurm-up.sh [--cpus N] [--nodes 1])"   # prints the exports below
#   sbatch ... ; srun ... ; squeue ...
#   scripts/slurm-down.sh                                 # uses RANKPOOL_SLURM_ROOT
#
#   eval "$(scripts/slurm-up.sh --netns [--cpus N])"      # two nodes, two pretend hosts
#   scripts/netns-hosts.sh exec "$RANKPOOL_SLURM_LOGIN" sbatch ...
#
# With --netns the two nodes are two hosts of scripts/netns-hosts.sh (network
# namespaces with their own address and hostname, joined by a private
# switch): slurmctld and the first slurmd run on the first, the second slurmd
# on the other, and jobs' ranks talk over TCP between them. Clients (sbatch,
# squeue) must run on a host too: RANKPOOL_SLURM_LOGIN names the first.
#
# Prints, on stdout, `export SLURM_CONF=...` and `export RANKPOOL_SLURM_ROOT=...`
# (and, with --netns, the netns-hosts settings) for the commands that follow;
# progress and errors go to stderr. Exits 77 (the tests' "skipped") when this
# machine cannot run it: not root, a package missing, or no PID (or, with
# --netns, network) namespaces; with CI=true it exits 1 instead, naming what
# is missing.
set -euo pipefail

cpus=4
nodes=1
netns=false
while (($# > 0)); do
  case "$1" in
    --cpus) cpus="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --netns) netns=true; nodes=2; shift ;;
    *) echo "usage: $0 [--cpus N] [--nodes N] [--netns]" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Under CI (CI set, and not "false" or "0") a missing capability is a
# failure: CI has root, namespaces and cgroups, so their absence is a fault.
skip() {
  case "${CI:-}" in
    "" | false | 0) ;;
    *)
      echo "slurm-up: FAILED (CI=$CI): cannot run here: $*" >&2
      exit 1
      ;;
  esac
  echo "slurm-up: cannot run here: $*" >&2
  exit 77
}
[[ "$(id -u)" -eq 0 ]] || skip "the Slurm daemons of this harness run as root (run as root, e.g. in CI)"
for tool in munged slurmctld slurmd sbatch srun squeue sinfo scontrol unshare; do
  command -v "$tool" >/dev/null 2>&1 ||
    skip "'$tool' not found (Debian packages slurmctld slurmd slurm-client munge; scripts/setup.sh installs them)"
done
unshare --pid --fork --kill-child true 2>/dev/null || skip "cannot make a PID namespace (unshare --pid)"
[[ -d /sys/fs/cgroup ]] || skip "no /sys/fs/cgroup (slurmd will not start without the cgroup file system)"

hosts_sh="$here/netns-hosts.sh"
if $netns; then
  command -v ip >/dev/null 2>&1 || skip "'ip' not found (Debian package iproute2)"
  probe="rpslprobe$$"
  ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace ('ip netns add')"
  ip netns del "$probe" || true
fi

root="$(mktemp -d /tmp/rankpool-slurm.XXXXXX)"
chmod 755 "$root"
mkdir -p "$root"/{etc,state,spool,log,run,tmp,munge}
chmod 700 "$root/munge"
host="$(hostname -s)"
if $netns; then
  # Two pretend hosts on a subnet of their own, named after this root.
  export RANKPOOL_NETNS_PREFIX="rpsl${root##*.}-"
  export RANKPOOL_NETNS_HOSTS=2
  export RANKPOOL_NETNS_NET="10.78.$((RANDOM % 250))"
  "$hosts_sh" up >&2
  mapfile -t host_names < <("$hosts_sh" list | awk '{print $1}')
  mapfile -t host_addrs < <("$hosts_sh" list | awk '{print $2}')
fi

# Ports of our own, so that two clusters (or a real slurmd) never collide: a
# block of 2 ports per node plus 1, chosen from this root's name.
base=$((20000 + ($(cksum <<<"$root" | cut -d' ' -f1) % 20000)))
ctld_port="$base"

# The munge key: 1 KiB of randomness, readable by root only, as munged insists.
dd if=/dev/urandom of="$root/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$root/munge/munge.key"

conf="$root/etc/slurm.conf"
{
  echo "# Written by scripts/slurm-up.sh for a private test cluster."
  echo "ClusterName=rankpool"
  if $netns; then
    echo "SlurmctldHost=${host_names[0]}(${host_addrs[0]})"
  else
    echo "SlurmctldHost=$host(127.0.0.1)"
  fi
  echo "SlurmctldPort=$ctld_port"
  echo "SlurmUser=root"
  echo "SlurmdUser=root"
  echo "AuthType=auth/munge"
  echo "CredType=cred/munge"
  echo "AuthInfo=socket=$root/munge/munge.socket"
  echo "StateSaveLocation=$root/state"
  echo "SlurmdSpoolDir=$root/spool/%n"
  echo "SlurmctldPidFile=$root/run/slurmctld.pid"
  echo "SlurmdPidFile=$root/run/slurmd-%n.pid"
  echo "SlurmctldLogFile=$root/log/slurmctld.log"
  echo "SlurmdLogFile=$root/log/slurmd-%n.log"
  # No cgroups, no accounting: what a container or a CI machine allows.
  echo "ProctrackType=proctrack/linuxproc"
  echo "TaskPlugin=task/none"
  echo "JobAcctGatherType=jobacct_gather/none"
  echo "AccountingStorageType=accounting_storage/none"
  echo "SelectType=select/cons_tres"
  echo "SelectTypeParameters=CR_Core"
  echo "SchedulerType=sched/backfill"
  # An impossible job is refused at submission rather than left pending.
  echo "EnforcePartLimits=ALL"
  # Nodes may declare more CPUs than this machine has.
  echo "SlurmdParameters=config_overrides"
  echo "ReturnToService=2"
  echo "MpiDefault=none"
  echo "TmpFS=$root/tmp/%n"  # per node: PMIx keeps per-node files there
  echo "KillWait=5"
  echo "MinJobAge=60"
  echo "InactiveLimit=0"
  # Limits are enforced this often (seconds); the default is 30.
  echo "OverTimeLimit=0"
  for ((n = 1; n <= nodes; n++)); do
    if $netns; then
      echo "NodeName=node$n NodeHostname=${host_names[n - 1]} NodeAddr=${host_addrs[n - 1]} Port=$((ctld_port + n)) CPUs=$cpus State=UNKNOWN"
    else
      echo "NodeName=node$n NodeHostname=$host NodeAddr=127.0.0.1 Port=$((ctld_port + n)) CPUs=$cpus State=UNKNOWN"
    fi
  done
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
} >"$conf"
for ((n = 1; n <= nodes; n++)); do mkdir -p "$root/spool/node$n" "$root/tmp/node$n"; done

# The supervisor: first process of a new PID namespace. --kill-child ends the
# namespace (every daemon and every job step in it) when unshare itself ends.
cat >"$root/run/supervise.sh" <<EOF
#!/usr/bin/env bash
set -u
export SLURM_CONF="$conf"
munged -F --force --socket="$root/munge/munge.socket" --key-file="$root/munge/munge.key" \\
  --pid-file="$root/run/munged.pid" --log-file="$root/log/munged.log" \\
  --seed-file="$root/munge/munged.seed" >>"$root/log/munged.out" 2>&1 &
for _ in \$(seq 100); do [[ -S "$root/munge/munge.socket" ]] && break; sleep 0.05; done
on_host() {  # on_host N CMD...: on pretend host N with --netns, else here
  if $netns; then
    local n="\$1"
    shift
    # nsenter, not \`ip netns exec\`: that remounts /sys without the cgroup
    # file system, and slurmd will not start without it.
    nsenter --net="/run/netns/\${hosts[n - 1]}" unshare --uts -- \\
      sh -c 'hostname "\$0" && exec "\$@"' "\${hosts[n - 1]}" "\$@"
  else
    shift
    "\$@"
  fi
}
hosts=(${host_names[*]:-})
on_host 1 slurmctld -D -i -f "$conf" >>"$root/log/slurmctld.out" 2>&1 &
for ((n = 1; n <= $nodes; n++)); do
  on_host "\$n" slurmd -D -f "$conf" -N "node\$n" >>"$root/log/slurmd.out" 2>&1 &
done
wait
EOF
chmod +x "$root/run/supervise.sh"
setsid unshare --pid --fork --kill-child --mount-proc "$root/run/supervise.sh" </dev/null \
  >>"$root/log/supervise.out" 2>&1 &
# Clients: here, or on the first pretend host.
client=()
if $netns; then
  client=("$hosts_sh" exec "${host_names[0]}")
  {
    echo "RANKPOOL_NETNS_PREFIX=$RANKPOOL_NETNS_PREFIX"
    echo "RANKPOOL_NETNS_HOSTS=$RANKPOOL_NETNS_HOSTS"
    echo "RANKPOOL_NETNS_NET=$RANKPOOL_NETNS_NET"
  } >"$root/run/netns.env"
fi
echo $! >"$root/run/unshare.pid"

export SLURM_CONF="$conf"
# Ready when every node is idle: usually about a second.
for _ in $(seq 200); do
  idle="$("${client[@]}" sinfo -h -N -t idle -o '%N' 2>/dev/null | sort -u | wc -l || true)"
  if ((idle >= nodes)); then
    echo "slurm-up: $nodes node(s) idle, root $root" >&2
    echo "export SLURM_CONF=$conf"
    echo "export RANKPOOL_SLURM_ROOT=$root"
    if $netns; then
      echo "export RANKPOOL_NETNS_PREFIX=$RANKPOOL_NETNS_PREFIX"
      echo "export RANKPOOL_NETNS_HOSTS=$RANKPOOL_NETNS_HOSTS"
      echo "export RANKPOOL_NETNS_NET=$RANKPOOL_NETNS_NET"
      echo "export RANKPOOL_SLURM_LOGIN=${host_names[0]}"
    fi
    exit 0
  fi
  sleep 0.1
done
echo "slurm-up: the cluster did not come up within 20 s; its logs:" >&2
tail -n 20 "$root"/log/* >&2 || true
RANKPOOL_SLURM_ROOT="$root" "$here/slurm-down.sh" || true
exit 1
