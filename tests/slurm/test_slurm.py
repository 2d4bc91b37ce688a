#!/usr/bin/env python3
"""rankpool under a real Slurm: a private cluster (scripts/slurm-up.sh) runs
the shipped cluster-configs/ scripts unchanged through sbatch, and the
executor's own test suite under `srun --mpi=pmix` and under mpirun in a
batch job.

    python3 tests/slurm/test_slurm.py --repo DIR --build DIR [unittest args]

Exits 77 (ctest: skipped) with the reason when the cluster cannot start
here (not root, Slurm or munge not installed, no PID namespaces). Under CI
(CI set, and not "false" or "0") that is a failure instead, naming what is
missing: CI has all of these, so their absence is a fault.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = None
BUILD = None
ENV = None  # the environment with SLURM_CONF, for every command
SKIPPED = 77
UNDER_CI = os.environ.get("CI", "") not in ("", "false", "0")
JOB_TIMEOUT = 120  # seconds for one sbatch --wait


def _parse_own_args(argv):
    global REPO, BUILD
    rest = [argv[0]]
    i = 1
    while i < len(argv):
        if argv[i] in ("--repo", "--build") and i + 1 < len(argv):
            value = os.path.abspath(argv[i + 1])
            if argv[i] == "--repo":
                REPO = value
            else:
                BUILD = value
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    if REPO is None or BUILD is None:
        sys.exit("usage: test_slurm.py --repo DIR --build DIR [unittest args]")
    return rest


def start_cluster(*options):
    """Starts a cluster; returns the environment to use, or None with the
    reason printed if this machine cannot run it (exit 77 of slurm-up.sh).
    Raises RuntimeError if it fails to start, or cannot run here under CI
    (in TwoNodes.setUpClass that is an error of the class, not a skip)."""
    up = subprocess.run(["bash", os.path.join(REPO, "scripts", "slurm-up.sh"), "--cpus", "4"]
                        + list(options),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=90)
    if up.returncode == SKIPPED and UNDER_CI:  # (slurm-up.sh exits 1 itself under CI)
        raise RuntimeError("slurm: FAILED (CI=%s): cannot run %s here: %s"
                           % (os.environ["CI"], " ".join(options) or "a cluster",
                              up.stderr.strip()))
    if up.returncode == SKIPPED:
        print("slurm: cannot run %s here: %s" % (" ".join(options) or "a cluster",
                                                   up.stderr.strip()), file=sys.stderr)
        return None
    if up.returncode != 0:
        raise RuntimeError("slurm-up.sh %s failed (%d):\n%s"
                           % (" ".join(options), up.returncode, up.stderr))
    env = dict(os.environ)
    for line in up.stdout.splitlines():
        if line.startswith("export "):
            key, value = line[len("export "):].split("=", 1)
            env[key] = value
    # mpirun as root inside jobs (CI runs as root); sbatch passes the environment on.
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def stop_cluster(env):
    subprocess.run(["bash", os.path.join(REPO, "scripts", "slurm-down.sh"),
                    env["RANKPOOL_SLURM_ROOT"]], timeout=60)


def run(args, extra_env=None, timeout=JOB_TIMEOUT, cluster=None):
    env = dict(cluster or ENV)
    env.update(extra_env or {})
    if "RANKPOOL_SLURM_LOGIN" in env:  # two pretend hosts: clients run on the first
        args = [os.path.join(REPO, "scripts", "netns-hosts.sh"), "exec",
                env["RANKPOOL_SLURM_LOGIN"]] + list(args)
    return subprocess.run(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def read(path):
    with open(path) as f:
        return f.read()


class ShippedScripts(unittest.TestCase):
    """Each Slurm script of cluster-configs/, unchanged, through sbatch:
    sizes from sbatch's options, the workload from the environment."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rankpool-slurm-test.")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def sbatch(self, script, extra_env=None, options=()):
        out = os.path.join(self.dir, os.path.basename(script) + ".out")
        done = run(["sbatch", "--wait", "--nodes=1", "--ntasks-per-node=3", "--time=5",
                    "--output=" + out] + list(options) + [os.path.join("cluster-configs", script)],
                   extra_env)
        text = read(out) if os.path.exists(out) else ""
        self.assertEqual(done.returncode, 0, "sbatch: %s\njob output:\n%s" % (done.stdout, text))
        return text

    def test_mpirun_inside_the_allocation(self):
        text = self.sbatch("slurm.sbatch", {"RANKPOOL_ARGS": "32 100000"})
        self.assertIn("pi ~ 3.1", text)
        self.assertIn("from 3200000 darts on 2 workers", text)

    def test_srun_pmix_direct_launch(self):
        text = self.sbatch("slurm-srun.sbatch", {"RANKPOOL_ARGS": "32 100000"})
        self.assertIn("from 3200000 darts on 2 workers", text)

    def test_task_farm_job_then_a_second_job_resumes_without_rerunning(self):
        tasks = os.path.join(self.dir, "tasks.txt")
        marker = os.path.join(self.dir, "second-job")
        # Task 2 fails until the second job, which creates the marker first.
        with open(tasks, "w") as f:
            f.write("echo one\necho two\ntest -e %s && echo three\necho four\n" % marker)
        env = {"RANKPOOL_TASKS": tasks, "RANKPOOL_RUN_ARGS": "--tag"}
        out = os.path.join(self.dir, "farm1.out")
        first = run(["sbatch", "--wait", "--nodes=1", "--ntasks-per-node=3", "--time=5",
                     "--output=" + out, "cluster-configs/slurm-farm.sbatch"], env)
        text = read(out)
        self.assertNotEqual(first.returncode, 0, text)  # a task failed: the job fails
        self.assertIn("4 tasks: 3 ok, 1 failed", text)
        open(marker, "w").close()
        text = self.sbatch("slurm-farm.sbatch", dict(env, RANKPOOL_RUN_ARGS="--tag --retry-failed"))
        self.assertIn("4 tasks: 1 ok, 0 failed, 0 timeout, 3 skipped (journal: 0 of them not ok)",
                      text)
        self.assertIn("three", text)
        self.assertNotIn("[0] one", text)  # ran in the first job; not again

    def test_a_farm_too_long_for_a_one_minute_job_drains_then_a_second_job_finishes_it(self):
        # 26 tasks of 5 s on 2 workers need 65 s: the first job (1 minute)
        # starts only tasks that can end before its time limit (read from
        # squeue), the second (--resume) runs the rest; no ok task runs twice.
        tasks = os.path.join(self.dir, "tasks.txt")
        with open(tasks, "w") as f:
            f.write("#RANKPOOL REPEAT 26 sleep 5; echo $RANKPOOL_TASK_ID >> %s/done.log\n"
                    % self.dir)
        env = {"RANKPOOL_TASKS": tasks, "RANKPOOL_RUN_ARGS": "--task-time 5 --grace 2"}
        out = os.path.join(self.dir, "first.out")
        first = run(["sbatch", "--wait", "--nodes=1", "--ntasks-per-node=3", "--time=1",
                     "--output=" + out, "cluster-configs/slurm-farm.sbatch"], env)
        text = read(out)
        self.assertNotEqual(first.returncode, 0, text)
        self.assertIn("(from squeue)", text)
        self.assertIn("not started: not enough time left in the allocation", text)
        self.assertNotIn("DUE TO TIME LIMIT", text)  # it ended by itself, before Slurm's limit
        done_first = read(os.path.join(self.dir, "done.log")).split()
        self.assertGreater(len(done_first), 10, text)
        self.assertLess(len(done_first), 26, text)
        text = self.sbatch("slurm-farm.sbatch", env)
        done = sorted(int(x) for x in read(os.path.join(self.dir, "done.log")).split())
        self.assertEqual(done, list(range(26)), "each task exactly once\n" + text)

    def test_a_job_larger_than_the_cluster_is_refused_not_left_pending(self):
        done = run(["sbatch", "--nodes=1", "--ntasks-per-node=64", "--time=5",
                    "--output=/dev/null", "cluster-configs/slurm.sbatch"])
        self.assertNotEqual(done.returncode, 0, done.stdout)
        self.assertIn("More processors requested than permitted", done.stdout)


class ExecutorUnderSlurm(unittest.TestCase):
    """The executor's own GoogleTest suite, launched the two ways a job does."""

    def binary(self):
        path = os.path.join(BUILD, "tests", "rankpool_test_executor")
        self.assertTrue(os.path.exists(path), path)
        return path

    def test_srun_pmix_runs_the_executor_suite(self):
        done = run(["srun", "--mpi=pmix", "-n", "3", "--time=5", self.binary(),
                    "--gtest_color=no"])
        self.assertEqual(done.returncode, 0, done.stdout[-4000:])
        self.assertIn("PASSED", done.stdout)

    def test_mpirun_in_a_batch_job_runs_the_executor_suite(self):
        out = tempfile.mktemp(prefix="rankpool-slurm-executor.", suffix=".out")
        done = run(["sbatch", "--wait", "--ntasks=3", "--time=5", "--output=" + out,
                    "--wrap", "mpirun %s --gtest_color=no" % self.binary()])
        text = read(out) if os.path.exists(out) else ""
        self.assertEqual(done.returncode, 0, done.stdout + text[-4000:])
        self.assertIn("PASSED", text)
        os.unlink(out)


class TwoNodes(unittest.TestCase):
    """Two nodes on two pretend hosts (network namespaces with their own
    address and hostname, scripts/netns-hosts.sh): jobs span both, their
    ranks talk over TCP."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = start_cluster("--netns")
        if cls.cluster is None:  # never under CI: start_cluster fails there
            raise unittest.SkipTest("network namespaces are not available here")

    @classmethod
    def tearDownClass(cls):
        stop_cluster(cls.cluster)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rankpool-slurm-test.")
        os.chmod(self.dir, 0o755)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def sbatch(self, script, extra_env):
        out = os.path.join(self.dir, script + ".out")
        done = run(["sbatch", "--wait", "--nodes=2", "--ntasks-per-node=2", "--time=5",
                    "--output=" + out, os.path.join("cluster-configs", script)], extra_env,
                   cluster=self.cluster)
        text = read(out) if os.path.exists(out) else ""
        self.assertEqual(done.returncode, 0, "sbatch: %s\njob output:\n%s" % (done.stdout, text))
        return text

    def test_mpirun_and_srun_jobs_span_both_nodes(self):
        for script in ("slurm.sbatch", "slurm-srun.sbatch"):
            text = self.sbatch(script, {"RANKPOOL_ARGS": "32 100000"})
            self.assertIn("from 3200000 darts on 3 workers", text, script)

    def test_a_farm_runs_tasks_on_both_hosts(self):
        tasks = os.path.join(self.dir, "tasks.txt")
        with open(tasks, "w") as f:
            f.write("#RANKPOOL REPEAT 12 sleep 0.2; hostname\n")
        self.sbatch("slurm-farm.sbatch", {"RANKPOOL_TASKS": tasks})
        hosts = {json.loads(line)["host"] for line in read(tasks + ".journal").splitlines()}
        login = self.cluster["RANKPOOL_SLURM_LOGIN"]
        other = login[:-1] + "1"  # <prefix>h0 and <prefix>h1
        self.assertEqual(hosts, {login, other})


if __name__ == "__main__":
    argv = _parse_own_args(sys.argv)
    try:
        ENV = start_cluster()
    except RuntimeError as e:  # the cluster did not start: a failure, not a skip
        sys.exit(str(e))
    if ENV is None:
        sys.exit(SKIPPED)
    try:
        program = unittest.main(argv=argv, exit=False, verbosity=2)
        status = 0 if program.result.wasSuccessful() else 1
    finally:
        stop_cluster(ENV)
    sys.exit(status)
