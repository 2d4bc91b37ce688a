"""mpi4py.futures on the workloads of scripts/bench.sh (reference for rankpool).

Run on every rank (MPICommExecutor splits COMM_WORLD into a root and its
workers, so pids can be gathered before any executor exists):
    mpirun -n 3 /usr/bin/python3 apps/bench/mpi4py_bench.py --size tiny|full
Prints one JSON object on rank 0. mpi4py runs with its defaults (pickle
protocol 5, a 1 ms polling backoff), which is what its users get.
"""

import os
import sys

import bench_common as bc

SYSTEM = "mpi4py"
WINDOW = 2  # holders per worker in the growth test, as for rankpool


def main():
    cfg = bc.parse_config(sys.argv)
    try:
        import mpi4py
        from mpi4py import MPI
        from mpi4py.futures import MPICommExecutor
    except ImportError as e:
        bc.emit({"system": SYSTEM, "skipped": "mpi4py is not importable: %s" % e})
        return
    comm = MPI.COMM_WORLD
    pids = comm.gather(os.getpid(), root=0)  # before any executor takes the workers
    nworkers = comm.Get_size() - 1
    figures, details = {}, {}

    # Every rank enters the same sequence of executors; on a worker each
    # `with` serves calls until the root leaves it. Growth runs first, on a
    # fresh heap, as in rankpool_bench.cpp.
    with MPICommExecutor(comm, root=0) as ex:
        if ex is not None:
            bc.progress(SYSTEM, "idle CPU")
            idle = bc.idle_cpu_percent(pids, cfg["idle_seconds"])
            details["idle"] = bc.idle_details(idle, cfg["idle_seconds"])
            figures["idle_pct_core_max"] = details["idle"]["pct_core_max"]

    growth, keep = [], []
    for k in bc.growth_backlogs(cfg):
        with MPICommExecutor(comm, root=0) as ex:
            if ex is not None:
                bc.progress(SYSTEM, "growth with %d pending calls" % k)
                growth.append(bc.growth(ex, cfg, k, WINDOW * nworkers, nworkers, keep))
    del keep  # a million live futures would slow every later phase
    if growth:
        bc.growth_figures(growth, figures, details)

    with MPICommExecutor(comm, root=0) as ex:
        if ex is not None:
            bc.measure_calls(SYSTEM, ex, cfg, nworkers, figures, details)

    if comm.Get_rank() == 0:
        bc.emit({
            "system": SYSTEM, "ranks": comm.Get_size(), "workers": nworkers,
            "threading": "multiple", "mpi4py_version": mpi4py.__version__,
            "python": sys.version.split()[0], "config": cfg,
            "figures": figures, "details": details,
            "notes": ["one call in flight per worker (mpi4py.futures has no window)"],
        })


if __name__ == "__main__":
    main()
