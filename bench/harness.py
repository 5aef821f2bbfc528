"""The harness every benchmark in bench/ shares: flags, child processes, interleaved
timing, peak memory, tables and ratios; bench/machine.py prints the header (machine,
versions, settings) and sets the threads, bench/compute.py counts FLOPs, the GEMM peak,
MFU and profiles, bench/peers.py holds the keras-hub and transformers peers and the
shared data. No benchmark imports another or edits `sys.path`.

Benchmarks are modules of the package `bench`, run from the repository root with the
project's environment active (`. .venv/bin/activate; python -m bench.finetune
--task=ner`). Each engine runs in a child process of its own, started the same way
(`bench_argv`), so that its memory is its own:

* one-shot: the child does its work and reports one JSON dict:
      child:  harness.emit_result({...});  parent: harness.run_child(argv)
* interleaved timing: every child builds its engine, checks its output against a
  reference (so that the timings compare equal work) and warms it up; then the parent
  asks them for one timed call at a time, rotating who goes first, so that load from
  other processes hits all engines alike and the ratios stay fair on a busy host:
      child:  harness.reset_peak_rss(); <check, warm up>; harness.serve_reps(step, info)
      parent: rows = harness.interleave(argv_of, engines, reps, items, env)

Shared columns: min/median/max throughput over the timed calls (the max from the
fastest call; ratios are of medians); `CPU s`: the child's CPU seconds per call, all
threads (well below threads x wall means it waited for cores: see the load averages
printed); `peak RSS`: the child's whole-process peak (`ru_maxrss`); `run HWM`: the peak
from just before the first model call (`VmHWM` after `reset_peak_rss`).
"""
import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
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
    """The command line of benchmark `bench/<name>.py`, run as a module."""
    return [sys.executable, "-m", f"bench.{name}", *args]


# --- flags -----------------------------------------------------------------------------
# Flags most benchmarks have: name -> (type, help, lowest value allowed or None).
COMMON_FLAGS = {"reps": (int, "timed calls per engine", 1),
                "warmup": (int, "untimed calls per engine before timing", 0),
                "batch_size": (int, None, 1), "seed": (int, None, None)}


def parser(doc, engines=None, default_engines=None, workdir=False, **common):
    """An argument parser titled by the docstring's first paragraph, with `--threads`,
    `--engines` (if `engines`), each COMMON_FLAGS flag named in `common` (its default
    given), the children's hidden `--engine` and, with `workdir`, the hidden `--workdir`
    where the parent passes its folder to them."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=machine.cpu_count(),
                   help="TF intra/inter-op and torch threads (default: all cores)")
    p.bench_engines, p.bench_minimum = engines, {"threads": 1}
    if engines:
        p.add_argument("--engines", default=",".join(default_engines or engines),
                       help=f"comma-separated subset of {','.join(engines)}")
    for name, default in common.items():
        kind, text, low = COMMON_FLAGS[name]
        p.add_argument(f"--{name}", type=kind, default=default, help=text)
        if low is not None:
            p.bench_minimum[name] = low
    p.add_argument("--engine", default=None, help=argparse.SUPPRESS)  # a child's engine
    if workdir:
        p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    return p


def parse(p, argv=None, positive=(), nonnegative=(), minimum=None):
    """Parses `argv`; a flag below its lowest value (COMMON_FLAGS', 1 for `positive`, 0
    for `nonnegative`, or `minimum` {flag: value}) is a usage error. Sets
    `args.engine_list` (`parse_engines`) when the parser has engines, and
    `args.flag_names`, the visible flags (`settings`, `passthrough`)."""
    args = p.parse_args(argv)
    lowest = {**p.bench_minimum, **dict.fromkeys(positive, 1),
              **dict.fromkeys(nonnegative, 0), **(minimum or {})}
    for name, low in lowest.items():
        if getattr(args, name) is not None and getattr(args, name) < low:
            p.error(f"--{name} must be >= {low}, got {getattr(args, name)}")
    if p.bench_engines:
        args.engine_list = parse_engines(p, args.engines, p.bench_engines)
    args.flag_names = [a.dest for a in p._actions
                       if a.help != argparse.SUPPRESS and a.dest != "help"]
    return args


def parse_engines(parser, names, known, flag="engines"):
    """A comma-separated list of `known` names (e.g. `--engines`) in `known`'s order; an
    unknown name, or none, is a usage error of `parser`."""
    chosen = {e.strip() for e in names.split(",") if e.strip()}
    unknown = sorted(chosen - set(known))
    if unknown or not chosen:
        parser.error(f"--{flag}: unknown {unknown or names!r}; choose from {list(known)}")
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


def child_argv(name, args, engine, *extra):
    """The command line of benchmark `name`'s child for `engine`: the parent's flags
    (`passthrough`), then `extra` (which win)."""
    return bench_argv(name, f"--engine={engine}", *passthrough(args), *extra)


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
    """The `__main__` of every benchmark: the parent (no --engine) runs `run_parent(args)`,
    prints the load after the run and exits with its status; a child started with
    `--engine=prepare` runs `prepare(args)`, any other `--engine` `run_child_engine(args)`."""
    if args.engine is None:
        status = run_parent(args)
        print("\n" + machine.load_after_run_line())
        sys.exit(status)
    (prepare if args.engine == "prepare" and prepare else run_child_engine)(args)


@contextlib.contextmanager
def workdir(folder, name):
    """`folder` (created) if given, else a temporary folder removed afterwards."""
    if folder:
        os.makedirs(folder, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix=f"bench_{name}_") as temporary:
        yield temporary


# --- models trained once, cached by their settings ---------------------------------------
def cache_folder(parent, name, run_settings):
    """`parent/name-<hash of run_settings>`: where a model trained with `run_settings` (a
    JSON-able dict) is kept, so that a rerun with the same settings reuses it and other
    settings train another."""
    key = hashlib.sha1(json.dumps(run_settings, sort_keys=True).encode()).hexdigest()[:10]
    return os.path.join(parent, f"{name}-{key}")


def build_once(folder, build, fresh=False):
    """Unless `folder` exists (or with `fresh`), runs `build(partial)` to fill the folder
    `partial` and then renames it `folder`, so that a killed run leaves no half-built
    model behind. Returns whether it built."""
    if os.path.isdir(folder) and not fresh:
        return False
    partial = folder + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    build(partial)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return True


# --- timing and memory -----------------------------------------------------------------
def timed_call(fn):
    """(wall, process CPU) seconds of one `fn()`, which must finish its work before it
    returns (e.g. end with `.numpy()`)."""
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
    covers only what runs from now on (Linux; False where unsupported), remembering the
    peak so far (the reset lowers ru_maxrss too)."""
    global _peak_before_reset_mib
    _peak_before_reset_mib = max(_peak_before_reset_mib, peak_rss_mib())
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_report():
    """{peak_rss_mib: whole-process peak, hwm_mib: since `reset_peak_rss()`, rss_mib}."""
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
    """Child side of `interleave`: reports `info` as ready, times one `fn()` per "rep"
    line on stdin; on "stop" (or EOF) reports `memory_report()` and `final_info()`."""
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
        """Waits for the child, killing it if it hangs."""
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


def interleave(argv_of, engines, reps, items, env, verb="starting", prefix=""):
    """Times a child per engine (`argv_of(engine)`, see `serve_reps`) interleaved: they
    start one after another ("<prefix><verb> <engine> ..."), then serve `reps` rounds of
    one call each (`items` per call). Returns a row per engine, in order: {"engine",
    **info, **summarize(...), **memory_report()}."""
    children = []
    try:
        infos = {}
        for engine in engines:
            print(f"{prefix}{verb} {engine} ...", flush=True)
            children.append(Child(engine, argv_of(engine), env))
            infos[engine] = children[-1].expect(READY_MARKER)
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
        if not ratios and title:
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
