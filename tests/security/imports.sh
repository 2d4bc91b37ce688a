#!/usr/bin/env bash
# Item 8 of the reliability issue, checked on the compiled code: which C
# library functions our static archives call. Any listening socket in an
# executor process must be MPI's, so no archive of ours may call the socket
# functions; and nothing received may be run as code, so the library must
# not call anything that starts a program or loads one.
#   imports.sh no-sockets ARCHIVE...   (librankpool, rankpool-run's code)
#   imports.sh no-exec ARCHIVE...      (librankpool only: rankpool-run spawns
#                                       commands, which is its purpose)
# One exception: isolated calls fork the worker (src/isolation/call_process.cpp), a
# copy of this program that runs registered calls and never starts another
# program; fork is allowed in that object only, exec stays forbidden everywhere.
# Open MPI's C++ bindings declare MPI_Comm_accept and friends in every
# object (virtual functions); those are MPI's API, not calls, and not checked.
set -euo pipefail

mode="${1:?usage: imports.sh no-sockets|no-exec ARCHIVE...}"
shift
case "$mode" in
  no-sockets) forbidden='socket|socketpair|bind|listen|accept|accept4|connect|getaddrinfo' ;;
  no-exec) forbidden='system|popen|fork|vfork|clone|execl|execlp|execle|execv|execvp|execvpe|execve|fexecve|posix_spawn|posix_spawnp|dlopen|dlmopen|dlsym|dlvsym' ;;
  *)
    echo "imports.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac

status=0
for archive in "$@"; do
  # Undefined symbols, versions stripped (e.g. socket@GLIBC_2.2.5), with
  # the object that uses each ("lib.a[obj.o]: sym U").
  found="$(nm -A --undefined-only --format=posix "$archive" |
    awk '{sub(/:$/, "", $1); print $1, $2}' | sed 's/@[^ ]*$//' |
    awk -v mode="$mode" '!(mode == "no-exec" && $2 == "fork" && $1 ~ /\[call_process\.cpp\.o\]$/) {print $2}' |
    grep -xE "$forbidden" | sort -u || true)"
  if [[ -n "$found" ]]; then
    echo "FAIL $archive calls: $(echo "$found" | tr '\n' ' ')"
    status=1
  else
    echo "ok   $archive: none of $forbidden"
  fi
done
exit "$status"
