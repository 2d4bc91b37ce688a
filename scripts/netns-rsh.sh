#!/usr/bin/env bash
# A stand-in for ssh that "logs in" to the pretend hosts of netns-hosts.sh:
# Open MPI's rsh launcher calls it (--mca plm_rsh_agent <this script>) as
#   netns-rsh.sh [ssh/rsh options] <host> <command words...>
# where <host> is a name or address from the hostfile. It runs the command on
# that host, i.e. inside the host's network namespace with its own hostname.
#
# Like ssh, it joins the command words with spaces and hands the line to the
# user's login shell: Open MPI quotes for that (it passes e.g. ' orted' and
# '"1640103936.0;tcp://10.77.0.1:46265"' as separate words and relies on the
# remote shell to drop the quotes and split the line).
#
# Like ssh, the command starts with a fresh login environment (HOME, USER,
# LOGNAME, SHELL, a default PATH), not mpirun's: whatever the daemons need
# must come across the command line, as it would between real hosts.
#
# The one exception: the RANKPOOL_NETNS_* settings of netns-hosts.sh are
# passed on (as ssh's SendEnv would), so that a daemon started through this
# script can start further daemons through it too (Open MPI's tree spawn).
#
# RANKPOOL_NETNS_RSH_LOG=<file> appends each call's arguments to <file>.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ -n "${RANKPOOL_NETNS_RSH_LOG:-}" ]]; then
  {
    printf '%s netns-rsh on %s:' "$(date +%T.%N)" "$(hostname)"
    printf ' [%s]' "$@"
    printf '\n'
  } >>"$RANKPOOL_NETNS_RSH_LOG"
fi

# Skip ssh-style options before the host: Open MPI adds none to an agent that
# is not ssh, but plm_rsh_args or an ssh-minded caller may (e.g. -x, -l root).
while (($# > 0)); do
  case "$1" in
    --)
      shift
      break
      ;;
    -[bcDEeFIiJLlmOopQRSWw])  # options that take a value: skip it too
      (($# >= 2)) || break
      shift 2
      ;;
    -?*) shift ;;  # flags such as -x, -n, -T, -q, -4
    *) break ;;
  esac
done

if (($# < 2)); then
  echo "usage: netns-rsh.sh [options] <host> <command...>" >&2
  exit 255  # ssh's status for its own failures
fi
host="$1"
shift

# The login shell, as sshd would pick it (Open MPI writes the command line for
# the shell it assumes is there, plm_rsh_assume_same_shell).
user="$(id -un)"
login_shell="$(getent passwd "$user" | cut -d: -f7)"
[[ -x "$login_shell" ]] || login_shell=/bin/sh

login_env=(
  HOME="$(getent passwd "$user" | cut -d: -f6)" USER="$user" LOGNAME="$user" SHELL="$login_shell"
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
)
for name in "${!RANKPOOL_NETNS_@}"; do
  login_env+=("$name=${!name}")
done

exec "$here/netns-hosts.sh" exec "$host" env -i "${login_env[@]}" "$login_shell" -c "$*"
