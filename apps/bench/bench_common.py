"""Workloads shared by the Python references of scripts/bench.sh.

mpi4py_bench.py and ppe_bench.py both drive a concurrent.futures executor, so
the measurements live here once. The knobs in SIZES must match make_config()
in bench_common.hpp: the figures only compare if every system runs the same
workloads (each program echoes its config in its JSON).

The calls are module-level functions so that worker processes can unpickle
them by name (this module is importable from the script's directory).
"""

import gc
import json
import math
import os
import pickle
import sys
import tempfile
import threading
import time

SIZES = {
    "tiny": {
        "min_seconds": 0.05,
        "first_n": 1000,
        "rtt_warmup": 50,
        "rtt_warmup_seconds": 0.3,
        "rtt_iterations": 300,
        "payload_bytes": 64 << 20,
        "payload_reps": 2,
        "metg_seconds": 0.02,
        "metg_min_tasks": 16,
        "metg_max_tasks": 2000,
        "metg_max_d_us": 10000,
        "idle_seconds": 1,
        "growth_small": 1000,
        "growth_large": 10000,
        "growth_small_reps": 3,
        "growth_max_wait_s": 20,
        "unequal_calls": 100,
        "unequal_max_ms": 100,
        "long_ms": 200,
        "long_shorts": 10,
    },
    "full": {
        "min_seconds": 1.0,
        "first_n": 10000,
        "rtt_warmup": 500,
        "rtt_warmup_seconds": 1.0,
        "rtt_iterations": 5000,
        "payload_bytes": 64 << 20,
        "payload_reps": 5,
        "metg_seconds": 0.25,
        "metg_min_tasks": 32,
        "metg_max_tasks": 20000,
        "metg_max_d_us": 100000,
        "idle_seconds": 3,
        "growth_small": 1000,
        "growth_large": 1000000,
        "growth_small_reps": 5,
        "growth_max_wait_s": 60,
        "unequal_calls": 2000,
        "unequal_max_ms": 1000,
        "long_ms": 1000,
        "long_shorts": 50,
    },
}
# Knobs that are the same at both sizes (make_config sets them after the rest).
for _size in SIZES.values():
    _size.update(unequal_min_ms=1, unequal_alpha=1.1, unequal_seed=20261130,
                 short_ms=5, short_gap_ms=10)

FIGURE_KEYS = (
    "submit_calls_per_s", "map64_calls_per_s", "rtt_median_us", "rtt_p99_us",
    "bw_in_gb_s", "bw_out_gb_s", "metg50_us", "idle_pct_core_max",
    "growth_small_calls_per_s", "growth_large_calls_per_s",
    "growth_small_bytes_per_call", "growth_large_bytes_per_call",
    "unequal_makespan_over_bound", "long_first_short_median_ms",
)


def parse_config(argv):
    """--size tiny|full (default full) -> the config dict, with its name."""
    size = "full"
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "--size" and args:
            size = args.pop(0)
        elif arg.startswith("--size="):
            size = arg.split("=", 1)[1]
        else:
            size = "?"
    if size not in SIZES:
        sys.exit("usage: %s [--size tiny|full]" % argv[0])
    return dict(SIZES[size], size=size)


def progress(system, what):
    """Progress on stderr, so stdout carries only the JSON line."""
    print("[%s] %s" % (system, what), file=sys.stderr, flush=True)


# --- the calls -------------------------------------------------------------

def noop(x):
    return x


def spin(d_us):
    """Busy-waits d_us microseconds on a monotonic clock."""
    end = time.perf_counter() + d_us * 1e-6
    while time.perf_counter() < end:
        pass


def sleep_us(us):
    time.sleep(us * 1e-6)


def take_bytes(data):
    return len(data)


def make_bytes(n):
    return b"x" * n


def hold_until_file(path, max_s):
    """Keeps a worker busy until `path` exists (or max_s passed), so that the
    calls submitted after it stay pending in the executor."""
    deadline = time.monotonic() + max_s
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.001)
    return 0


# --- measurement helpers -----------------------------------------------------

MASK64 = (1 << 64) - 1


def splitmix64(seed):
    """Uniform floats in [0, 1), bit for bit as bench::splitmix64."""
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        z ^= z >> 31
        yield (z >> 11) * 2.0 ** -53


def unequal_lengths_us(cfg):
    """Workload 8's call lengths, as bench::unequal_lengths_us."""
    lo, hi = cfg["unequal_min_ms"] * 1e3, cfg["unequal_max_ms"] * 1e3
    alpha = cfg["unequal_alpha"]
    tail = 1 - (lo / hi) ** alpha
    rng = splitmix64(cfg["unequal_seed"])
    # round() as llround: halves away from zero (lengths are positive).
    return [int(math.floor(min(lo / (1 - next(rng) * tail) ** (1 / alpha), hi) + 0.5))
            for _ in range(cfg["unequal_calls"])]


def makespan_bound_s(lengths_us, workers):
    return max(sum(lengths_us) / workers, max(lengths_us)) * 1e-6


def auto_range(trial, n, min_seconds, multiple=1):
    """Runs trial(n) with growing n until one run lasts min_seconds; returns
    (n, seconds) of that run. Mirrors bench::auto_range."""
    while True:
        n = max(multiple, n // multiple * multiple)
        seconds = trial(n)
        if seconds >= min_seconds:
            return n, seconds
        factor = min(10.0, max(2.0, 1.3 * min_seconds / max(seconds, 1e-6)))
        n = int(n * factor)


def percentile(samples, q):
    """Nearest-rank percentile, as bench::percentile."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = math.ceil(q * len(ordered))
    return ordered[min(len(ordered) - 1, max(rank - 1, 0))]


def metg_task_lengths(max_d_us):
    lengths = []
    decade = 1
    while decade <= max_d_us:
        lengths += [m * decade for m in (1, 2, 5) if m * decade <= max_d_us]
        decade *= 10
    return lengths


def metg_sweep(cfg, nworkers, run):
    """Efficiency for growing task lengths, stopping one point after the
    first that reaches 50%. Mirrors bench::metg_sweep."""
    points = []
    reached = False
    for d in metg_task_lengths(cfg["metg_max_d_us"]):
        ideal = cfg["metg_seconds"] * nworkers * 1e6 / d
        ntasks = int(min(max(ideal, cfg["metg_min_tasks"]), cfg["metg_max_tasks"]))
        seconds = run(d, ntasks)
        efficiency = (ntasks * d * 1e-6 / nworkers) / seconds
        points.append({"d_us": d, "ntasks": ntasks, "seconds": seconds,
                       "efficiency": efficiency})
        if reached:
            break
        reached = efficiency >= 0.5
    return points


def metg50(points):
    return next((p["d_us"] for p in points if p["efficiency"] >= 0.5), None)


def cpu_ticks(pid):
    """utime + stime of a process in clock ticks, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            line = f.read()
    except OSError:
        return None
    fields = line[line.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def idle_cpu_percent(pids, seconds):
    """Percent of a core each pid used while this thread sleeps `seconds`."""
    before = [cpu_ticks(pid) for pid in pids]
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    ticks_per_second = os.sysconf("SC_CLK_TCK")
    percent = []
    for pid, b in zip(pids, before):
        a = cpu_ticks(pid)
        percent.append(None if a is None or b is None
                       else 100.0 * (a - b) / ticks_per_second / elapsed)
    return percent


def idle_details(percent, seconds):
    worst = max([p for p in percent if p is not None], default=None)
    return {"seconds": seconds, "pct_core_per_rank": percent, "pct_core_max": worst}


def vm_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return -1


# --- the workloads -------------------------------------------------------------

def submit_then_get(ex, n):
    start = time.perf_counter()
    futures = [ex.submit(noop, i % 1000) for i in range(n)]
    total = sum(f.result() for f in futures)
    seconds = time.perf_counter() - start
    if total != sum(i % 1000 for i in range(n)):
        raise RuntimeError("wrong no-op results")
    return seconds


def map_chunked(ex, n):
    inputs = list(range(n))
    start = time.perf_counter()
    results = list(ex.map(noop, inputs, chunksize=64))
    seconds = time.perf_counter() - start
    if results != inputs:
        raise RuntimeError("wrong map results")
    return seconds


def round_trips(ex, cfg):
    # As in bench_common.hpp: a count and a time, whichever is longer.
    start = time.perf_counter()
    i = 0
    while i < cfg["rtt_warmup"] or time.perf_counter() - start < cfg["rtt_warmup_seconds"]:
        ex.submit(noop, i).result()
        i += 1
    samples = []
    for i in range(cfg["rtt_iterations"]):
        start = time.perf_counter()
        ex.submit(noop, i).result()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def bandwidth(ex, cfg):
    """Best GB/s: 64 MiB in with a small int out, then the reverse."""
    n = cfg["payload_bytes"]
    payload = b"x" * n
    best_in = best_out = 0.0
    for _ in range(cfg["payload_reps"]):
        start = time.perf_counter()
        if ex.submit(take_bytes, payload).result() != n:
            raise RuntimeError("payload lost bytes on the way in")
        best_in = max(best_in, n / (time.perf_counter() - start) / 1e9)
        start = time.perf_counter()
        if len(ex.submit(make_bytes, n).result()) != n:
            raise RuntimeError("payload lost bytes on the way out")
        best_out = max(best_out, n / (time.perf_counter() - start) / 1e9)
    return best_in, best_out


def spin_tasks(ex, d_us, ntasks):
    start = time.perf_counter()
    futures = [ex.submit(spin, d_us) for _ in range(ntasks)]
    for f in futures:
        f.result()
    return time.perf_counter() - start


def unequal_calls(ex, cfg, nworkers):
    """Workload 8: submit every unequal call, then wait for all; (makespan, bound)."""
    lengths = unequal_lengths_us(cfg)
    start = time.perf_counter()
    futures = [ex.submit(sleep_us, us) for us in lengths]
    for f in futures:
        f.result()
    return time.perf_counter() - start, makespan_bound_s(lengths, nworkers)


def long_call_first(ex, cfg):
    """Workload 9: one long call, then short ones every short_gap_ms; returns
    (long call seconds, short calls' latencies in ms), each stamped by a done
    callback (the executor's thread calls it when the result arrives)."""
    ended = {}

    def stamp(key):
        return lambda _: ended.__setitem__(key, time.perf_counter())

    start = time.perf_counter()
    long_future = ex.submit(sleep_us, round(cfg["long_ms"] * 1e3))
    long_future.add_done_callback(stamp("long"))
    submitted, futures = [], []
    for i in range(cfg["long_shorts"]):
        delay = start + (i + 1) * cfg["short_gap_ms"] * 1e-3 - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        submitted.append(time.perf_counter())
        futures.append(ex.submit(sleep_us, round(cfg["short_ms"] * 1e3)))
        futures[-1].add_done_callback(stamp(i))
    long_future.result()
    for f in futures:
        f.result()
    while len(ended) < len(futures) + 1:  # callbacks may run just after result() returns
        time.sleep(0.001)
    shorts = [(ended[i] - submitted[i]) * 1e3 for i in range(len(futures))]
    return ended["long"] - start, shorts


def measure_calls(system, ex, cfg, nworkers, figures, details):
    """Workloads 1-5, 8 and 9 on one executor."""
    progress(system, "submit + get")
    n, seconds = auto_range(lambda n: submit_then_get(ex, n), cfg["first_n"], cfg["min_seconds"])
    figures["submit_calls_per_s"] = n / seconds
    details["submit"] = {"n": n, "seconds": seconds, "calls_per_s": n / seconds}

    progress(system, "map(chunksize=64)")
    n, seconds = auto_range(lambda n: map_chunked(ex, n), cfg["first_n"], cfg["min_seconds"], 64)
    figures["map64_calls_per_s"] = n / seconds
    details["map64"] = {"n": n, "seconds": seconds, "calls_per_s": n / seconds}

    progress(system, "round trips")
    rtt = round_trips(ex, cfg)
    figures["rtt_median_us"] = percentile(rtt, 0.5)
    figures["rtt_p99_us"] = percentile(rtt, 0.99)
    details["rtt"] = {"iterations": len(rtt), "min_us": min(rtt), "p90_us": percentile(rtt, 0.9)}

    progress(system, "64 MiB payloads")
    figures["bw_in_gb_s"], figures["bw_out_gb_s"] = bandwidth(ex, cfg)

    progress(system, "METG sweep")
    points = metg_sweep(cfg, nworkers, lambda d, n: spin_tasks(ex, d, n))
    figures["metg50_us"] = metg50(points)
    if figures["metg50_us"] is None:
        skip_figure(details, "metg50_us", "no task length in the sweep reached 50% efficiency")
    details["metg"] = points

    progress(system, "unequal calls")
    makespan, bound = unequal_calls(ex, cfg, nworkers)
    figures["unequal_makespan_over_bound"] = makespan / bound
    details["unequal"] = {"makespan_s": makespan, "bound_s": bound}
    if nworkers >= 2:  # one worker has nothing to run the short calls on meanwhile
        progress(system, "one long call first")
        long_s, shorts = long_call_first(ex, cfg)
        figures["long_first_short_median_ms"] = percentile(shorts, 0.5)
        details["unequal"].update(long_call_s=long_s, short_ms_min=min(shorts),
                                  short_ms_max=max(shorts))
    else:
        skip_figure(details, "long_first_short_median_ms",
                    "one worker: nothing runs the short calls while the long one runs")


def skip_figure(details, key, why):
    """Names a figure that was not measured, with why (report.py fails on a
    null figure that is not named); emit() moves these beside the figures."""
    details.setdefault("skipped_figures", {})[key] = why


class FlagFile:
    """A file whose creation releases hold_until_file calls; removed on exit."""

    def __init__(self, tag):
        self.path = os.path.join(tempfile.gettempdir(),
                                 "rankpool-bench-%d-%s.flag" % (os.getpid(), tag))

    def __enter__(self):
        self._remove()
        return self

    def __exit__(self, *exc):
        self._remove()
        return False

    def raise_flag(self):
        with open(self.path, "w") as f:
            f.write("go\n")

    def _remove(self):
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass


def growth(ex, cfg, k, holders, running_needed, keep):
    """Submit rate and root memory for k calls pending behind `holders` long
    calls, then shutdown(wait=True, cancel_futures=True). The futures go to
    `keep`: Python's allocator keeps freed memory, so a later run would reuse
    it and show no growth unless the earlier runs' futures stay alive. Drop
    `keep` afterwards: a million live futures slow Python's garbage collector."""
    with FlagFile(str(k)) as flag:
        held = [ex.submit(hold_until_file, flag.path, cfg["growth_max_wait_s"])
                for _ in range(holders)]
        while sum(f.running() for f in held) < running_needed:
            time.sleep(0.001)
        time.sleep(0.05)  # let the executor's threads settle
        futures = [None] * k  # the caller's own list is in the baseline
        gc.collect()
        rss_before = vm_rss_bytes()
        start = time.perf_counter()
        for i in range(k):
            futures[i] = ex.submit(noop, 7)
        seconds = time.perf_counter() - start
        rss_after = vm_rss_bytes()
        # Cancel the backlog, then let the held calls end: in this order no
        # pending call can start in between. shutdown(wait=True) blocks until
        # the held calls end, so it runs on a helper thread; the flag goes up
        # once the last call is cancelled (ProcessPoolExecutor cancels
        # asynchronously, on its manager thread).
        closer = threading.Thread(target=ex.shutdown,
                                  kwargs={"wait": True, "cancel_futures": True})
        closer.start()
        deadline = time.monotonic() + cfg["growth_max_wait_s"]
        while not futures[-1].done() and time.monotonic() < deadline:
            time.sleep(0.001)
        flag.raise_flag()
        closer.join()
    arg_bytes = len(pickle.dumps((7,), protocol=pickle.HIGHEST_PROTOCOL))
    result = {
        "k": k, "seconds": seconds, "calls_per_s": k / seconds,
        "rss_before": rss_before, "rss_after": rss_after, "arg_bytes": arg_bytes,
        "bytes_per_call": (rss_after - rss_before) / k - arg_bytes,
        "cancelled": sum(f.cancelled() for f in futures),
    }
    keep.append(futures)
    return result


def growth_backlogs(cfg):
    """The small backlog takes about a millisecond, so one run of it is mostly
    noise: it runs growth_small_reps times (medians count), the large one once, last."""
    return [cfg["growth_small"]] * cfg["growth_small_reps"] + [cfg["growth_large"]]


def growth_figures(results, figures, details):
    small, large = results[:-1], results[-1]
    figures["growth_small_calls_per_s"] = percentile([r["calls_per_s"] for r in small], 0.5)
    figures["growth_large_calls_per_s"] = large["calls_per_s"]
    figures["growth_small_bytes_per_call"] = percentile([r["bytes_per_call"] for r in small], 0.5)
    figures["growth_large_bytes_per_call"] = large["bytes_per_call"]
    details["growth"] = {"small_runs": small, "large": large}


def emit(result):
    """The one JSON line on stdout; missing figures are null."""
    figures = result.setdefault("figures", {})
    for key in FIGURE_KEYS:
        figures.setdefault(key, None)
    skipped = (result.get("details") or {}).pop("skipped_figures", {})
    if skipped:
        result.setdefault("skipped_figures", {}).update(skipped)
    print(json.dumps(result), flush=True)
