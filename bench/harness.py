"""The harness every benchmark in bench/ shares: flags, child processes, interleaved
timing with min/median/max, peak memory, tables and ratios.

Benchmarks are modules of the package `bench`, run from the repository root
(`python -m bench.finetune --task=ner`); each engine runs in a child process of its own,
started the same way (`bench_argv`), so that its memory is its own and no benchmark
edits `sys.path` or imports another: what they share lives here (flags, timing, processes,
reports), in bench/machine.py (the header: machine, versions, settings; thread settings),
bench/compute.py (FLOPs, the GEMM peak, MFU, profiles) and bench/peers.py
(the keras-hub and transformers peers, the export through bert-predict).

Two ways to use child processes:

* one-shot: the child does its work and reports one JSON dict:
      child:  harness.emit_result({...});  parent: harness.run_child(argv)
* interleaved timing: every child builds, checks and warms up its engine, then the
  parent asks them for one timed call at a time, round-robin, rotating who goes first,
  so that load from other processes hits all engines alike and the ratios stay fair on
  a busy host:
      child:  harness.reset_peak_rss(); <check, warm up>; harness.serve_reps(step, info)
      parent: rows = harness.interleave(argv_of, engines, reps, items, env)

Columns every benchmark shares: min/median/max throughput over the timed calls (the max
from the fastest call); `CPU s`: the child's CPU seconds per call, all threads (well
below threads x wall means it waited for cores: see the load averages printed); `peak
RSS`: the child's whole-process peak (`ru_maxrss`: framework, model, data, the run);
`run HWM`: the peak from just before the first model call (Linux `VmHWM` after
`reset_peak_rss`), without what loading took before.

Only the standard library is imported at module level, so a parent process stays light.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from bench import machine

READY_MARKER = "BENCH_READY "    # child: built and warmed up; JSON info follows
REP_MARKER = "BENCH_REP "        # child: [wall_s, cpu_s] of one timed call
RESULT_MARKER = "BENCH_RESULT "  # child: final JSON dict


def bench_argv(name, *args):
    """The command line of benchmark `bench/<name>.py` (e.g. a child of it): run as a
    module with this interpreter, `[sys.executable, "-m", "bench.<name>", *args]`."""
    return [sys.executable, "-m", f"bench.{name}", *args]


# --- flags -----------------------------------------------------------------------------
def parser(doc, engines=None, default_engines=None, workdir=False):
    """An argument parser titled by the docstring's first paragraph, with `--threads`,
    `--engines` (if `engines`), the children's hidden `--engine` and, with `workdir`, the
    hidden `--workdir` where the parent's temporary folder is passed to them."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=machine.cpu_count(),
                   help="TF intra/inter-op and torch threads (default: all cores)")
    if engines:
        p.add_argument("--engines", default=",".join(default_engines or engines),
                       help=f"comma-separated subset of {','.join(engines)}")
    p.add_argument("--engine", default=None, help=argparse.SUPPRESS)  # a child's engine
    if workdir:
        p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    return p


def parse(p, argv=None, positive=(), nonnegative=(), engines=None):
    """Parses `argv`; a flag of `positive` below 1 or of `nonnegative` below 0 is a usage
    error. Sets `args.engine_list` (`parse_engines`) when `engines` is given, and
    `args.flag_names`, the visible flags (`settings`, `passthrough`)."""
    args = p.parse_args(argv)
    for names, low in ((positive, 1), (nonnegative, 0)):
        for name in names:
            if getattr(args, name) is not None and getattr(args, name) < low:
                p.error(f"--{name} must be >= {low}, got {getattr(args, name)}")
    if engines:
        args.engine_list = parse_engines(p, args.engines, engines)
    args.flag_names = [a.dest for a in p._actions
                       if a.help != argparse.SUPPRESS and a.dest != "help"]
    return args


def parse_engines(parser, engines, known):
    """The comma-separated `--engines` value as a list in `known`'s order; an unknown name
    is a usage error of `parser`."""
    chosen = {e.strip() for e in engines.split(",") if e.strip()}
    unknown = sorted(chosen - set(known))
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {known}")
    return [e for e in known if e in chosen]


def settings(args):
    """{flag: value} of every visible flag: the header's settings line."""
    return {name: getattr(args, name) for name in args.flag_names}


def passthrough(args):
    """The visible flags as a child's command line (a true switch as `--name`)."""
    out = []
    for name, value in settings(args).items():
        if value is True:
            out.append(f"--{name}")
        elif value is not None and value is not False:
            out.append(f"--{name}={value}")
    return out


def start(title, packages, args):
    """Prints the header; returns (environment for the children, GPU name or None): on
    `--device cpu` (or a benchmark without the flag) no GPU is visible to them."""
    print(machine.header(title, packages, settings(args)), flush=True)
    env = machine.thread_env(args.threads)
    if getattr(args, "device", "cpu") == "cpu":
        env.setdefault("CUDA_VISIBLE_DEVICES", "")  # a CPU benchmark, also on a GPU host
        return env, None
    name = machine.gpu_name()
    print(f"gpu     : {name or 'none found by nvidia-smi'}")
    return env, name


def dispatch(args, run_child_engine, run_parent, prepare=None):
    """The `__main__` of every benchmark: the parent (no --engine) runs `run_parent(args)`
    and exits with its status; a child started with `--engine=prepare` runs `prepare(args)`,
    any other `--engine=NAME` runs `run_child_engine(args)`."""
    if args.engine is None:
        sys.exit(run_parent(args))
    if args.engine == "prepare" and prepare is not None:
        prepare(args)
    else:
        run_child_engine(args)


# --- timing and memory -----------------------------------------------------------------
def timed_call(fn):
    """(wall seconds, CPU seconds of this whole process) of one `fn()`. `fn` must finish
    its work before it returns (e.g. end with `.numpy()`)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def summarize(walls, items, cpus=None):
    """min/median/max wall seconds per call and the matching throughput (`items` per
    call; the max throughput comes from the fastest call), plus the median CPU seconds."""
    lo, med, hi = min(walls), statistics.median(walls), max(walls)
    out = {"reps": len(walls), "sec_min": lo, "sec_median": med, "sec_max": hi,
           "per_sec_min": items / hi, "per_sec_median": items / med,
           "per_sec_max": items / lo}
    if cpus:
        out["cpu_sec_median"] = statistics.median(cpus)
    return out


_peak_before_reset_mib = 0.0


def peak_rss_mib():
    """Peak resident set size of this process, in MiB (ru_maxrss; see reset_peak_rss)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def reset_peak_rss():
    """Resets the kernel's high-water mark (VmHWM) so that `memory_report()`'s `hwm_mib`
    covers only what runs from now on (Linux >= 4.0; False where unsupported). The reset
    also lowers ru_maxrss, so the peak so far is remembered for `memory_report`."""
    global _peak_before_reset_mib
    _peak_before_reset_mib = max(_peak_before_reset_mib, peak_rss_mib())
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_report():
    """{"peak_rss_mib": whole-process peak, "hwm_mib": peak since `reset_peak_rss()`,
    "rss_mib": current RSS}."""
    return {"peak_rss_mib": max(_peak_before_reset_mib, peak_rss_mib()),
            "hwm_mib": machine.proc_mib("/proc/self/status", "VmHWM"),
            "rss_mib": machine.proc_mib("/proc/self/status", "VmRSS")}


def memory_verdict(mib, budget_gib):
    """"PASS" if `mib` MiB fits in `budget_gib` GiB, else "FAIL"."""
    return "PASS" if mib is not None and mib <= budget_gib * 1024 else "FAIL"


# --- child side ------------------------------------------------------------------------
def _emit(marker, value):
    print(marker + json.dumps(value), flush=True)


def emit_result(result):
    """Child side of `run_child`: reports `result` (a JSON-serializable dict)."""
    _emit(RESULT_MARKER, result)


def serve_reps(fn, info, final_info=None):
    """Child side of `interleave`: reports `info` (dict) as ready, then times one `fn()`
    per "rep" line on stdin; on "stop" (or EOF) reports `memory_report()`, plus
    `final_info()` (a dict, e.g. statistics gathered during the reps) if given."""
    _emit(READY_MARKER, info)
    for line in sys.stdin:
        if line.strip() == "rep":
            _emit(REP_MARKER, list(timed_call(fn)))
        elif line.strip() == "stop":
            break
    emit_result({**memory_report(), **(final_info() if final_info else {})})


# --- parent side -----------------------------------------------------------------------
class Child:
    """A child process spoken to through stdin/stdout lines, started in `REPO_ROOT`. Its
    stdout lines without a marker are echoed indented (the child's own notes); its stderr
    (framework logs) goes to a temporary file, shown only when the child fails."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self._notes = []
        self.proc = subprocess.Popen(argv, env=env, cwd=machine.REPO_ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, bufsize=1)

    def expect(self, marker):
        """The JSON value of the child's next `marker` line."""
        for line in self.proc.stdout:
            if line.startswith(marker):
                return json.loads(line[len(marker):])
            if line.strip():
                self._notes.append(line.rstrip())
                print(f"  | {line.rstrip()}", flush=True)
        self.proc.wait()
        self._stderr.seek(0)
        tail = "\n".join((self._notes + self._stderr.read().splitlines())[-30:])
        raise RuntimeError(f"benchmark child {self.name!r} exited with "
                           f"{self.proc.returncode} before reporting:\n{tail}")

    def send(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def close(self):
        """Waits for the child (after its final report), killing it if it hangs."""
        try:
            if self.proc.poll() is None and not self.proc.stdin.closed:
                self.send("stop")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


def run_child(argv, env=None, name=None):
    """Runs a one-shot child to the end; returns the dict its `emit_result` reported."""
    child = Child(name or os.path.basename(argv[-1]), argv, env)
    try:
        return child.expect(RESULT_MARKER)
    finally:
        child.close()


def run_interleaved(argvs, reps, items, env=None, on_start=None):
    """Runs the children {name: argv} (see `serve_reps`) with interleaved timing: they
    start one after another (each builds and warms up alone), then stay alive together
    while the parent asks for `reps` rounds of one timed call each, rotating who goes
    first. Returns one row per child, in order: {"engine": name, **info,
    **summarize(...), **memory_report()}. `on_start(name)` is called as each starts."""
    children = []
    try:
        infos = {}
        for name, argv in argvs.items():
            if on_start:
                on_start(name)
            children.append(Child(name, argv, env))
            infos[name] = children[-1].expect(READY_MARKER)
        walls = {c.name: [] for c in children}
        cpus = {c.name: [] for c in children}
        for r in range(reps):
            shift = r % len(children)
            for child in children[shift:] + children[:shift]:
                child.send("rep")
                wall, cpu = child.expect(REP_MARKER)
                walls[child.name].append(wall)
                cpus[child.name].append(cpu)
        rows = []
        for child in children:
            child.send("stop")
            memory = child.expect(RESULT_MARKER)
            rows.append({"engine": child.name, **infos[child.name],
                         **summarize(walls[child.name], items, cpus[child.name]), **memory})
        return rows
    finally:
        for child in children:
            child.close()


def interleave(argv_of, engines, reps, items, env, verb="starting", prefix=""):
    """`run_interleaved` over `engines`, the argv of each from `argv_of(engine)`, printing
    "<prefix>starting <engine> ..." as each child starts."""
    return run_interleaved({engine: argv_of(engine) for engine in engines}, reps=reps,
                           items=items, env=env,
                           on_start=lambda e: print(f"{prefix}{verb} {e} ...", flush=True))


# --- reports ---------------------------------------------------------------------------
def rate_columns(unit, fmt):
    """The min/median/max throughput columns, e.g. `rate_columns("seq", "{:.1f}")`."""
    return [(f"per_sec_{k}", f"{unit}/s {k}", fmt) for k in ("min", "median", "max")]


MEMORY_COLUMNS = [("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
                  ("hwm_mib", "run HWM MiB", "{:.0f}")]


def format_table(rows, columns):
    """A fixed-width text table; `columns` is [(key, title, format)], rows are dicts."""
    cells = [[title for _, title, _ in columns]]
    for row in rows:
        cells.append([("-" if row.get(key) is None else fmt.format(row[key]))
                      for key, _, fmt in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 or i == len(columns) - 1 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def print_ratios(title, rows, pairs, target=None, cpu=None, width=12):
    """Prints `title`, then for each (a, b[, note]) of `pairs` whose rows both ran the
    ratio of their median throughputs, met / NOT met against `target` (if given), the
    note, and the inverse ratio of the row key `cpu` (CPU seconds per call) in brackets.
    Prints nothing when no pair ran; returns the ratios {(a, b): value}."""
    by_engine = {row["engine"]: row for row in rows}
    ratios = {}
    for a, b, *note in pairs:
        if a not in by_engine or b not in by_engine:
            continue
        if not ratios:
            print(title)
        x, y = by_engine[a], by_engine[b]
        ratios[a, b] = ratio = x["per_sec_median"] / y["per_sec_median"]
        line = f"  {a:<{width}} / {b:<{width + 1}} = {ratio:.2f}x"
        if target is not None:
            line += f"  ({'met' if ratio >= target else 'NOT met'})"
        line += "".join(f"  {n}" for n in note)
        if cpu:
            line += f"  [CPU {y[cpu] / x[cpu]:.2f}x]"
        print(line)
    return ratios
