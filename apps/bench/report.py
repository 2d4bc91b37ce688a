"""Merges the benchmark programs' JSON lines into one report (scripts/bench.sh).

    /usr/bin/python3 apps/bench/report.py --runs DIR --out bench-results/STAMP --size SIZE

DIR holds, per system NAME (raw, rankpool, mpi4py, ppe, and isolation: the
costs of isolated calls against the plain pool, from isolation-bench): NAME.out (the
program's stdout), NAME.rc (its exit status), NAME.busy (percent of the
machine's CPU in use just before it ran) or NAME.skip (why it did not run). Writes STAMP.json,
STAMP.md and STAMP.png (if matplotlib is there), and prints the table, the
ratios and the issue's targets. Each file is written whole or not at all
(a temporary file in the same directory, renamed into place).

Exits 1, naming what is wrong and writing nothing, when a program failed
(non-zero status, or no JSON line), raw or rankpool is missing, or a figure
is null without being named in the program's "skipped_figures" with a
reason. A missed target is not a failure (targets are timings), unless
--check is given: then it exits 3 when any target is MISSED.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile

SYSTEMS = ("raw", "rankpool", "mpi4py", "ppe")
TITLES = {"raw": "raw MPI", "rankpool": "rankpool", "mpi4py": "mpi4py.futures",
          "ppe": "ProcessPool"}

# Other processes using this much of the machine make a run's figures suspect.
BUSY_WARNING_PCT = 10

# (key, label, unit kind); "{small}"/"{large}" become the growth sizes.
ROWS = (
    ("submit_calls_per_s", "submit + get, calls/s", "rate"),
    ("map64_calls_per_s", "map(chunksize=64), calls/s", "rate"),
    ("rtt_median_us", "round trip median, µs", "time"),
    ("rtt_p99_us", "round trip p99, µs", "time"),
    ("bw_in_gb_s", "64 MiB argument in, GB/s", "bw"),
    ("bw_out_gb_s", "64 MiB result out, GB/s", "bw"),
    ("metg50_us", "METG(50%), µs", "time"),
    ("idle_pct_core_max", "idle CPU, busiest rank, % of a core", "pct"),
    ("growth_small_calls_per_s", "submit rate, {small} pending, calls/s", "rate"),
    ("growth_large_calls_per_s", "submit rate, {large} pending, calls/s", "rate"),
    ("growth_small_bytes_per_call", "root bytes per pending call, {small}", "bytes"),
    ("growth_large_bytes_per_call", "root bytes per pending call, {large}", "bytes"),
    ("unequal_makespan_over_bound", "unequal calls: makespan ÷ lower bound", "factor"),
    ("long_first_short_median_ms", "long call first: short calls' median latency, ms", "time"),
)


# --- reading ---------------------------------------------------------------------

def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def last_json_object(text):
    """The program's one JSON line; MPI may print other lines around it."""
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def load_system(runs, name):
    """The system's result dict, or {"skipped": why} / {"error": what}."""
    skip = read_text(os.path.join(runs, name + ".skip"))
    if skip is not None:
        return {"system": name, "skipped": skip}
    rc = read_text(os.path.join(runs, name + ".rc"))
    if rc is None:
        return None  # not part of this run
    result = last_json_object(read_text(os.path.join(runs, name + ".out")))
    if rc != "0" or result is None:
        why = "timed out" if rc == "124" else "exit status %s" % rc  # 124: timeout(1)
        return {"system": name, "error": why + ("" if result else ", no JSON on stdout")}
    busy = read_text(os.path.join(runs, name + ".busy"))
    result["machine_busy_pct_before"] = int(busy) if busy and busy.isdigit() else None
    return result


def finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def unmeasured(result, name):
    """Problems of one program's result: every figure (and, for
    isolation-bench, every number under none/process/ratio) must be a finite
    number or be named in "skipped_figures" with a non-empty reason."""
    skipped = result.get("skipped_figures") or {}
    problems = []
    if name == "isolation":
        groups = {g: result.get(g) for g in ("none", "process", "ratio")}
    else:
        groups = {"figures": result.get("figures")}
    for group, values in groups.items():
        if not isinstance(values, dict):
            problems.append("%s: no \"%s\" in its JSON" % (name, group))
            continue
        keys = list(values)
        if name != "isolation":
            keys += [k for k, _, _ in ROWS if k not in values]
        for key in keys:
            if finite(values.get(key)):
                continue
            label = key if name != "isolation" else group + "." + key
            why = skipped.get(key) or skipped.get(label)
            if not (isinstance(why, str) and why.strip()):
                problems.append("%s: figure %s was not measured (%r) and is not named as "
                                "skipped with a reason" % (name, label, values.get(key)))
    return problems


def run_command(args):
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
        return out.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model():
    for line in (read_text("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def machine_info():
    mpirun = run_command(["mpirun", "--version"]) or ""
    first = mpirun.splitlines()[0] if mpirun else ""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = run_command(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    dirty = run_command(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "open_mpi": first.split(")")[-1].strip() if ")" in first else first or None,
        "boost": run_command(["dpkg-query", "-W", "-f=${Version}", "libboost-mpi-dev"]),
        "compiler": (run_command(["c++", "--version"]) or "").split("\n")[0] or None,
        "kernel": platform.release(),
        "debian": read_text("/etc/debian_version"),
        "python": platform.python_version(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "rankpool_commit": (commit or "?") + ("+dirty" if dirty else ""),
    }


# --- figures, ratios, targets -------------------------------------------------------

def figure(systems, name, key):
    value = (systems.get(name) or {}).get("figures", {}).get(key)
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def ratios(systems):
    """rankpool's figures over each reference's, per figure key (None where missing)."""
    out = {}
    for key, _, _ in ROWS:
        rp = figure(systems, "rankpool", key)
        out[key] = {"rankpool/" + ref: ratio(rp, figure(systems, ref, key))
                    for ref in ("raw", "mpi4py")}
    return out


def targets(systems, placement="oversubscribed", iso=None):
    """The targets for this placement, each with its measured value and met
    True/False/None: the core figures' targets on the oversubscribed
    machine, the dedicated-cores ones (tighter ratios to raw MPI) with one
    rank per core, and the unequal-calls ones on both."""
    asked = []  # the (system, figure) pairs the current target reads

    def f(name, key):
        asked.append((name, key))
        return figure(systems, name, key)
    out = []

    def check(what, value, met, shown):
        entry = {"target": what, "value": value, "measured": shown,
                 "met": None if value is None else bool(met(value))}
        if value is None:
            entry["why"] = not_measured_why(systems, iso, asked) or "not measured"
        out.append(entry)
        asked.clear()

    if placement == "dedicated":
        dedicated_targets(f, check)
    else:
        oversubscribed_targets(f, check)
    unequal_targets(systems, f, check)
    if iso is not None:
        isolation_targets(iso, check)
    return out


def not_measured_why(systems, iso, asked):
    """Why a target has no value: the reasons its figures were skipped."""
    reasons = []
    for name, key in asked:
        result = systems.get(name) or {}
        if "skipped" in result:
            why = "%s skipped: %s" % (name, result["skipped"])
        elif "error" in result:
            why = "%s FAILED: %s" % (name, result["error"])
        elif not result:
            why = "%s did not run" % name
        elif figure(systems, name, key) is None:
            why = "%s %s: %s" % (name, key, (result.get("skipped_figures") or {}).get(key))
        else:
            continue
        if why not in reasons:
            reasons.append(why)
    if iso is not None and not reasons:
        skipped = iso.get("skipped_figures") or {}
        reasons = ["isolation %s: %s" % kv for kv in skipped.items()]
    return "; ".join(reasons)


def isolation_targets(iso, check):
    """Isolated calls against the plain pool of the same run (isolation-bench)."""
    r = (iso or {}).get("ratio") or {}
    p = (iso or {}).get("process") or {}
    v = r.get("rtt")
    check("isolated calls: round trip ≤ 1.5× without isolation", v, lambda v: v <= 1.5,
          fmt_ratio(v))
    v = r.get("rtt_added_us")
    check("isolated calls: round trip adds ≤ 3 µs", v, lambda v: v <= 3,
          fmt(v, "time", " µs") if v is not None else "n/a")
    v = r.get("map64")
    check("isolated calls: map(64) ≥ 0.7× without isolation", v, lambda v: v >= 0.7, fmt_ratio(v))
    v = r.get("arg_64mib")
    check("isolated calls: 64 MiB argument ≥ 0.7× without isolation", v, lambda v: v >= 0.7,
          fmt_ratio(v))
    v = p.get("idle_cpu_percent_per_call_process")
    check("isolated calls: call processes idle < 0.5% of a core", v, lambda v: v < 0.5,
          fmt(v, "pct", "%") if v is not None else "n/a")


def isolation_rows(iso):
    """The plain and isolated pools' figures side by side, for the report."""
    if not iso:
        return []
    n, p, r = iso.get("none", {}), iso.get("process", {}), iso.get("ratio", {})
    rows = [["round trip median, µs", fmt(n.get("rtt_us"), "time"), fmt(p.get("rtt_us"), "time"),
             fmt_ratio(r.get("rtt"))],
            ["map(chunksize=64), calls/s", fmt(n.get("map64_calls_per_s"), "rate"),
             fmt(p.get("map64_calls_per_s"), "rate"), fmt_ratio(r.get("map64"))],
            ["64 MiB argument in, GB/s", fmt(n.get("arg_64mib_gb_s"), "bw"),
             fmt(p.get("arg_64mib_gb_s"), "bw"), fmt_ratio(r.get("arg_64mib"))],
            ["call processes idle, % of a core", "", fmt(
                p.get("idle_cpu_percent_per_call_process"), "pct"), ""],
            ["a call that aborts: submit to failure, ms", "", fmt(
                p.get("crash_recovery_ms"), "time"), ""]]
    return rows


def payload_check(f, check, what, floor):
    """64 MiB in and out against the raw farm: the worse direction must reach `floor`."""
    r_in = ratio(f("rankpool", "bw_in_gb_s"), f("raw", "bw_in_gb_s"))
    r_out = ratio(f("rankpool", "bw_out_gb_s"), f("raw", "bw_out_gb_s"))
    worst = None if r_in is None or r_out is None else min(r_in, r_out)
    check(what, worst, lambda v: v >= floor, "in %s, out %s" % (fmt_ratio(r_in), fmt_ratio(r_out)))


def dedicated_targets(f, check):
    r = ratio(f("rankpool", "rtt_median_us"), f("raw", "rtt_median_us"))
    check("round trip (median) ≤ 1.5× raw", r, lambda v: v <= 1.5, fmt_ratio(r))
    r = ratio(f("rankpool", "submit_calls_per_s"), f("raw", "submit_calls_per_s"))
    check("submit + get ≥ 0.5× raw", r, lambda v: v >= 0.5, fmt_ratio(r))
    payload_check(f, check, "64 MiB ≥ 0.8× raw's warm-buffer transfer (in and out)", 0.8)
    v = f("rankpool", "idle_pct_core_max")
    check("idle < 1% of a core per rank", v, lambda v: v < 1, fmt(v, "pct", "%"))
    r = ratio(f("rankpool", "metg50_us"), f("raw", "metg50_us"))
    check("METG(50%) ≤ 2× raw", r, lambda v: v <= 2, fmt_ratio(r))


def oversubscribed_targets(f, check):
    r = ratio(f("rankpool", "submit_calls_per_s"), f("raw", "submit_calls_per_s"))
    check("submit throughput ≥ 0.25× raw", r, lambda v: v >= 0.25, fmt_ratio(r))
    r = ratio(f("rankpool", "submit_calls_per_s"), f("mpi4py", "submit_calls_per_s"))
    check("submit throughput ≥ 50× mpi4py", r, lambda v: v >= 50, fmt_ratio(r))
    r = ratio(f("rankpool", "map64_calls_per_s"), f("raw", "map64_calls_per_s"))
    check("map(64) ≥ 0.5× raw", r, lambda v: v >= 0.5, fmt_ratio(r))
    r = ratio(f("rankpool", "rtt_median_us"), f("raw", "rtt_median_us"))
    check("warm round trip (median) ≤ 3× raw", r, lambda v: v <= 3, fmt_ratio(r))
    payload_check(f, check, "64 MiB payload ≥ 0.6× raw bandwidth (in and out)", 0.6)
    v = f("rankpool", "idle_pct_core_max")
    check("idle < 2% of a core per rank", v, lambda v: v < 2, fmt(v, "pct", "%"))
    v = f("rankpool", "metg50_us")
    check("METG(50%) ≤ 10 µs", v, lambda v: v <= 10,
          fmt(v, "time", " µs") if v is not None else "not reached")
    r = ratio(f("rankpool", "growth_large_calls_per_s"), f("rankpool", "growth_small_calls_per_s"))
    check("submit rate at the large backlog ≥ 0.8× the small one", r, lambda v: v >= 0.8,
          fmt_ratio(r))
    v = f("rankpool", "growth_large_bytes_per_call")
    check("root memory ≤ 256 bytes per pending call (large backlog)", v, lambda v: v <= 256,
          fmt(v, "bytes", " B"))


def unequal_targets(systems, f, check):
    v = f("rankpool", "unequal_makespan_over_bound")
    check("unequal calls: makespan ≤ 1.1× the lower bound", v, lambda v: v <= 1.1,
          fmt(v, "factor", "×"))
    others = [f(s, "unequal_makespan_over_bound") for s in SYSTEMS if s != "rankpool"]
    others = [o for o in others if o is not None]
    best = min(others) if others else None
    r = ratio(v, best)
    check("unequal calls: makespan no worse than every other system's", r, lambda r: r <= 1,
          "%s of the best other" % fmt_ratio(r))
    v = f("rankpool", "long_first_short_median_ms")
    short_ms = ((systems.get("rankpool") or {}).get("config") or {}).get("short_ms")
    r = ratio(v, short_ms)
    check("long call first: short calls' median ≤ 2× their own length", r, lambda r: r <= 2,
          fmt_ratio(r))


# --- formatting ------------------------------------------------------------------------

def si(value):
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return "%.3g%s" % (value / scale, suffix)
    return "%.3g" % value


def fmt(value, kind, unit=""):
    if value is None:
        return "—"
    if kind == "rate":
        text = si(value)
    elif kind == "bw":
        text = "%.2f" % value
    elif kind == "pct":  # two decimals: the idle target's threshold is 2%
        text = "%.2f" % value if abs(value) < 10 else "%.0f" % value
    elif kind == "factor":
        text = "%.3f" % value
    elif kind == "bytes":
        text = "%.1f" % value if abs(value) < 100 else "%.0f" % value
    else:
        text = "%.3g" % value if value < 1000 else "%.0f" % value
    return text + unit


def fmt_ratio(r):
    return "—" if r is None else ("%.3g×" % r)


def power_label(n):
    exponent = math.log10(n) if n else 0
    return "10^%d" % exponent if n and exponent == int(exponent) else str(n)


def table_rows(systems, present, size_cfg):
    labels = {"small": power_label(size_cfg.get("growth_small", 0)),
              "large": power_label(size_cfg.get("growth_large", 0))}
    header = ["figure"] + [TITLES[s] for s in present] + ["rankpool/raw", "rankpool/mpi4py"]
    rows = []
    for key, label, kind in ROWS:
        cells = [label.format(**labels)]
        cells += [fmt(figure(systems, s, key), kind) for s in present]
        rp = figure(systems, "rankpool", key)
        cells.append(fmt_ratio(ratio(rp, figure(systems, "raw", key))))
        cells.append(fmt_ratio(ratio(rp, figure(systems, "mpi4py", key))))
        rows.append(cells)
    return header, rows


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(header, rows):
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


RESULT_WORDS = {True: "met", False: "MISSED", None: "skipped"}


def target_lines(checks):
    return ["%-7s %s: %s%s" % (RESULT_WORDS[c["met"]], c["target"], c["measured"],
                               " (%s)" % c["why"] if c.get("why") else "") for c in checks]


def notes_for(systems):
    notes = []
    for name, result in systems.items():
        if "skipped" in result:
            notes.append("%s: skipped (%s)" % (name, result["skipped"]))
        elif "error" in result:
            notes.append("%s: FAILED (%s)" % (name, result["error"]))
        else:
            notes += ["%s: %s" % (name, n) for n in result.get("notes", [])]
            parts = result.get("details", {}).get("payload_out_parts")
            if parts:
                notes.append("%s: the 64 MiB result's call makes a new vector (%.1f ms alone on a "
                             "worker); without it the result moves at %s GB/s"
                             % (name, parts["make_bytes_s"] * 1e3,
                                fmt(parts.get("bw_out_without_make_gb_s"), "bw")))
            fresh = result.get("details", {}).get("payload_fresh_buffer")
            if fresh:
                notes.append("%s: 64 MiB into a new vector per transfer instead: in %s, out %s GB/s"
                             % (name, fmt(fresh.get("bw_in_gb_s"), "bw"),
                                fmt(fresh.get("bw_out_gb_s"), "bw")))
            busy = result.get("machine_busy_pct_before")
            if busy is not None and busy >= BUSY_WARNING_PCT:
                notes.append("%s: other processes used %d%% of the machine's CPU just before "
                             "this run: its figures may be low or noisy" % (name, busy))
    return notes


def write_whole(path, fill):
    """Writes path atomically: fill(f) writes a temporary file (binary) in
    the same directory, which is synced and renamed over path, so a reader
    or an interrupted run never sees part of a report."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                                suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def write_text(path, text):
    write_whole(path, lambda f: f.write(text.encode("utf-8")))


def write_markdown(path, report, header, rows, checks):
    m = report["machine"]
    text = ["# rankpool benchmarks, %s, %s (size %s)"
            % (report["placement"], report["timestamp"], report["size"]), "",
            "%d ranks (1 root + %d workers) on one host: %s, %s cores, Open MPI %s, Boost %s, %s."
            % (report["ranks"], report["ranks"] - 1, m["cpu_model"], m["nproc"], m["open_mpi"],
               m["boost"], m["compiler"]), "",
            "Launched as `%s`; ProcessPool runs %d worker processes without MPI."
            % (report["launch"], report["ranks"] - 1), "",
            "Higher is better for calls/s and GB/s, lower for µs, % and bytes. "
            "Method: docs/benchmarks/README.md.", "",
            markdown_table(header, rows), "", "## Targets", "",
            markdown_table(["target", "rankpool", "result"],
                           [[c["target"], c["measured"],
                             RESULT_WORDS[c["met"]] + (" (%s)" % c["why"] if c.get("why") else "")]
                            for c in checks])]
    iso_rows = isolation_rows(report.get("isolation"))
    if iso_rows:
        text += ["", "## Isolated calls", "",
                 "The same pool with `options.isolation = process` against without, in one run "
                 "(isolation-bench; docs/reliability.md, \"Isolated calls\").", "",
                 markdown_table(["figure", "isolation::none", "isolation::process", "ratio"],
                                iso_rows)]
    if report["notes"]:
        text += ["", "## Notes", ""] + ["- " + n for n in report["notes"]]
    write_text(path, "\n".join(text) + "\n")


def write_plot(path, systems, present, workers):
    """Calls/s and round trips per system, log scale. Returns a note or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return "no plot: matplotlib is not importable (%s)" % e
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    groups = [("submit_calls_per_s", "submit + get"), ("map64_calls_per_s", "map(64)")]
    bar_chart(left, systems, present, groups, "calls/s (higher is better)")
    groups = [("rtt_median_us", "median"), ("rtt_p99_us", "p99")]
    bar_chart(right, systems, present, groups, "round trip, µs (lower is better)")
    fig.suptitle("rankpool vs references, 1 root + %d workers" % workers)
    fig.tight_layout()
    write_whole(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return None


def bar_chart(axes, systems, present, groups, title):
    width = 0.8 / len(groups)
    for g, (key, label) in enumerate(groups):
        xs = [i + (g - (len(groups) - 1) / 2) * width for i in range(len(present))]
        values = [figure(systems, s, key) or 0 for s in present]
        bars = axes.bar(xs, values, width, label=label)
        for bar, v in zip(bars, values):
            if v:
                axes.annotate(si(v), (bar.get_x() + bar.get_width() / 2, v), ha="center",
                              va="bottom", fontsize=7)
    axes.set_yscale("log")
    axes.set_xticks(range(len(present)))
    axes.set_xticklabels([TITLES[s] for s in present])
    axes.set_title(title)
    axes.legend()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", required=True)
    parser.add_argument("--out", required=True, help="path prefix: writes PREFIX.json/.md/.png")
    parser.add_argument("--size", required=True)
    parser.add_argument("--ranks", type=int, default=3)
    parser.add_argument("--placement", default="oversubscribed",
                        help="how ranks sit on cores: oversubscribed or dedicated")
    parser.add_argument("--launch", default="mpirun -n 3", help="the mpirun command line used")
    parser.add_argument("--note", action="append", default=[])
    parser.add_argument("--check", action="store_true",
                        help="exit 3 when a target is MISSED (not for CI: targets are timings)")
    args = parser.parse_args()

    systems = {}
    for name in SYSTEMS:
        result = load_system(args.runs, name)
        if result is not None:
            systems[name] = result
    present = [s for s in SYSTEMS if s in systems and "figures" in systems[s]]
    size_cfg = next((systems[s].get("config", {}) for s in present), {})
    header, rows = table_rows(systems, present, size_cfg)
    iso = load_system(args.runs, "isolation")
    # Every program that ran must have succeeded and measured every figure
    # it reports (or named it as skipped, with why); raw, rankpool and
    # isolation-bench must have run.
    problems = []
    for name in SYSTEMS + ("isolation",):
        result = iso if name == "isolation" else systems.get(name)
        if result is None:
            if name in ("raw", "rankpool", "isolation"):
                problems.append("%s: did not run (no %s.rc in %s)" % (name, name, args.runs))
        elif "error" in result:
            problems.append("%s: FAILED (%s)" % (name, result["error"]))
        elif "skipped" in result:
            if name in ("raw", "rankpool", "isolation"):
                problems.append("%s: skipped (%s), but it must run" % (name, result["skipped"]))
        else:
            problems += unmeasured(result, name)
    if problems:
        print("report: FAILED, no report written:", file=sys.stderr)
        print("\n".join("  - " + p for p in problems), file=sys.stderr)
        return 1
    checks = targets(systems, args.placement, iso)
    report = {
        "timestamp": os.path.basename(args.out),
        "size": args.size,
        "ranks": args.ranks,
        "placement": args.placement,
        "launch": args.launch,
        "machine": machine_info(),
        "systems": systems,
        "ratios": ratios(systems),
        "targets": checks,
        "isolation": iso,
        "notes": args.note + notes_for(systems),
    }
    plot_note = (write_plot(args.out + ".png", systems, present, args.ranks - 1) if present
                 else "no plot: no data")
    if plot_note:
        report["notes"].append(plot_note)
    write_text(args.out + ".json", json.dumps(report, indent=2) + "\n")
    write_markdown(args.out + ".md", report, header, rows, checks)

    print("\n%s: %s" % (args.placement, args.launch))
    print(text_table(header, rows))
    if iso:
        print("\nIsolated calls (isolation::none, isolation::process, ratio):")
        print(text_table(["figure", "none", "process", "ratio"], isolation_rows(iso)))
    print("\nTargets:")
    print("\n".join("  " + line for line in target_lines(checks)))
    if report["notes"]:
        print("\nNotes:")
        print("\n".join("  - " + n for n in report["notes"]))
    written = [args.out + ext for ext in (".json", ".md", ".png") if os.path.exists(args.out + ext)]
    print("\nwrote " + ", ".join(written))
    missed = [c["target"] for c in checks if c["met"] is False]
    if args.check and missed:
        print("report --check: %d target(s) MISSED: %s" % (len(missed), "; ".join(missed)),
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
