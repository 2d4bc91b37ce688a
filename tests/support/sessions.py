"""Processes of a test's session, read from /proc: the Python suites start
each job in a session of its own (start_new_session=True) and use these to
find and end whatever of it is left."""

import os
import signal
import time


def proc_stat(pid):
    """(state, session id) of a process, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # pid (comm) state ppid pgrp session ...; comm may contain spaces or ')'.
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[3])


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def session_members(sid):
    """Live (non-zombie) processes of session sid."""
    members = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st is not None and st[1] == sid and st[0] not in ("Z", "X"):
            members.append(pid)
    return members


def kill_session(sid, deadline_seconds=10.0):
    """SIGKILLs every process of session sid, repeating until none is left:
    a process forked while we were scanning escapes one pass, not the next."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        members = session_members(sid)
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise AssertionError("session %d survives SIGKILL: %s" % (sid, members))
        time.sleep(0.01)
