#!/usr/bin/env python3
"""The embedding example (apps/heat.cpp) at 4 ranks, as docs/embedding.md runs it.

    python3 tests/embedding/test_heat.py --binary PATH/rankpool-heat [unittest args]

The simulation's own messages (halo exchanges on its Cartesian communicator)
and the pool's never mix: the final field is bit for bit the same with
analysis off, with analysis on a split of MPI_COMM_WORLD, and with analysis on
spawned workers; every snapshot's analysis comes back, the pool's summary of
the final field equals rank 0's own, and the compressed snapshot files hold
the whole field. Nothing deadlocks: each run must end within RUN_BOUND.
"""

import array
import os
import re
import subprocess
import sys
import tempfile
import unittest
import zlib

BINARY = None
RUN_BOUND = 120  # seconds; a run takes ~1 s
SIZE, STEPS, EVERY = 240, 60, 20
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def run(*args):
    cmd = ["mpirun", "-n", "4", "--oversubscribe", BINARY, "--size", str(SIZE), "--steps",
           str(STEPS), "--every", str(EVERY), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_BOUND, env=ENV)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n"
                             f"{done.stderr}")
    return done.stdout


def fnv1a(data):
    """apps/heat.cpp's checksum: FNV-1a (64 bits) over the values' bytes."""
    h = 1469598103934665603
    for byte in data:
        h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def final_checksum(out):
    m = re.search(r"final field checksum ([0-9a-f]{16})", out)
    assert m, out
    return m.group(1)


class HeatExample(unittest.TestCase):
    def test_the_field_is_the_same_with_and_without_analysis(self):
        off = run("--analysis", "off")
        self.assertIn("analysis off", off)
        self.assertNotRegex(off, r"(?m)^step ")
        with tempfile.TemporaryDirectory() as out_dir:
            split = run("--analysis", "on", "--mode", "split", "--out", out_dir)
            files = sorted(os.listdir(out_dir))
            self.assertEqual(files, [f"heat_{s:05d}.z" for s in range(EVERY, STEPS + 1, EVERY)])
            # Each file holds its step's whole field: the checksum and the
            # statistics the pool printed for that step are those of its bytes.
            printed = {int(m.group(1)): m.groups()[1:] for m in re.finditer(
                r"^step +(\d+): min (\S+) max (\S+) mean (\S+) total \S+ +checksum ([0-9a-f]{16})",
                split, re.M)}
            for name in files:
                step = int(name[len("heat_"):-len(".z")])
                with open(os.path.join(out_dir, name), "rb") as f:
                    raw = zlib.decompress(f.read())
                self.assertEqual(len(raw), SIZE * SIZE * 8, name)
                self.assertIn(step, printed, split)
                low, high, mean, checksum = printed[step]
                self.assertEqual(fnv1a(raw), checksum, name + ": not the field of step %d" % step)
                values = array.array("d", raw)
                self.assertEqual("%.4f" % min(values), low, name)
                self.assertEqual("%.4f" % max(values), high, name)
                self.assertAlmostEqual(sum(values) / len(values), float(mean), places=5, msg=name)
        spawn = run("--analysis", "on", "--mode", "spawn")
        self.assertEqual(final_checksum(split), final_checksum(off))
        self.assertEqual(final_checksum(spawn), final_checksum(off))
        for out, sim_ranks in ((split, 3), (spawn, 4)):
            self.assertIn(f"on {sim_ranks} simulation ranks", out)
            self.assertEqual(len(re.findall(r"^step +\d+: ", out, re.M)), STEPS // EVERY, out)
            self.assertIn("pool's analysis of the final field matches rank 0's own: yes", out)
            self.assertRegex(out, r"analysis calls: (\d+) submitted, \1 completed, 0 failed")
        # The last snapshot is the final field: its checksum, computed on a worker, is the same.
        last = re.findall(r"^step +%d: .* checksum ([0-9a-f]{16})" % STEPS, split, re.M)
        self.assertEqual(last, [final_checksum(off)])


if __name__ == "__main__":
    argv = [sys.argv[0]]
    i = 1
    while i < len(sys.argv):
        if sys.argv[i] == "--binary":
            BINARY = os.path.abspath(sys.argv[i + 1])
            i += 2
        else:
            argv.append(sys.argv[i])
            i += 1
    unittest.main(argv=argv)
