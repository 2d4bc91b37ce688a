#!/usr/bin/env python3
"""A worker call that kills its process, under mpirun (Open MPI 4.1 defaults).

    python3 tests/faults/test_faults.py --binary PATH/rankpool_crash_program [unittest args]

Each test runs `mpirun -n 3 --oversubscribe crash_program MODE` in a session
of its own and asserts what docs/reliability.md promises: the whole job ends
promptly (within PROMPT seconds; one that hangs is killed at JOB_BOUND), with
a non-zero status, no process of it left behind, and stderr has rankpool's
line naming the worker's rank and the call. The bound is generous for a noisy
CI machine; a run takes ~2 s.
"""

import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from sessions import kill_session, session_members  # noqa: E402

BINARY = None
RANKS = 3
JOB_BOUND = 60  # seconds: run_job kills a job still running then (a hang)
PROMPT = 20  # seconds: "ends promptly", from mpirun's start; a run takes ~2 s

# rankpool's line, written by the dying worker (src/worker/crash_report.cpp).
REPORT = re.compile(
    r"rankpool: worker rank (?P<rank>\d+)(?: \(MPI_COMM_WORLD rank (?P<world>\d+)\))?"
    r" on host (?P<host>\S+) died of signal (?P<signal>SIG[A-Z]+)"
    r" while running '(?P<call>[^']+)' \(call (?P<id>\d+)\)")
# The same for a crash in the executor's initializer (no call id).
INIT_REPORT = re.compile(
    r"rankpool: worker rank (?P<rank>\d+) on host \S+ died of signal SIGSEGV"
    r" while running the initializer 'crash::segfault'\n")
# Open MPI's own notice, for the same death (its rank is MPI_COMM_WORLD's).
OMPI_NOTICE = re.compile(r"process rank (?P<rank>\d+) with PID \d+ on node \S+ exited on signal")


def _parse_own_args(argv):
    global BINARY
    rest = [argv[0]]
    i = 1
    while i < len(argv):
        if argv[i] == "--binary" and i + 1 < len(argv):
            BINARY = os.path.abspath(argv[i + 1])
            i += 2
        elif argv[i].startswith("--binary="):
            BINARY = os.path.abspath(argv[i].split("=", 1)[1])
            i += 1
        else:
            rest.append(argv[i])
            i += 1
    if BINARY is None or not os.access(BINARY, os.X_OK):
        sys.exit("usage: %s --binary PATH/rankpool_crash_program [unittest options]" % argv[0])
    return rest


def _environment():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", LC_ALL="C")
    return env


class Run:
    def __init__(self, returncode, stdout, stderr, seconds, leftovers):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.leftovers = leftovers

    def __repr__(self):
        return "exit %s after %.1f s\n--- stdout:\n%s\n--- stderr:\n%s" % (
            self.returncode, self.seconds, self.stdout[-3000:], self.stderr[-3000:])


def run_job(mode, extra_mpirun_args=()):
    """Runs the crash program under mpirun; kills it if it outlives JOB_BOUND."""
    command = (["mpirun", "--oversubscribe", "-n", str(RANKS)] + list(extra_mpirun_args)
               + [BINARY, mode])
    started = time.monotonic()
    proc = subprocess.Popen(command, env=_environment(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=JOB_BOUND)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        out, err = proc.communicate()
        raise AssertionError("mode %s: the job did not end within %d s\n--- stderr:\n%s" % (
            mode, JOB_BOUND, err.decode("utf-8", "replace")[-3000:]))
    seconds = time.monotonic() - started
    leftovers = []
    for _ in range(40):  # a rank that is just exiting gets a moment
        leftovers = session_members(proc.pid)
        if not leftovers:
            break
        time.sleep(0.05)
    kill_session(proc.pid)  # nothing of this run may linger into the next test
    sys.stderr.write("[%s: exit %s after %.2f s] " % (mode, proc.returncode, seconds))
    return Run(proc.returncode, out.decode("utf-8", "replace"),
               err.decode("utf-8", "replace"), seconds, leftovers)


class CrashEndsTheJobTest(unittest.TestCase):
    def assert_job_ended_naming(self, run, signal_name, call):
        """The common promise; returns rankpool's report (a regex match)."""
        self.assertLess(run.seconds, PROMPT, run)
        self.assertNotEqual(run.returncode, 0, run)
        self.assertEqual(run.leftovers, [], run)
        reports = list(REPORT.finditer(run.stderr))
        self.assertEqual(len(reports), 1, run)
        report = reports[0]
        self.assertEqual(report.group("signal"), signal_name, run)
        self.assertEqual(report.group("call"), call, run)
        self.assertIn(int(report.group("rank")), range(1, RANKS), run)  # a worker, never the root
        self.assertGreater(int(report.group("id")), 10, run)  # after the 10 good calls
        return report

    def assert_ompi_names_the_same_rank(self, run, world_rank):
        notice = OMPI_NOTICE.search(run.stderr)
        self.assertIsNotNone(notice, run)
        self.assertEqual(int(notice.group("rank")), world_rank, run)

    def test_segfault(self):
        run = run_job("segfault")
        report = self.assert_job_ended_naming(run, "SIGSEGV", "crash::segfault")
        self.assertIsNone(report.group("world"), run)  # executor ranks are world ranks here
        self.assert_ompi_names_the_same_rank(run, int(report.group("rank")))

    def test_abort(self):
        run = run_job("abort")
        report = self.assert_job_ended_naming(run, "SIGABRT", "crash::abort_now")
        self.assert_ompi_names_the_same_rank(run, int(report.group("rank")))

    def test_stack_overflow_is_reported_from_the_alternate_stack(self):
        run = run_job("overflow")
        report = self.assert_job_ended_naming(run, "SIGSEGV", "crash::overflow")
        self.assert_ompi_names_the_same_rank(run, int(report.group("rank")))

    def test_the_users_own_handler_still_runs(self):
        run = run_job("chain")
        self.assert_job_ended_naming(run, "SIGSEGV", "crash::segfault")
        # The program's handler ran after rankpool's line and chose the exit status.
        self.assertIn("the user's own SIGSEGV handler ran", run.stderr, run)
        self.assertLess(run.stderr.index("rankpool: worker rank"),
                        run.stderr.index("the user's own SIGSEGV handler ran"), run)
        self.assertEqual(run.returncode, 7, run)

    def test_world_rank_is_named_when_it_differs(self):
        run = run_job("reversed")
        report = self.assert_job_ended_naming(run, "SIGSEGV", "crash::segfault_on_world_rank_0")
        self.assertEqual(report.group("rank"), str(RANKS - 1), run)
        self.assertEqual(report.group("world"), "0", run)
        self.assert_ompi_names_the_same_rank(run, 0)

    def test_initializer(self):
        run = run_job("initializer")
        self.assertLess(run.seconds, PROMPT, run)
        self.assertNotEqual(run.returncode, 0, run)
        self.assertEqual(run.leftovers, [], run)
        # Every worker runs the initializer; at least one reports before the job is torn down.
        ranks = {int(m.group("rank")) for m in INIT_REPORT.finditer(run.stderr)}
        self.assertTrue(ranks and ranks <= set(range(1, RANKS)), run)
        notice = OMPI_NOTICE.search(run.stderr)
        self.assertIsNotNone(notice, run)
        self.assertIn(int(notice.group("rank")), ranks, run)

    def test_stuck_call_then_mpi_abort_ends_the_job(self):
        run = run_job("stuck")
        self.assertLess(run.seconds, PROMPT, run)
        self.assertEqual(run.returncode, 3, run)  # MPI_Abort's error code
        self.assertEqual(run.leftovers, [], run)
        self.assertIn("gave up on a stuck call; MPI_Abort", run.stderr, run)
        self.assertIsNone(REPORT.search(run.stderr), run)  # SIGTERM/SIGKILL: no report

    def test_control_without_a_crash(self):
        run = run_job("exit_ok")
        self.assertEqual(run.returncode, 0, run)
        self.assertEqual(run.leftovers, [], run)
        self.assertIsNone(REPORT.search(run.stderr), run)
        self.assertIn("root ran 10 calls", run.stdout, run)


if __name__ == "__main__":
    sys.argv = _parse_own_args(sys.argv)
    unittest.main(verbosity=2)
