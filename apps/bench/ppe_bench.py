"""Python's ProcessPoolExecutor with 2 workers on the workloads of
scripts/bench.sh: a no-MPI reference on the same machine.
    /usr/bin/python3 apps/bench/ppe_bench.py --size tiny|full
Prints one JSON object. The executor runs with its defaults (fork on Linux).
"""

import concurrent.futures as cf
import os
import sys

import bench_common as bc

SYSTEM = "ppe"
NWORKERS = 2
WINDOW = 2  # holders per worker in the growth test, as for rankpool


def worker_pids(ex):
    """The pool's processes (started together on the first submit under fork)."""
    ex.submit(bc.noop, 0).result()
    return sorted(getattr(ex, "_processes", {}) or {})


def main():
    cfg = bc.parse_config(sys.argv)
    figures, details, notes = {}, {}, []

    with cf.ProcessPoolExecutor(max_workers=NWORKERS) as ex:
        pids = [os.getpid()] + worker_pids(ex)
        if len(pids) != NWORKERS + 1:
            notes.append("could not list the worker processes: idle covers the root only")
        bc.progress(SYSTEM, "idle CPU")
        idle = bc.idle_cpu_percent(pids, cfg["idle_seconds"])
        details["idle"] = bc.idle_details(idle, cfg["idle_seconds"])
        figures["idle_pct_core_max"] = details["idle"]["pct_core_max"]

    growth, keep = [], []
    for k in bc.growth_backlogs(cfg):
        with cf.ProcessPoolExecutor(max_workers=NWORKERS) as ex:
            bc.progress(SYSTEM, "growth with %d pending calls" % k)
            growth.append(bc.growth(ex, cfg, k, WINDOW * NWORKERS, NWORKERS, keep))
    del keep  # a million live futures would slow every later phase
    bc.growth_figures(growth, figures, details)

    with cf.ProcessPoolExecutor(max_workers=NWORKERS) as ex:
        bc.measure_calls(SYSTEM, ex, cfg, NWORKERS, figures, details)

    notes.append("no MPI: the root talks to 2 forked workers through pipes; "
                 "the idle figure is measured after the workers were started by one call")
    bc.emit({
        "system": SYSTEM, "ranks": NWORKERS + 1, "workers": NWORKERS,
        "python": sys.version.split()[0], "config": cfg,
        "figures": figures, "details": details, "notes": notes,
    })


if __name__ == "__main__":
    main()
