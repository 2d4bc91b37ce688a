#!/usr/bin/env python3
"""End-to-end tests of rankpool-run, the resumable task farm.

    python3 tests/run/test_rankpool_run.py --binary PATH [--ranks N] [unittest args]

--ranks 1 (the default) runs the binary directly (local mode: one worker
thread per core); --ranks N > 1 runs it as `mpirun --oversubscribe -n N`.
Every test works in its own temporary directory, starts every farm in a
session of its own and kills that session if a run exceeds its timeout.

RANKPOOL_RUN_TEST_SEED=<int> replays the random kill moments of
test_kill_at_random_moments_then_resume (the seed is printed on failure).
"""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from sessions import all_pids, kill_session, proc_stat, session_members  # noqa: E402

BINARY = None
RANKS = 1
RUN_TIMEOUT = 60  # seconds, for every subprocess

JOURNAL_KEYS = ["task", "line", "command", "status", "exit_code", "signal",
                "start", "end", "host", "rank"]


def _parse_own_args(argv):
    """Takes --binary PATH and --ranks N (also --binary=PATH) out of argv."""
    global BINARY, RANKS
    rest = [argv[0]]
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("--binary", "--ranks"):
            if i + 1 >= len(argv):
                sys.exit("%s needs a value" % arg)
            value = argv[i + 1]
            i += 2
        elif arg.startswith("--binary=") or arg.startswith("--ranks="):
            arg, value = arg.split("=", 1)
            i += 1
        else:
            rest.append(arg)
            i += 1
            continue
        if arg == "--binary":
            BINARY = os.path.abspath(value)
        else:
            RANKS = int(value)
    if BINARY is None:
        sys.exit("usage: %s --binary PATH [--ranks N] [unittest options]" % argv[0])
    if not os.access(BINARY, os.X_OK):
        sys.exit("not an executable: %s" % BINARY)
    if RANKS < 1:
        sys.exit("--ranks must be at least 1")
    return rest


def farm_command(args):
    if RANKS > 1:
        return ["mpirun", "--oversubscribe", "-n", str(RANKS), BINARY] + list(args)
    return [BINARY] + list(args)


def farm_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKPOOL_")}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", LC_ALL="C")
    return env


# ---------------------------------------------------------------- processes

def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def processes_with(marker):
    """Live processes whose command line contains marker."""
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        cmdline = _cmdline(pid)
        st = proc_stat(pid)
        if marker in cmdline and st is not None and st[0] not in ("Z", "X"):
            found.append((pid, cmdline))
    return found


class Result:
    def __init__(self, returncode, stdout, stderr, seconds, leftovers):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.seconds = seconds
        self.leftovers = leftovers  # processes of the run still alive after it ended

    def __repr__(self):
        return "exit %s after %.2f s\n--- stdout:\n%s\n--- stderr:\n%s" % (
            self.returncode, self.seconds, self.stdout[-3000:], self.stderr[-3000:])


def run_farm(args, cwd, stdin_text=None, timeout=RUN_TIMEOUT):
    """Runs rankpool-run (under mpirun for RANKS > 1) in a session of its own."""
    started = time.monotonic()
    proc = subprocess.Popen(
        farm_command(args), cwd=cwd, env=farm_environment(),
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(
            stdin_text.encode() if stdin_text is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        out, err = proc.communicate()
        raise AssertionError("rankpool-run %s did not end within %s s\n--- stderr:\n%s" % (
            args, timeout, err.decode("utf-8", "replace")[-3000:]))
    seconds = time.monotonic() - started
    leftovers = []
    for _ in range(10):  # give a process that is just exiting a moment
        leftovers = [(pid, _cmdline(pid)) for pid in session_members(proc.pid)]
        if not leftovers:
            break
        time.sleep(0.05)
    kill_session(proc.pid)  # nothing of this run may linger into the next test
    return Result(proc.returncode, out.decode("utf-8", "replace"),
                  err.decode("utf-8", "replace"), seconds, leftovers)


# ---------------------------------------------------------------- files

def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_lines(path):
    if not os.path.exists(path):
        return []
    return [line for line in read(path).split("\n") if line]


def read_journal(path, strict=True):
    """The journal's records; strict: every line must be a JSON object."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    for number, line in enumerate(data.split("\n"), 1):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if strict:
                raise AssertionError("%s:%d is not JSON: %r" % (path, number, line))
            continue
        if not isinstance(record, dict):
            raise AssertionError("%s:%d is not a JSON object: %r" % (path, number, line))
        records.append(record)
    return records


def by_task(records):
    tasks = {}
    for r in records:
        tasks.setdefault(r["task"], []).append(r)
    return tasks


def summary_line(stderr):
    for line in stderr.splitlines():
        if line.startswith("rankpool-run: ") and " tasks: " in line:
            return line
    return None


class FarmTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self._dir = tempfile.TemporaryDirectory(prefix="rankpool-run-test-")
        self.addCleanup(self._dir.cleanup)
        self.dir = self._dir.name

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def farm(self, args, **kwargs):
        r = run_farm(args, self.dir, **kwargs)
        self.assertEqual(r.leftovers, [], "processes of rankpool-run %s outlived it" % args)
        return r

    def taskfile(self, text, name="tasks.txt"):
        write(self.path(name), text)
        return name

    def journal(self, name="tasks.txt.journal", strict=True):
        return read_journal(self.path(name), strict)

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code, result)


# ---------------------------------------------------------------- 1, 2: errors

class ParsingAndUsageTest(FarmTestCase):

    def test_malformed_directive_is_usage_error_naming_file_and_line(self):
        for bad in ("#RANKPOOL REPEAT x echo", "#RANKPOOL BOGUS", "#RANKPOOL BARRIER extra"):
            with self.subTest(directive=bad):
                marker = self.path("made-by-task")
                if os.path.exists(marker):
                    os.remove(marker)
                name = self.taskfile(
                    "# tasks before the mistake must not run\n"
                    "touch made-by-task\n"
                    "#RANKPOOL REPEAT 2 touch made-by-task\n"
                    + bad + "\n"
                    "touch made-by-task\n")
                r = self.farm([name])
                self.assertExit(r, 2)
                self.assertIn("tasks.txt:4:", r.stderr, r)
                self.assertFalse(os.path.exists(marker), "a task ran before the parse error")
                self.assertEqual(self.journal(), [], "a malformed task file left journal records")

    def test_usage_errors_exit_2(self):
        name = self.taskfile("touch ran\n")
        cases = {
            "missing TASKFILE": [],
            "--retry-failed without --resume": ["--retry-failed", name],
            "unknown option": ["--no-such-option", name],
            "nonexistent task file": ["does-not-exist.txt"],
        }
        for what, args in cases.items():
            with self.subTest(what):
                r = self.farm(args)
                self.assertExit(r, 2)
                self.assertIn("rankpool-run:", r.stderr, r)
                if what == "nonexistent task file":
                    self.assertIn("does-not-exist.txt", r.stderr, r)
                self.assertFalse(os.path.exists(self.path("ran")), "a task ran after a usage error")
                self.assertFalse(os.path.exists(self.path("tasks.txt.journal")))


# ---------------------------------------------------------------- 3: exit codes

class ExitCodeTest(FarmTestCase):

    def test_all_ok_exits_0_and_one_failure_exits_1(self):
        name = self.taskfile("true\necho hello\nexit 0\n")
        r = self.farm([name])
        self.assertExit(r, 0)
        self.assertIn("3 tasks: 3 ok, 0 failed", summary_line(r.stderr) or "", r)
        self.assertEqual(r.stdout.count("hello"), 1, r)

        name = self.taskfile("true\nfalse\ntrue\n", "fails.txt")
        r = self.farm([name])
        self.assertExit(r, 1)
        self.assertIn("3 tasks: 2 ok, 1 failed", summary_line(r.stderr) or "", r)
        records = self.journal("fails.txt.journal")
        self.assertEqual(sorted((x["task"], x["status"]) for x in records),
                         [(0, "ok"), (1, "failed"), (2, "ok")])


    def test_progress_bar_is_drawn_on_request(self):
        # stderr is a pipe here, so without --progress no bar is drawn.
        name = self.taskfile("sleep 0.3\nsleep 0.3\nsleep 0.3\n")
        r = self.farm([name])
        self.assertExit(r, 0)
        self.assertNotIn("tasks/s", r.stderr, r)
        r = self.farm(["--progress", "--journal", "again.journal", name])
        self.assertExit(r, 0)
        self.assertIn("tasks/s", r.stderr, r)
        self.assertIn("/3 done", r.stderr, r)

    def test_sync_journal_holds_every_record(self):
        name = self.taskfile("true\nfalse\ntrue\n")
        r = self.farm(["--sync", name])
        self.assertExit(r, 1)
        self.assertEqual(sorted((x["task"], x["status"]) for x in self.journal()),
                         [(0, "ok"), (1, "failed"), (2, "ok")])


# ---------------------------------------------------------------- 4: environment

class EnvironmentTest(FarmTestCase):

    def test_task_environment_repeat_prefix_and_suffix(self):
        rec = ('echo "$RANKPOOL_TASK_ID $RANKPOOL_TASK_LINE $RANKPOOL_WORKER_RANK '
               '$RANKPOOL_NWORKERS ${RANKPOOL_REPEAT_INDEX-none} %s" >> env.log')
        name = self.taskfile(
            "# line 1: a comment\n"
            + rec % "plain" + "\n"                                   # line 2: task 0
            "\n"                                                     # line 3
            "#RANKPOOL REPEAT 3 start 10 step 5 " + rec % "rep" + "\n"  # line 4: tasks 1-3
            "#RANKPOOL PREFIX W=wrapped;\n"                          # line 5
            '#RANKPOOL SUFFIX ; echo "$RANKPOOL_TASK_ID suffix" >> suffix.log\n'
            + rec % "$W" + "\n")                                     # line 7: task 4
        r = self.farm([name])
        self.assertExit(r, 0)
        rows = sorted((line.split() for line in read_lines(self.path("env.log"))),
                      key=lambda row: int(row[0]))
        self.assertEqual([(row[0], row[1], row[4], row[5]) for row in rows], [
            ("0", "2", "none", "plain"),
            ("1", "4", "10", "rep"),
            ("2", "4", "15", "rep"),
            ("3", "4", "20", "rep"),
            ("4", "7", "none", "wrapped"),
        ])
        self.assertEqual(read_lines(self.path("suffix.log")), ["4 suffix"])
        records = {x["task"]: x for x in self.journal()}
        self.assertEqual(records[4]["command"],
                         "W=wrapped; " + rec % "$W" +
                         ' ; echo "$RANKPOOL_TASK_ID suffix" >> suffix.log')
        for row in rows:
            rank, nworkers = int(row[2]), int(row[3])
            if RANKS > 1:
                self.assertEqual(nworkers, RANKS - 1, row)
                self.assertTrue(1 <= rank <= RANKS - 1, row)
            else:
                self.assertGreaterEqual(nworkers, 1, row)
                self.assertTrue(1 <= rank <= nworkers, row)
            self.assertEqual(records[int(row[0])]["rank"], rank, "journal rank != worker rank")

    def _nworkers(self):
        name = self.taskfile("echo $RANKPOOL_NWORKERS\n", "n.txt")
        r = self.farm([name])
        self.assertExit(r, 0)
        return int(r.stdout.split()[0])

    def test_workers_run_tasks_in_parallel(self):
        # One sleeping task per worker: all of them must overlap in time.
        nworkers = self._nworkers()
        if nworkers < 2:
            self.skipTest("only one worker: nothing can run in parallel")
        name = self.taskfile("#RANKPOOL REPEAT %d sleep 1\n" % nworkers)
        r = self.farm([name])
        self.assertExit(r, 0)
        records = self.journal()
        self.assertEqual(len(records), nworkers)
        self.assertLess(max(x["start"] for x in records), min(x["end"] for x in records),
                        "tasks did not run at the same time on %d workers" % nworkers)
        self.assertEqual(sorted(x["rank"] for x in records), list(range(1, nworkers + 1)),
                         "concurrent tasks should run on distinct workers 1..%d" % nworkers)

    def test_local_mode_has_one_worker_thread_per_core(self):
        if RANKS != 1:
            self.skipTest("local mode only (--ranks 1); got --ranks %d" % RANKS)
        self.assertIn(self._nworkers(), {os.cpu_count(), len(os.sched_getaffinity(0))})

    def test_mpi_mode_has_one_worker_per_rank_but_the_root(self):
        if RANKS < 2:
            self.skipTest("MPI mode only (--ranks 2 or more); got --ranks %d" % RANKS)
        self.assertEqual(self._nworkers(), RANKS - 1)


# ---------------------------------------------------------------- 5: BARRIER

class BarrierTest(FarmTestCase):

    def test_tasks_after_a_barrier_start_after_all_before_it_ended(self):
        task = ('s=$(date +%%s.%%N); sleep %s; '
                'echo "%d $s $(date +%%s.%%N)" >> times.log')
        name = self.taskfile("\n".join([
            task % ("0.1", 1), task % ("0.8", 1), task % ("0.1", 1), task % ("0.2", 1),
            "#RANKPOOL BARRIER",
            "#RANKPOOL BARRIER",  # a second barrier with no task between: no empty phase
            task % ("0.1", 2), task % ("0.3", 2), task % ("0.1", 2),
            "#RANKPOOL BARRIER",
            task % ("0.1", 3), task % ("0.1", 3),
        ]) + "\n")
        r = self.farm([name])
        self.assertExit(r, 0)
        rows = [line.split() for line in read_lines(self.path("times.log"))]
        self.assertEqual(len(rows), 9)
        phase = {p: [(float(s), float(e)) for q, s, e in rows if int(q) == p] for p in (1, 2, 3)}
        for before, after in ((1, 2), (2, 3)):
            last_end = max(e for s, e in phase[before])
            first_start = min(s for s, e in phase[after])
            self.assertGreaterEqual(first_start, last_end,
                                    "phase %d started before phase %d ended" % (after, before))
        # The journal agrees: by task id, phases are tasks 0-3, 4-6, 7-8.
        records = {x["task"]: x for x in self.journal()}
        self.assertGreaterEqual(min(records[i]["start"] for i in (4, 5, 6)),
                                max(records[i]["end"] for i in (0, 1, 2, 3)))
        self.assertGreaterEqual(min(records[i]["start"] for i in (7, 8)),
                                max(records[i]["end"] for i in (4, 5, 6)))


# ---------------------------------------------------------------- 6, 7: output

class OutputTest(FarmTestCase):
    TASKS = 8
    LINES = 50

    def _taskfile(self):
        return self.taskfile(
            "#RANKPOOL REPEAT %d for i in $(seq %d); do echo \"T$RANKPOOL_TASK_ID out $i\"; "
            "echo \"T$RANKPOOL_TASK_ID err $i\" >&2; sleep 0.002; done\n" % (self.TASKS, self.LINES))

    def _check_blocks(self, text, stream, tagged):
        lines = [line for line in text.splitlines()
                 if line.startswith("T") or line.startswith("[")]
        self.assertEqual(len(lines), self.TASKS * self.LINES, text[-2000:])
        blocks = []  # task ids in the order their lines appear, runs collapsed
        for line in lines:
            if tagged:
                self.assertRegex(line, r"^\[\d+\] T\d+ %s \d+$" % stream)
                tag, rest = line.split(" ", 1)
                self.assertEqual(tag, "[%s]" % rest.split()[0][1:], "wrong tag: " + line)
            else:
                self.assertRegex(line, r"^T\d+ %s \d+$" % stream)
                rest = line
            task = int(rest.split()[0][1:])
            if not blocks or blocks[-1][0] != task:
                blocks.append((task, []))
            blocks[-1][1].append(int(rest.split()[2]))
        self.assertEqual(sorted(task for task, _ in blocks), list(range(self.TASKS)),
                         "the %s lines of a task are not contiguous: %s" %
                         (stream, [task for task, _ in blocks]))
        for task, numbers in blocks:
            self.assertEqual(numbers, list(range(1, self.LINES + 1)), "task %d" % task)

    def test_output_blocks_never_interleave(self):
        name = self._taskfile()
        r = self.farm([name])
        self.assertExit(r, 0)
        self._check_blocks(r.stdout, "out", tagged=False)
        self._check_blocks(r.stderr, "err", tagged=False)

    def test_tag_prefixes_every_line_with_the_task_id(self):
        name = self._taskfile()
        r = self.farm(["--tag", name])
        self.assertExit(r, 0)
        self._check_blocks(r.stdout, "out", tagged=True)
        self._check_blocks(r.stderr, "err", tagged=True)

    def test_output_dir_writes_files_and_prints_nothing(self):
        os.mkdir(self.path("out"))
        # (The outputs differ from the command texts, which the summary may quote.)
        name = self.taskfile(
            "echo first-out-$((6*7)); echo first-err-$((6*7)) >&2\n"
            "#RANKPOOL REPEAT 2 echo rep-out-$((RANKPOOL_TASK_ID*100)); "
            "echo rep-err-$((RANKPOOL_TASK_ID*100)) >&2\n"
            "true\n")
        r = self.farm(["--output-dir", "out", name])
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, "", "task output was printed despite --output-dir")
        for marker in ("first-out-42", "first-err-42", "rep-out-100", "rep-err-200"):
            self.assertNotIn(marker, r.stderr)
        self.assertEqual(read(self.path("out", "task-0.out")), "first-out-42\n")
        self.assertEqual(read(self.path("out", "task-0.err")), "first-err-42\n")
        for i in (1, 2):
            self.assertEqual(read(self.path("out", "task-%d.out" % i)), "rep-out-%d\n" % (i * 100))
            self.assertEqual(read(self.path("out", "task-%d.err" % i)), "rep-err-%d\n" % (i * 100))
        self.assertEqual(read(self.path("out", "task-3.out")), "")
        self.assertEqual(sorted(os.listdir(self.path("out"))),
                         sorted("task-%d.%s" % (i, s) for i in range(4) for s in ("out", "err")))

    def test_output_dir_that_does_not_exist_yet(self):
        # A missing --output-dir must not make every task "fail" with a
        # misleading "could not start /bin/bash": the farm creates it, parents
        # included, and the task runs.
        name = self.taskfile("echo hello\n")
        r = self.farm(["--output-dir", "new/dir", name])
        self.assertExit(r, 0)
        self.assertEqual(read(self.path("new", "dir", "task-0.out")), "hello\n")
        self.assertEqual([x["status"] for x in self.journal()], ["ok"])


    # Whole files only: a task's output files are renamed into place when it
    # ends, so while it runs (or after it was interrupted) readers see the
    # previous attempt's complete output, never a part of the new one.
    SLOW = ("echo v2-begin; echo e2-begin >&2; touch started; "
            "for i in $(seq 600); do [ -e go ] && break; sleep 0.05; done; "
            "echo v2-end; echo e2-end >&2\n")

    def _first_output_then_start_slow(self):
        os.mkdir(self.path("out"))
        self.assertExit(self.farm(["--output-dir", "out", self.taskfile(
            "echo v1; echo e1 >&2\n", name="v1.txt")]), 0)
        proc = subprocess.Popen(
            farm_command(["--output-dir", "out", self.taskfile(self.SLOW, name="v2.txt")]),
            cwd=self.dir, env=farm_environment(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(proc.wait)
        self.addCleanup(kill_session, proc.pid)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.path("started")) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(os.path.exists(self.path("started")), "the slow task never started")
        time.sleep(0.2)  # it has written its first lines by now
        return proc

    def _assert_outputs(self, out, err):
        self.assertEqual(read(self.path("out", "task-0.out")), out)
        self.assertEqual(read(self.path("out", "task-0.err")), err)

    def test_output_files_are_whole_while_the_task_runs_and_after(self):
        proc = self._first_output_then_start_slow()
        self._assert_outputs("v1\n", "e1\n")
        write(self.path("go"), "")
        _, err = proc.communicate(timeout=RUN_TIMEOUT)
        self.assertEqual(proc.returncode, 0, err.decode(errors="replace"))
        self._assert_outputs("v2-begin\nv2-end\n", "e2-begin\ne2-end\n")
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["task-0.err", "task-0.out"])

    def test_an_interrupted_task_leaves_the_previous_output_whole(self):
        proc = self._first_output_then_start_slow()
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=RUN_TIMEOUT)
        self.assertNotEqual(proc.returncode, 0, err.decode(errors="replace"))
        self._assert_outputs("v1\n", "e1\n")
        self.assertEqual(sorted(os.listdir(self.path("out"))), ["task-0.err", "task-0.out"])


# ---------------------------------------------------------------- 8: timeouts

class TimeoutTest(FarmTestCase):

    def test_timeout_terminates_then_kills_the_whole_group(self):
        marker = "%d%06d" % (os.getpid() % 1000, random.randrange(10 ** 6))
        bg, fg, trapped = "31.1" + marker, "31.2" + marker, "32.1" + marker
        name = self.taskfile(
            "sleep 10\n"
            "trap '' TERM; sleep " + trapped + "\n"
            "sleep " + bg + " & sleep " + fg + "\n"
            "true\n")
        r = self.farm(["--timeout", "0.5", "--grace", "0.5", name])
        self.assertExit(r, 1)
        self.assertLess(r.seconds, 8, "timed-out tasks were not ended in time")
        records = {x["task"]: x for x in self.journal()}
        self.assertEqual([records[i]["status"] for i in range(4)],
                         ["timeout", "timeout", "timeout", "ok"])
        # sleep 10 dies of the SIGTERM, after about --timeout.
        self.assertEqual(records[0]["signal"], signal.SIGTERM)
        self.assertLess(records[0]["end"] - records[0]["start"], 3)
        self.assertGreaterEqual(records[0]["end"] - records[0]["start"], 0.45)
        # The task ignoring SIGTERM is SIGKILLed after --grace.
        self.assertEqual(records[1]["signal"], signal.SIGKILL)
        self.assertGreaterEqual(records[1]["end"] - records[1]["start"], 0.95)
        self.assertLess(records[1]["end"] - records[1]["start"], 4)
        self.assertIn("4 tasks: 1 ok, 0 failed, 3 timeout", summary_line(r.stderr) or "", r)
        # Nothing the timed-out tasks started survives them.
        time.sleep(0.2)
        for sleeper in (bg, fg, trapped):
            self.assertEqual(processes_with("sleep " + sleeper), [],
                             "a process of a timed-out task survived")


# ---------------------------------------------------------------- 9: retries

class RetryTest(FarmTestCase):

    def test_retries_rerun_failed_attempts(self):
        name = self.taskfile(
            "if [ -e first-attempt-done ]; then echo second; else touch first-attempt-done; exit 3; fi\n"
            "echo attempt >> always.log; exit 1\n"
            "true\n")
        r = self.farm(["--retries", "2", name])
        self.assertExit(r, 1)  # task 1 fails all 3 attempts
        tasks = by_task(self.journal())
        self.assertEqual([(x["status"], x["exit_code"]) for x in tasks[0]],
                         [("failed", 3), ("ok", 0)])
        self.assertLessEqual(tasks[0][0]["end"], tasks[0][1]["start"])
        self.assertEqual([x["status"] for x in tasks[1]], ["failed"] * 3)
        self.assertEqual(len(read_lines(self.path("always.log"))), 3)
        self.assertEqual([x["status"] for x in tasks[2]], ["ok"])
        self.assertEqual(r.stdout.count("second"), 1)

    def test_a_task_that_succeeds_on_retry_makes_the_run_ok(self):
        name = self.taskfile(
            "if [ -e first-attempt-done ]; then true; else touch first-attempt-done; false; fi\n")
        r = self.farm(["--retries", "2", name])
        self.assertExit(r, 0)
        self.assertEqual([x["status"] for x in self.journal()], ["failed", "ok"])


# ---------------------------------------------------------------- 10: fail-fast

class FailFastTest(FarmTestCase):

    def test_fail_fast_stops_dispatching(self):
        many = 40
        name = self.taskfile(
            "false\n#RANKPOOL REPEAT %d sleep 0.2; echo $RANKPOOL_TASK_ID >> ran.log\n" % many)
        r = self.farm(["--fail-fast", name])
        self.assertExit(r, 1)
        self.assertIn("fail-fast", r.stderr, r)
        ran = read_lines(self.path("ran.log"))
        self.assertLess(len(ran), many, "--fail-fast ran every task")
        records = self.journal()
        self.assertLess(len(records), many + 1)
        # What ran is exactly what the journal holds (nothing unrecorded ran).
        self.assertEqual(sorted(int(x) for x in ran),
                         sorted(x["task"] for x in records if x["task"] != 0))

    def test_fail_fast_leaves_the_rest_for_resume(self):
        name = self.taskfile(
            "false\n#RANKPOOL REPEAT 10 sleep 0.2; echo $RANKPOOL_TASK_ID >> ran.log\n")
        r = self.farm(["--fail-fast", name])
        self.assertExit(r, 1)
        first = sorted(int(x) for x in read_lines(self.path("ran.log")))
        r = self.farm(["--resume", name])
        ran = sorted(int(x) for x in read_lines(self.path("ran.log")))
        self.assertEqual(ran, list(range(1, 11)), "resume after --fail-fast: every task once")
        self.assertTrue(set(first) < set(ran))


# ---------------------------------------------------------------- 11: resume

class ResumeTest(FarmTestCase):

    def test_resume_retry_failed_and_changed_commands(self):
        name = self.taskfile("echo a >> runs.log\n"
                             "echo b >> runs.log; false\n"
                             "echo c >> runs.log\n")
        r = self.farm([name])
        self.assertExit(r, 1)
        self.assertEqual(sorted(read_lines(self.path("runs.log"))), ["a", "b", "c"])

        r = self.farm(["--resume", name])
        self.assertEqual(sorted(read_lines(self.path("runs.log"))), ["a", "b", "c"],
                         "--resume re-ran a task (a failed one needs --retry-failed)")
        self.assertEqual(len(self.journal()), 3)

        r = self.farm(["--resume", "--retry-failed", name])
        self.assertExit(r, 1)  # it fails again
        self.assertEqual(sorted(read_lines(self.path("runs.log"))), ["a", "b", "b", "c"],
                         "--retry-failed must re-run the failed task only")
        self.assertEqual([x["task"] for x in self.journal()][3:], [1])

        # A changed command at the same position is another task: re-run.
        self.taskfile("echo a >> runs.log\n"
                      "echo b2 >> runs.log\n"
                      "echo c2 >> runs.log\n")
        r = self.farm(["--resume", name])
        self.assertExit(r, 0)
        self.assertEqual(sorted(read_lines(self.path("runs.log"))),
                         ["a", "b", "b", "b2", "c", "c2"])
        last = {x["task"]: x for x in self.journal()}
        self.assertEqual([last[i]["status"] for i in range(3)], ["ok"] * 3)

    def test_resume_of_a_fully_done_run_runs_nothing_and_exits_0(self):
        name = self.taskfile("#RANKPOOL REPEAT 3 echo x >> runs.log\n")
        self.assertExit(self.farm([name]), 0)
        r = self.farm(["--resume", name])
        self.assertExit(r, 0)
        self.assertEqual(len(read_lines(self.path("runs.log"))), 3)
        self.assertIn("3 skipped", summary_line(r.stderr) or "", r)

    def test_resume_that_skips_a_failed_task_does_not_exit_0(self):
        # Exit 0 means "every task of the file is ok" (farm.hpp: 1 if "some
        # task failed, timed out or was not run"). A --resume that skips a
        # task whose last record is "failed" leaves that task failed, so it
        # must not report success.
        name = self.taskfile("true\nfalse\n")
        self.assertExit(self.farm([name]), 1)
        r = self.farm(["--resume", name])
        self.assertExit(r, 1)

    def test_resume_reruns_repeat_tasks_whose_index_changed(self):
        # REPEAT tasks share one command text; what tells them apart is
        # RANKPOOL_REPEAT_INDEX. Changing `start` changes what every task
        # does, so --resume must re-run them, although their command text is
        # unchanged.
        name = self.taskfile("#RANKPOOL REPEAT 2 start 0 echo $RANKPOOL_REPEAT_INDEX >> idx.log\n")
        self.assertExit(self.farm([name]), 0)
        self.taskfile("#RANKPOOL REPEAT 2 start 100 echo $RANKPOOL_REPEAT_INDEX >> idx.log\n")
        r = self.farm(["--resume", name])
        self.assertExit(r, 0)
        self.assertEqual(sorted(int(x) for x in read_lines(self.path("idx.log"))),
                         [0, 1, 100, 101])


class InterruptTest(FarmTestCase):

    def test_tasks_interrupted_by_sigterm_are_rerun_by_resume(self):
        # SIGTERM (or Ctrl-C) to the farm ends the running tasks; they did
        # not fail, they were interrupted, so a plain --resume must run them
        # again, not skip them as "failed" (exit 143, signal 15).
        name = self.taskfile(
            "#RANKPOOL REPEAT 4 echo $RANKPOOL_TASK_ID >> started.log; "
            "[ -e fast ] || sleep 30; echo $RANKPOOL_TASK_ID >> done.log\n")
        proc = subprocess.Popen(
            farm_command([name]), cwd=self.dir, env=farm_environment(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while not read_lines(self.path("started.log")) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(read_lines(self.path("started.log")), "no task started")
            time.sleep(0.2)
            os.kill(proc.pid, signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            kill_session(proc.pid)
            proc.wait()
        self.assertNotEqual(proc.returncode, 0, "an interrupted run must not exit 0")
        self.assertEqual(read_lines(self.path("done.log")), [], err.decode(errors="replace"))

        write(self.path("fast"), "")
        r = self.farm(["--resume", name])
        self.assertExit(r, 0)
        self.assertEqual(sorted(int(x) for x in read_lines(self.path("done.log"))), [0, 1, 2, 3],
                         "--resume did not run every interrupted task\n" + read(
                             self.path("tasks.txt.journal")))


# ---------------------------------------------------------------- the allocation's end

def worker_count():
    """Workers of a farm in this configuration: ranks but the root, or one
    local thread per core."""
    return RANKS - 1 if RANKS > 1 else (os.cpu_count() or 1)


class AllocationTest(FarmTestCase):

    def test_deadline_starts_only_tasks_that_end_in_time_then_resume_finishes(self):
        # Tasks of 1 s, a deadline 4 to 5 s away and --grace 0.5: a task may
        # start until 1.5 s before it, so about three rounds run and the rest
        # are left. The deadline is a clock time, so "none ran past it" is
        # measured against the farm's own deadline, however long mpirun takes
        # to start it.
        count = 3 * worker_count() + 4
        name = self.taskfile("#RANKPOOL REPEAT %d sleep 1; echo $RANKPOOL_TASK_ID >> done.log\n"
                             % count)
        deadline = int(time.time()) + 5
        r = self.farm(["--deadline", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deadline)),
                       "--task-time", "1", "--grace", "0.5", name])
        self.assertExit(r, 1)
        self.assertIn("not started: not enough time left in the allocation", r.stderr)
        self.assertIn("from --deadline", r.stderr)
        done = [int(x) for x in read_lines(self.path("done.log"))]
        self.assertGreater(len(done), 0, r)
        self.assertLess(len(done), count, r)
        for record in self.journal():
            self.assertEqual(record["status"], "ok", record)
            self.assertLessEqual(record["end"], deadline, record)  # none ran past the deadline
        r = self.farm(["--resume", name])
        self.assertExit(r, 0)
        done = sorted(int(x) for x in read_lines(self.path("done.log")))
        self.assertEqual(done, list(range(count)), "every task once, none twice")

    def test_deadline_that_cannot_be_read_is_a_usage_error(self):
        name = self.taskfile("true\n")
        for bad in ("tomorrowish", "25:00", "2026-13-01T00:00", "-5"):
            r = self.farm(["--deadline", bad, name])
            self.assertExit(r, 2)
            self.assertIn("--deadline", r.stderr)
            self.assertIn(bad, r.stderr)

    def test_clock_time_and_iso_8601_deadlines_are_accepted(self):
        name = self.taskfile("true\n")
        later = time.gmtime(time.time() + 3600)
        for good in (time.strftime("%Y-%m-%dT%H:%M:%SZ", later),
                     time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 3600)),
                     time.strftime("%H:%M", time.localtime(time.time() + 3600))):
            r = self.farm(["--deadline", good, name])
            self.assertExit(r, 0)
            self.assertIn("the allocation ends", r.stderr)

    def test_sigusr1_drains_running_tasks_end_the_rest_wait_for_resume(self):
        # USR1 (Slurm's --signal=USR1@N before the time limit): no new task
        # starts; the running ones end (--grace is longer than they need).
        count = 2 * worker_count() + 2
        name = self.taskfile(
            "#RANKPOOL REPEAT %d echo $RANKPOOL_TASK_ID >> started.log; sleep 2; "
            "echo $RANKPOOL_TASK_ID >> done.log\n" % count)
        proc = subprocess.Popen(
            farm_command(["--grace", "20", name]), cwd=self.dir, env=farm_environment(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while not read_lines(self.path("started.log")) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            os.kill(proc.pid, signal.SIGUSR1)
            _, err = proc.communicate(timeout=60)
        finally:
            kill_session(proc.pid)
            proc.wait()
        err = err.decode(errors="replace")
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("asked to drain (SIGUSR1)", err)
        started = sorted(int(x) for x in read_lines(self.path("started.log")))
        done = sorted(int(x) for x in read_lines(self.path("done.log")))
        self.assertEqual(started, done, "every task that started ended\n" + err)
        self.assertLess(len(done), count, err)
        r = self.farm(["--resume", name])
        self.assertExit(r, 0)
        self.assertEqual(sorted(int(x) for x in read_lines(self.path("done.log"))),
                         list(range(count)))


class StatusTest(FarmTestCase):

    def test_status_file_shows_the_running_tasks_and_show_status_prints_them(self):
        count = 2 * worker_count() + 1
        name = self.taskfile("#RANKPOOL REPEAT %d sleep 2\n" % count)
        proc = subprocess.Popen(
            farm_command(["--status", "st.json", name]), cwd=self.dir, env=farm_environment(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        try:
            seen = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and seen is None:
                time.sleep(0.2)
                try:
                    snapshot = json.loads(read(self.path("st.json")))
                except (OSError, ValueError):
                    continue  # not written yet (never half-written: it is renamed into place)
                if any(r["host"] for r in snapshot["running"]):
                    seen = snapshot
            self.assertIsNotNone(seen, "no running task appeared in the status file")
            self.assertEqual(seen["counts"]["total"], count)
            self.assertEqual(seen["workers"], worker_count())
            for r in seen["running"]:
                if r["host"]:
                    self.assertEqual(r["command"], "sleep 2")
                    self.assertLessEqual(r["start"], time.time())
                    self.assertGreaterEqual(r["rank"], 0)
            shown = subprocess.run([BINARY, "--show-status", "st.json"], cwd=self.dir,
                                   env=farm_environment(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertEqual(shown.returncode, 0, shown.stderr)
            self.assertIn("tasks %d:" % count, shown.stdout)
            self.assertIn("sleep 2", shown.stdout)
            self.assertIn("host", shown.stdout)
            _, err = proc.communicate(timeout=60)
        finally:
            kill_session(proc.pid)
            proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        final = json.loads(read(self.path("st.json")))
        self.assertEqual(final["counts"]["ok"], count)
        self.assertEqual(final["running"], [])

    def test_show_status_of_a_missing_file_is_an_error_naming_it(self):
        r = subprocess.run([BINARY, "--show-status", "nowhere.json"], cwd=self.dir,
                           env=farm_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nowhere.json", r.stderr)


class ResourcesTest(FarmTestCase):
    """--gpus-per-task and --cpus-per-task: every running task gets its own."""

    LOG_TASK = ('echo "$(date +%s.%N) $RANKPOOL_TASK_ID start $CUDA_VISIBLE_DEVICES '
                '$ROCR_VISIBLE_DEVICES $ZE_AFFINITY_MASK ${OMP_NUM_THREADS:-none} '
                '${RANKPOOL_CPUS:-none} $(grep Cpus_allowed_list /proc/self/status | cut -f2)" '
                '>> use.log; sleep 0.3; echo "$(date +%s.%N) $RANKPOOL_TASK_ID end" >> use.log')

    def intervals(self):
        starts, ends = {}, {}
        for line in read_lines(self.path("use.log")):
            fields = line.split()
            if fields[2] == "start":
                starts[fields[1]] = (float(fields[0]), fields[3:])
            else:
                ends[fields[1]] = float(fields[0])
        self.assertEqual(set(starts), set(ends))
        return [(starts[t][0], ends[t], starts[t][1]) for t in starts]

    def assert_never_shared(self, spans, key):
        for i, (s1, e1, f1) in enumerate(spans):
            for s2, e2, f2 in spans[i + 1:]:
                if s1 < e2 and s2 < e1:  # ran at the same time
                    self.assertTrue(set(key(f1)).isdisjoint(key(f2)),
                                    "two running tasks shared %s and %s" % (f1, f2))

    def max_concurrent(self, spans):
        events = sorted([(s, 1) for s, _, _ in spans] + [(e, -1) for _, e, _ in spans])
        now = most = 0
        for _, step in events:
            now += step
            most = max(most, now)
        return most

    def test_gpus_per_task_never_gives_one_gpu_to_two_running_tasks(self):
        # 3 pretend GPUs on 4 workers (mpirun -n 5), or 1 on the local threads.
        gpus = ["0", "1", "2"] if RANKS > 1 else ["7"]
        name = self.taskfile("#RANKPOOL REPEAT 16 %s\n" % self.LOG_TASK)
        args = ["--gpus", ",".join(gpus), "--gpus-per-task", "1", name]
        command = (["mpirun", "--oversubscribe", "-n", "5", BINARY] + args if RANKS > 1
                   else [BINARY] + args)
        r = subprocess.run(command, cwd=self.dir, env=farm_environment(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        spans = self.intervals()
        self.assertEqual(len(spans), 16)
        for _, _, f in spans:
            cuda, rocr, ze = f[0], f[1], f[2]
            self.assertIn(cuda, gpus)
            self.assertEqual((rocr, ze), (cuda, cuda))
        self.assert_never_shared(spans, lambda f: [f[0]])
        self.assertLessEqual(self.max_concurrent(spans), len(gpus))

    def test_cpus_per_task_pins_each_task_to_cores_no_other_running_task_has(self):
        name = self.taskfile("#RANKPOOL REPEAT 12 %s\n" % self.LOG_TASK)
        r = self.farm(["--cpus-per-task", "1", name])
        self.assertExit(r, 0)
        spans = self.intervals()
        self.assertEqual(len(spans), 12)
        for _, _, f in spans:
            omp, cpus, allowed = f[-3], f[-2], f[-1]
            self.assertEqual(omp, "1")
            self.assertEqual(allowed, cpus, "the task's affinity is the cores it was given")
        self.assert_never_shared(spans, lambda f: f[-2].split(","))
        self.assertLessEqual(self.max_concurrent(spans), os.cpu_count())

    def test_a_node_without_enough_gpus_is_a_usage_error(self):
        name = self.taskfile("true\n")
        r = self.farm(["--gpus", "0", "--gpus-per-task", "2", name])
        self.assertExit(r, 2)
        self.assertIn("too few resources", r.stderr)
        self.assertIn("--gpus-per-task 2", r.stderr)


# ---------------------------------------------------------------- 12: stdin

class StdinTest(FarmTestCase):

    def test_dash_reads_tasks_from_stdin_with_default_journal(self):
        r = self.farm(["-"], stdin_text="echo one >> runs.log\n#RANKPOOL REPEAT 2 echo rep >> runs.log\n")
        self.assertExit(r, 0)
        self.assertEqual(sorted(read_lines(self.path("runs.log"))), ["one", "rep", "rep"])
        records = read_journal(self.path("rankpool.journal"))
        self.assertEqual(sorted(x["task"] for x in records), [0, 1, 2])
        self.assertEqual(sorted(os.listdir(self.dir)), ["rankpool.journal", "runs.log"])

        r = self.farm(["--resume", "-"],
                      stdin_text="echo one >> runs.log\n#RANKPOOL REPEAT 2 echo rep >> runs.log\n")
        self.assertExit(r, 0)
        self.assertEqual(len(read_lines(self.path("runs.log"))), 3, "stdin resume re-ran tasks")


# ---------------------------------------------------------------- 13: journal

class JournalFormatTest(FarmTestCase):

    def test_every_line_is_a_complete_json_record(self):
        name = self.taskfile(
            "true\n"
            "exit 3\n"
            "kill -KILL $$\n"
            "sleep 5\n"
            'echo "quotes \\" and unicode \u00e9"\n')
        r = self.farm(["--timeout", "1", "--journal", "my.journal", name])
        self.assertExit(r, 1)
        self.assertFalse(os.path.exists(self.path("tasks.txt.journal")))
        with open(self.path("my.journal"), "rb") as f:
            data = f.read().decode("utf-8")
        self.assertTrue(data.endswith("\n"))
        lines = data.split("\n")[:-1]
        self.assertEqual(len(lines), 5)
        host = socket.gethostname()
        records = {}
        for line in lines:
            record = json.loads(line)
            # The documented keys, in this order (later versions may add keys).
            self.assertEqual([k for k in record if k in JOURNAL_KEYS], JOURNAL_KEYS, line)
            self.assertIsInstance(record["task"], int)
            self.assertIsInstance(record["line"], int)
            self.assertIsInstance(record["command"], str)
            self.assertIn(record["status"], ("ok", "failed", "timeout"))
            self.assertIsInstance(record["exit_code"], int)
            self.assertTrue(record["signal"] is None or isinstance(record["signal"], int), line)
            self.assertIsInstance(record["start"], float)
            self.assertIsInstance(record["end"], float)
            self.assertLessEqual(record["start"], record["end"])
            self.assertLess(abs(record["end"] - time.time()), 120, "start/end are not unix times")
            self.assertEqual(record["host"], host)
            self.assertIsInstance(record["rank"], int)
            if RANKS > 1:
                self.assertTrue(1 <= record["rank"] < RANKS, line)
            else:
                self.assertGreaterEqual(record["rank"], 1, line)
            records[record["task"]] = record
        expected = {
            0: ("ok", 0, None, 1, "true"),
            1: ("failed", 3, None, 2, "exit 3"),
            2: ("failed", 128 + 9, 9, 3, "kill -KILL $$"),
            3: ("timeout", 128 + 15, 15, 4, "sleep 5"),
            4: ("ok", 0, None, 5, 'echo "quotes \\" and unicode \u00e9"'),
        }
        for task, (status, code, sig, line, command) in expected.items():
            x = records[task]
            self.assertEqual((x["status"], x["exit_code"], x["signal"], x["line"], x["command"]),
                             (status, code, sig, line, command))


# ---------------------------------------------------------------- 14: kill, resume

class TornJournalTest(FarmTestCase):

    def test_torn_last_line_is_skipped_and_ended_before_the_next_record(self):
        # As a kill in the middle of task 2's record would leave it.
        name = self.taskfile("#RANKPOOL REPEAT 3 echo $RANKPOOL_TASK_ID >> runs.log\n")
        self.assertExit(self.farm([name]), 0)
        journal = self.path("tasks.txt.journal")
        records = {json.loads(line)["task"]: line for line in read_lines(journal)}
        torn = records[2][:len(records[2]) // 2]
        write(journal, records[0] + "\n" + records[1] + "\n" + torn)
        write(self.path("runs.log"), "")

        r = self.farm(["--resume", name])
        self.assertExit(r, 0)
        self.assertIn("unreadable", r.stderr, r)
        self.assertEqual(read_lines(self.path("runs.log")), ["2"], "resume must re-run task 2 only")
        lines = read(journal).split("\n")
        self.assertEqual(lines[:3], [records[0], records[1], torn])
        self.assertEqual(lines[4:], [""])
        self.assertEqual((json.loads(lines[3])["task"], json.loads(lines[3])["status"]), (2, "ok"))

        r = self.farm(["--resume", name])  # the torn line stays harmless
        self.assertExit(r, 0)
        self.assertEqual(read_lines(self.path("runs.log")), ["2"])



class KillAndResumeTest(FarmTestCase):
    TASKS = 60
    KILLS = 4

    def test_kill_at_random_moments_then_resume(self):
        seed = int(os.environ.get("RANKPOOL_RUN_TEST_SEED", random.randrange(10 ** 9)))
        rng = random.Random(seed)
        context = "seed %d (RANKPOOL_RUN_TEST_SEED=%d replays it)" % (seed, seed)
        name = self.taskfile(
            'sleep 0.0$((RANDOM%5)); echo "$RANKPOOL_TASK_ID $(date +%s.%N)" >> runs.log\n'
            * self.TASKS)
        journal = self.path("tasks.txt.journal")
        torn = '{"task":0,"line":1,"command":"sleep 0.0$((RAN'
        history = []
        injected = False
        for round_ in range(self.KILLS):
            args = [name] if round_ == 0 else ["--resume", name]
            proc = subprocess.Popen(
                farm_command(args), cwd=self.dir, env=farm_environment(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
            delay = rng.uniform(0.1, 1.0)
            time.sleep(delay)
            finished = proc.poll() is not None
            kill_session(proc.pid)
            proc.wait(timeout=RUN_TIMEOUT)
            history.append("round %d: killed after %.2f s%s, journal %d records" % (
                round_, delay, " (had already ended)" if finished else "",
                len(read_journal(journal, strict=False))))
            if not injected and len(
                    read_journal(journal, strict=False)) < self.TASKS:
                # A kill in the middle of a record's write() leaves a torn
                # last line: resuming must skip it and start a new line.
                injected = True
                history.append("torn line appended to the journal")
                with open(journal, "a") as f:
                    if f.tell() > 0 and not read(journal).endswith("\n"):
                        f.write("\n")  # the kill already tore a line: keep ours whole
                    f.write(torn)
        # One --resume after the kills must finish the run: killed tasks left
        # no record (or a torn one) and are run again, so it exits 0.
        r = self.farm(["--resume", name])
        history.append("resume: exit %d" % r.returncode)
        context += "\n" + "\n".join(history)
        self.assertEqual(r.returncode, 0, "the one --resume after the kills did not finish the "
                         "run\n%s\n%s" % (r.stderr, context))

        with open(journal) as f:
            lines = f.read().split("\n")
        self.assertTrue(not injected or torn in lines,
                        "the torn line was not ended before the next record\n" + context)
        records = read_journal(journal, strict=False)
        tasks = by_task(records)
        self.assertEqual(sorted(tasks), list(range(self.TASKS)), context)
        ok_end = {}
        for task, attempts in tasks.items():
            self.assertEqual(attempts[-1]["status"], "ok", "task %d: %s" % (task, context))
            oks = [x for x in attempts if x["status"] == "ok"]
            self.assertEqual(len(oks), 1, "task %d has %d ok records\n%s" % (task, len(oks), context))
            ok_end[task] = oks[0]

        runs = {}
        for line in read_lines(self.path("runs.log")):
            fields = line.split()
            if len(fields) == 2 and fields[0].isdigit():
                try:
                    runs.setdefault(int(fields[0]), []).append(float(fields[1]))
                except ValueError:
                    pass  # a line cut short by the kill
        for task in range(self.TASKS):
            ok = ok_end[task]
            executions = runs.get(task, [])
            self.assertTrue(any(ok["start"] <= t <= ok["end"] for t in executions),
                            "task %d: no execution inside its ok attempt %s\n%s" %
                            (task, (ok["start"], ok["end"]), context))
            late = [t for t in executions if t > ok["end"]]
            self.assertEqual(late, [], "task %d ran again after its recorded ok attempt "
                             "ended at %.6f\n%s" % (task, ok["end"], context))


if __name__ == "__main__":
    sys.argv = _parse_own_args(sys.argv)
    unittest.main(verbosity=2)
