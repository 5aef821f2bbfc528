"""The machine a benchmark runs on, as every benchmark's header prints it (CPU model and
flags, cores, memory, load, package versions, settings), and the thread settings of its
children, so that every engine runs with the same pools and TF kernels.

Only the standard library (and bert_tf's TF-free `common` room) is imported at module
level, so a parent process stays light.
"""
import importlib.metadata
import os
import platform
import subprocess

# Standard library only: `bert_tf/__init__` imports nothing eagerly, so this pulls in no
# TensorFlow.
from bert_tf.common import hardware

# TF's switch for its oneDNN CPU kernels, which `import bert_tf` turns on (see there).
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# The repository root: where benchmarks (and their children) run, as `python -m bench.X`.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The library's CPU checks, under the names the benchmarks use.
RELEVANT_CPU_FLAGS = hardware.RELEVANT_CPU_FLAGS
cpu_flags = hardware.cpu_flags
cpu_model = hardware.cpu_model


# --- machine and versions ------------------------------------------------------------
def cpu_count():
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def proc_mib(path, field):
    """A "Field:  N kB" line of a /proc file, in MiB (None where unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return None


def cpu_flags_line():
    """e.g. "fma yes, avx2 yes, avx512f no, ..., amx_bf16 no"."""
    words = {True: "yes", False: "no", None: "?"}
    return ", ".join(f"{k} {words[v]}" for k, v in cpu_flags().items())


def load_average():
    """The 1/5/15-minute load averages as text: > cores means other work competed."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def load_after_run_line():
    """The line every benchmark prints after its timings: whether other work competed."""
    return (f"load average after the run: {load_average()} (1/5/15 min; above "
            f"{cpu_count()} means other work competed for the cores)")


def versions(packages):
    """{name: installed version or "not installed"}, read from package metadata (no
    import, so the parent process does not load TF or torch)."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def header(title, packages, run_settings):
    """The lines that open every benchmark's output: machine, versions, settings."""
    memory = proc_mib("/proc/meminfo", "MemTotal")
    return "\n".join([
        f"== {title} ==",
        f"machine : {cpu_model()}, {cpu_count()} cores available ({os.cpu_count()} online), "
        + (f"{memory / 1024:.1f} GiB RAM, " if memory else "")
        + f"{platform.system()} {platform.release()}; load average {load_average()}",
        f"cpuflags: {cpu_flags_line()}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions(packages).items()),
        "settings: " + ", ".join(f"{k}={v}" for k, v in run_settings.items()),
        f"tf env  : {ONEDNN_VARIABLE}={thread_env(1)[ONEDNN_VARIABLE]} for every TF engine",
    ])


def gpu_name():
    """The first GPU's name from `nvidia-smi`, or None (no GPU or no driver)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return names[0] if names else None


# --- threads ---------------------------------------------------------------------------
def thread_env(threads):
    """Environment for a child process: OpenMP/MKL pools sized like the frameworks',
    TF's C++ info logs off, and TF's oneDNN kernels on as `import bert_tf` turns them on
    (unless the caller's environment says otherwise), so that every TF engine, peers
    included, runs the same kernels."""
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault(ONEDNN_VARIABLE, "1")
    return env


def set_threads(threads, tf=False, torch=False):
    """Sizes TF's intra/inter-op pools and/or torch's intra/inter-op pools to `threads`.
    Call before the framework runs any op."""
    if tf:
        import tensorflow
        tensorflow.config.threading.set_intra_op_parallelism_threads(threads)
        tensorflow.config.threading.set_inter_op_parallelism_threads(threads)
    if torch:
        import torch as torch_module
        torch_module.set_num_threads(threads)
        try:
            torch_module.set_num_interop_threads(threads)
        except RuntimeError:  # already set, or parallel work already started
            pass
