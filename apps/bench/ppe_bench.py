"""Python's ProcessPoolExecutor on the workloads of scripts/bench.sh: a
no-MPI reference on the same machine, with as many workers as the MPI
systems have worker ranks (--workers, default 2).
    /usr/bin/python3 apps/bench/ppe_bench.py --size tiny|full [--workers N]
Prints one JSON object. The executor runs with its defaults (fork on Linux).
"""

import concurrent.futures as cf
import os
import sys

import bench_common as bc

SYSTEM = "ppe"
WINDOW = 2  # holders per worker in the growth test, as for rankpool


def worker_pids(ex):
    """The pool's processes (started together on the first submit under fork)."""
    ex.submit(bc.noop, 0).result()
    return sorted(getattr(ex, "_processes", {}) or {})


def take_workers(argv):
    """Removes --workers N from argv; returns N (default 2)."""
    for i, arg in enumerate(argv):
        if arg == "--workers" and i + 1 < len(argv) and argv[i + 1].isdigit():
            n = int(argv[i + 1])
            del argv[i:i + 2]
            if n < 1:
                sys.exit("ppe_bench.py: --workers takes a number of at least 1")
            return n
    return 2


def main():
    nworkers = take_workers(sys.argv)
    cfg = bc.parse_config(sys.argv)
    figures, details, notes = {}, {}, []

    with cf.ProcessPoolExecutor(max_workers=nworkers) as ex:
        pids = [os.getpid()] + worker_pids(ex)
        if len(pids) != nworkers + 1:
            notes.append("could not list the worker processes: idle covers the root only")
        bc.progress(SYSTEM, "idle CPU")
        idle = bc.idle_cpu_percent(pids, cfg["idle_seconds"])
        details["idle"] = bc.idle_details(idle, cfg["idle_seconds"])
        figures["idle_pct_core_max"] = details["idle"]["pct_core_max"]

    growth, keep = [], []
    for k in bc.growth_backlogs(cfg):
        with cf.ProcessPoolExecutor(max_workers=nworkers) as ex:
            bc.progress(SYSTEM, "growth with %d pending calls" % k)
            growth.append(bc.growth(ex, cfg, k, WINDOW * nworkers, nworkers, keep))
    del keep  # a million live futures would slow every later phase
    bc.growth_figures(growth, figures, details)

    with cf.ProcessPoolExecutor(max_workers=nworkers) as ex:
        bc.measure_calls(SYSTEM, ex, cfg, nworkers, figures, details)

    notes.append("no MPI: the root talks to %d forked workers through pipes; the idle figure "
                 "is measured after the workers were started by one call" % nworkers)
    bc.emit({
        "system": SYSTEM, "ranks": nworkers + 1, "workers": nworkers,
        "python": sys.version.split()[0], "config": cfg,
        "figures": figures, "details": details, "notes": notes,
    })


if __name__ == "__main__":
    main()
