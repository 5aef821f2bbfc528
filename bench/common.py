"""Shared helpers for the benchmarks in bench/: machine and version header, timing with
min/median/max, peak memory, thread settings, and child processes, so that every engine
runs (and has its memory measured) in a process of its own.

Benchmarks are modules of the package `bench`, run from the repository root
(`python -m bench.finetune --task=ner`); a benchmark starts its children the same way,
`bench_argv("finetune", "--engine=x", ...)` = `[sys.executable, "-m", "bench.finetune",
...]`, in the repository root (`REPO_ROOT`), so that no benchmark edits `sys.path` and
none imports another: what two of them share lives here.

Two ways to use child processes:

* one-shot — the child does its work and reports one JSON dict:
      child:  common.emit_result({"engine": "x", ...})
      parent: result = common.run_child(common.bench_argv("name", "--engine=x"))
* interleaved timing — every child builds and warms up its engine, then the parent asks
  them for one timed call at a time, round-robin, so that load from other processes on
  the machine hits all engines alike and the ratios stay fair on a busy host:
      child:  common.reset_peak_rss(); <check, warm up>; common.serve_reps(step, info)
      parent: rows = common.run_interleaved({"x": argv_x, "y": argv_y}, reps=5, items=32)
  Each row holds the child's `info`, the min/median/max of its timings (`summarize`) and
  its memory (`memory_report`).

Also here: a random batch of padded sentence pairs (`make_inputs`), the CPU flags that
matter for the kernels TF picks (`cpu_flags`, the library's `bert_tf/common/hardware.py`), the
model FLOPs of a BERT encoder and its heads (`encoder_forward_flops`, `mlm_head_flops`),
MFU against a peak (`peak_tflops`, `GPU_PEAK_TFLOPS`) and a memory budget verdict.

Only the standard library is imported at module level, so a parent process stays light.
"""
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

READY_MARKER = "BENCH_READY "    # child: built and warmed up; JSON info follows
REP_MARKER = "BENCH_REP "        # child: [wall_s, cpu_s] of one timed call
RESULT_MARKER = "BENCH_RESULT "  # child: final JSON dict
# TF's switch for its oneDNN CPU kernels, which `import bert_tf` turns on (see there).
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# The repository root: where benchmarks (and their children) run, as `python -m bench.X`.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_hardware():
    """bert_tf/common/hardware.py (what the CPU can do: flags, native bf16, model name), loaded
    from its file: it imports only the standard library, while `import bert_tf.common.hardware`
    would run bert_tf/__init__ and load TensorFlow into this light parent process."""
    path = os.path.join(REPO_ROOT, "bert_tf", "hardware.py")
    spec = importlib.util.spec_from_file_location("_bench_bert_tf_hardware", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hardware = _load_hardware()
# The library's CPU checks, under the names the benchmarks use.
RELEVANT_CPU_FLAGS = hardware.RELEVANT_CPU_FLAGS
cpu_flags = hardware.cpu_flags
cpu_model = hardware.cpu_model


def bench_argv(name, *args):
    """The command line of benchmark `bench/<name>.py` (e.g. a child of it): run as a
    module with this interpreter, `[sys.executable, "-m", "bench.<name>", *args]`."""
    return [sys.executable, "-m", f"bench.{name}", *args]


# --- machine and versions ------------------------------------------------------------
def cpu_count():
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def total_memory_gib():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
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


def header(title, packages, settings):
    """The lines that open every benchmark's output: machine, versions, settings."""
    memory = total_memory_gib()
    return "\n".join([
        f"== {title} ==",
        f"machine : {cpu_model()}, {cpu_count()} cores available ({os.cpu_count()} online), "
        + (f"{memory:.1f} GiB RAM, " if memory else "")
        + f"{platform.system()} {platform.release()}; load average {load_average()}",
        f"cpuflags: {cpu_flags_line()}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions(packages).items()),
        "settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        f"tf env  : {ONEDNN_VARIABLE}={thread_env(1)[ONEDNN_VARIABLE]} for every TF engine",
    ])


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


def add_device_args(parser):
    """`--device cpu|gpu` and `--peak_tflops`, the flags every benchmark that reports MFU
    takes (see `child_env` and `peak_tflops`)."""
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"),
                        help="gpu: leave GPUs visible and look up the GPU's peak for MFU")
    parser.add_argument("--peak_tflops", type=float, default=None,
                        help="peak TFLOP/s for the MFU column (default: a known GPU's data "
                             "sheet peak with --device gpu, else no MFU)")


def child_env(threads, device):
    """(environment for benchmark children, GPU name or None): thread settings, and on
    `device="cpu"` no visible GPU (a CPU benchmark also on a GPU machine); on "gpu" the
    GPU that nvidia-smi names is printed."""
    env = thread_env(threads)
    if device == "cpu":
        env.setdefault("CUDA_VISIBLE_DEVICES", "")
        return env, None
    name = gpu_name()
    print(f"gpu     : {name or 'none found by nvidia-smi'}")
    return env, name


# --- inputs ----------------------------------------------------------------------------
def make_inputs(vocab_size, batch_size, seq_length, seed):
    """A batch of sentence pairs with realistic padding, identical for every engine
    (bench/encoder.py, bench/train_step.py).

    Lengths are uniform in [seq/2, seq]; word ids uniform in [1000, vocab) (above BERT's
    special and unused ids), 0 ([PAD]) at padding; segment 0 for the first half of each
    sequence's tokens and 1 for the rest, 0 at padding.
    """
    import numpy as np  # only the children that build inputs need it

    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, seq_length // 2), seq_length + 1, size=batch_size)
    positions = np.arange(seq_length)[None, :]
    mask = positions < lengths[:, None]
    low = 1000 if vocab_size > 1000 else 1
    ids = np.where(mask, rng.integers(low, vocab_size, size=(batch_size, seq_length)), 0)
    types = mask & (positions >= (lengths // 2)[:, None])
    return {"input_word_ids": ids.astype(np.int32), "input_mask": mask.astype(np.int32),
            "input_type_ids": types.astype(np.int32)}


# --- raw text through an export -------------------------------------------------------------
def savedmodel_runner(saved_model, inputs, batch_size):
    """(run, order, detail) for end-to-end prediction through an exported SavedModel with
    `bert-predict`'s `Predictor` (bench/e2e.py, bench/distill.py): `run()` takes the raw
    inputs {name: list of str} through `serving_default` in length-sorted batches and
    returns one {output: value} per input, in input order; `order` is the batch order
    (for the padding figure); `detail` says how it ran."""
    import numpy as np

    from bert_tf_serving.predictor import LENGTHS_SIGNATURE, Predictor

    predictor = Predictor(saved_model, batch_size=batch_size)

    def run():
        return predictor(inputs)

    order = np.argsort(predictor.lengths(inputs), kind="stable").tolist()
    key = ("exact lengths" if LENGTHS_SIGNATURE in predictor.loaded.signatures
           else "character-count order")
    return run, order, (f"bert-predict Predictor, serving_default, {key}, "
                        f"{predictor.dtype} export")


# --- the keras-hub peer ------------------------------------------------------------------
def use_config_activation(backbone, hidden_act):
    """Sets a keras-hub `BertBackbone`'s feed-forward activation to the one the config
    names (keras-hub always uses the tanh GELU; published BERT configs, HF and bert_tf
    use the exact erf GELU), so that every engine computes the same function."""
    from bert_tf.model.transformer import activation_fn
    for block in backbone.transformer_layers:
        block._feedforward_intermediate_dense.activation = activation_fn(hidden_act)
    return backbone


def keras_hub_backbone(config, dtype=None):
    """A keras-hub `BertBackbone` with the shapes, dropout and activation of a BertConfig."""
    import keras_hub
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size, dtype=dtype)
    return use_config_activation(backbone, config.hidden_act)


# --- timing ----------------------------------------------------------------------------
def timed_call(fn):
    """(wall seconds, CPU seconds of this whole process) of one `fn()`. `fn` must finish
    its work before it returns (e.g. end with `.numpy()`)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def time_calls(fn, reps, warmup):
    """Calls `fn()` `warmup` times untimed, then `reps` times timed, in this process;
    returns ([wall seconds], [CPU seconds]) of the timed calls."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    for _ in range(warmup):
        fn()
    walls, cpus = zip(*(timed_call(fn) for _ in range(reps)))
    return list(walls), list(cpus)


def summarize(walls, items, cpus=None):
    """min/median/max wall seconds per call and the matching throughput (`items` per
    call; the max throughput comes from the fastest call), plus the median CPU seconds
    if given (CPU/wall well below the thread count means the process waited for cores)."""
    lo, med, hi = min(walls), statistics.median(walls), max(walls)
    out = {"reps": len(walls), "sec_min": lo, "sec_median": med, "sec_max": hi,
           "per_sec_min": items / hi, "per_sec_median": items / med,
           "per_sec_max": items / lo}
    if cpus:
        out["cpu_sec_median"] = statistics.median(cpus)
    return out


# --- memory ----------------------------------------------------------------------------
_peak_before_reset_mib = 0.0


def peak_rss_mib():
    """Peak resident set size of this process, in MiB (ru_maxrss; see reset_peak_rss)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def _status_mib(field):
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets the kernel's high-water mark (VmHWM) so that `memory_report()`'s `hwm_mib`
    covers only what runs from now on, e.g. the model calls and not the weight loading
    before them. Linux >= 4.0 only; returns False where unsupported. (The reset also
    lowers ru_maxrss, so the peak so far is remembered for `memory_report`.)"""
    global _peak_before_reset_mib
    _peak_before_reset_mib = max(_peak_before_reset_mib, peak_rss_mib())
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_report():
    """{"peak_rss_mib": whole-process peak (ru_maxrss), "hwm_mib": peak since the last
    `reset_peak_rss()` (None if unsupported), "rss_mib": current RSS}."""
    return {"peak_rss_mib": max(_peak_before_reset_mib, peak_rss_mib()),
            "hwm_mib": _status_mib("VmHWM"), "rss_mib": _status_mib("VmRSS")}


def memory_verdict(mib, budget_gib):
    """"PASS" if `mib` MiB fits in `budget_gib` GiB, else "FAIL"."""
    return "PASS" if mib is not None and mib <= budget_gib * 1024 else "FAIL"


# --- model FLOPs and MFU -------------------------------------------------------------------
# Training (forward + backward) costs 3x the forward matmul FLOPs: the backward pass
# computes the gradients of both the activations and the weights, each one forward's worth.
TRAIN_FLOPS_FACTOR = 3


def onednn_state():
    """Whether TF runs oneDNN kernels: TF turns them on by default only on CPUs with
    AVX512-VNNI/BF16 or AMX; TF_ENABLE_ONEDNN_OPTS=0/1 overrides."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return "oneDNN " + ("on" if _pywrap_util_port.IsMklEnabled() else "off")
    except (ImportError, AttributeError):
        return "oneDNN ?"


def gemm_shapes(batch_size, seq_length, hidden_size, intermediate_size):
    """The encoder's dense layers as (M, K, N) matmul shapes, M = batch x seq rows."""
    m, h, i = batch_size * seq_length, hidden_size, intermediate_size
    return [(m, h, h), (m, h, i), (m, i, h)]


# The engines with no model, only matmuls (`serve_gemm`), and the dtype each computes in.
GEMM_ENGINES = {"gemm": "float32", "gemm_bf16": "bfloat16"}


def serve_gemm(engine, config, batch_size, seq_length, repeats, warmup, seed):
    """Child of a `GEMM_ENGINES` engine (`serve_reps`): no model, plain `tf.matmul`s in
    the engine's dtype at the encoder's three dense shapes (`gemm_shapes`), each `repeats`
    times per timed call; its final info holds GFLOP/s per shape (median time per matmul)
    and `gemm_peak_gflops`, the best shape: what TF's own matmul reaches at these shapes
    on this machine, under the same load as the engines it is compared to."""
    import numpy as np
    import tensorflow as tf

    dtype = tf.as_dtype(GEMM_ENGINES[engine])
    shapes = gemm_shapes(batch_size, seq_length, config.hidden_size,
                         config.intermediate_size)
    rng = np.random.default_rng(seed)

    def random(rows, cols):
        return tf.cast(tf.constant(rng.standard_normal((rows, cols)), tf.float32), dtype)

    # Per shape, `repeats` distinct left operands (so that no two matmuls are the same
    # expression) multiplied one after another inside one graph, as the encoder's matmuls
    # run: no Python or dispatch overhead between them.
    operands = [([random(m, k) for _ in range(repeats)], random(k, n)) for m, k, n in shapes]

    @tf.function
    def chain(lefts, right):
        total = tf.zeros((), dtype)
        for left in lefts:
            with tf.control_dependencies([total]):  # one matmul at a time
                # One element of each product is kept, so the copy to the host is free.
                total += tf.matmul(left, right)[0, 0]
        return total

    seconds = {shape: [] for shape in shapes}

    def step():
        for shape, (lefts, right) in zip(shapes, operands):
            start = time.perf_counter()
            chain(lefts, right).numpy()
            seconds[shape].append((time.perf_counter() - start) / repeats)

    reset_peak_rss()
    for _ in range(max(warmup, 1)):
        step()
    for times in seconds.values():
        times.clear()

    def final_info():
        gflops = {f"{m}x{k}x{n}": 2.0 * m * k * n / statistics.median(seconds[(m, k, n)]) / 1e9
                  for m, k, n in shapes}
        return {"gemm_gflops": gflops, "gemm_peak_gflops": max(gflops.values())}

    serve_reps(step, {"detail": f"tf.matmul {dtype.name}, {onednn_state()}",
                      "flops_dtype": "bf16" if dtype == tf.bfloat16 else "tf32"}, final_info)


def finish_gemm_rows(rows):
    """Makes each gemm engine's row (`serve_gemm`) a table row: its GFLOP/s is its best
    shape's, its detail lists every shape's, and it has no sequences/s. Returns the fp32
    GEMM peak in GFLOP/s (the `gemm` row's), or None when the run has no `gemm` row."""
    peak = None
    for row in rows:
        if row["engine"] not in GEMM_ENGINES:
            continue
        row["gflops"] = row["gemm_peak_gflops"]
        row["detail"] += ", GFLOP/s by shape " + ", ".join(
            f"{shape}: {value:.1f}" for shape, value in row["gemm_gflops"].items())
        for key in ("per_sec_min", "per_sec_median", "per_sec_max"):
            row[key] = None  # no sequences
        if row["engine"] == "gemm":
            peak = row["gemm_peak_gflops"]
    return peak


# A float32 train step (fine-tuning or pretraining) must reach this fraction of the fp32
# GEMM peak measured in the same run (issue 16).
TRAIN_GEMM_FRACTION_TARGET = 0.75


def print_gemm_fractions(gemm_peak, rows, target, judged=True):
    """Prints each row's `gemm_fraction` of the fp32 GEMM peak, met / NOT met against
    `target` (never met when not `judged`, e.g. a bf16 run); nothing without a peak."""
    if not gemm_peak:
        return
    print(f"\nfraction of the fp32 GEMM peak ({gemm_peak:.1f} GFLOP/s, best median of the gemm "
          f"row's shapes; target >= {target:.0%} for bert_tf in float32):")
    for row in rows:
        met = judged and row["gemm_fraction"] >= target
        print(f"  {row['engine']:<12} {row['gemm_fraction']:.1%} ({'met' if met else 'NOT met'})")


# TF op types that are matrix products (oneDNN's fused and renamed kernels included).
MATMUL_OPS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum",
                        "_MklMatMul", "_FusedMatMul", "_MklFusedMatMul", "_MklBatchMatMulV2",
                        "_MklNativeFusedMatMul", "_MklNativeBatchMatMulV2", "_MklEinsum"})


def profile_ops(fn, steps):
    """Runs `fn()` `steps` times under TF's profiler; returns where the time went.

    The trace's op events (the executor threads' `name:OpType` events; XLA-compiled
    steps show as their cluster ops) are summed per op type and per phase of the step,
    read from the op's name scope: `backward` (under `gradient_tape/`), `optimizer` (the
    Keras optimizer's scope), else `forward`. Ops on several executor threads overlap,
    so shares are of the summed op time, not of the wall time.

    Returns:
        {"wall_seconds": float per step, "op_seconds": summed op time per step,
         "ops": [{"op", "seconds" (per step), "share", "calls"}] largest first,
         "phases": {phase: share}, "matmul_share": share of MATMUL_OPS}.
    """
    import collections

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    spaces = []
    with tempfile.TemporaryDirectory(prefix="bench_profile_") as logdir:
        start = time.perf_counter()
        tf.profiler.experimental.start(logdir)
        try:
            for _ in range(steps):
                fn()
        finally:
            tf.profiler.experimental.stop()
        wall = (time.perf_counter() - start) / steps
        for root, _, files in os.walk(logdir):
            for name in files:
                if name.endswith(".xplane.pb"):
                    spaces.append(xplane_pb2.XSpace())
                    with open(os.path.join(root, name), "rb") as f:
                        spaces[-1].ParseFromString(f.read())
    seconds, calls = collections.Counter(), collections.Counter()
    phases = collections.Counter()
    events = ((plane, event) for space in spaces for plane in space.planes
              for line in plane.lines if line.name.startswith("tf_Compute")
              for event in line.events)
    for plane, event in events:
        op_name, colon, op_type = plane.event_metadata[event.metadata_id].name.rpartition(":")
        if not colon or op_name.endswith(":"):
            continue  # executor bookkeeping ("ExecutorState::Process")
        duration = event.duration_ps * 1e-12 / steps
        seconds[op_type] += duration
        calls[op_type] += 1
        phases["backward" if "gradient_tape/" in op_name
               else "optimizer" if op_name.split("/")[0].startswith(("adam", "lamb",
                                                                     "loss_scale"))
               else "forward"] += duration
    total = sum(seconds.values()) or 1.0
    return {"wall_seconds": wall, "op_seconds": total,
            "ops": [{"op": op, "seconds": s, "share": s / total, "calls": calls[op] // steps}
                    for op, s in seconds.most_common()],
            "phases": {phase: s / total for phase, s in phases.most_common()},
            "matmul_share": sum(s for op, s in seconds.items() if op in MATMUL_OPS) / total}


def print_profiles(rows, steps):
    """Prints `format_profile` of every row that holds a `profile` (`profile_ops`)."""
    for row in rows:
        if row.get("profile"):
            print(f"\nwhere {row['engine']}'s step goes (TF profiler, {steps} steps):")
            print(format_profile(row["profile"]))


def format_profile(profile, top=12):
    """The table of `profile_ops`'s `top` op types and its phase/matmul summary lines."""
    table = format_table(profile["ops"][:top], [
        ("op", "op type", "{}"), ("seconds", "s/step", "{:.3f}"),
        ("share", "share of op time", "{:.1%}"), ("calls", "calls/step", "{}")])
    phases = ", ".join(f"{phase} {share:.1%}" for phase, share in profile["phases"].items())
    return (f"{table}\nwall {profile['wall_seconds']:.3f} s/step, summed op time "
            f"{profile['op_seconds']:.3f} s/step; matmuls {profile['matmul_share']:.1%} of op "
            f"time; by phase: {phases}")


def encoder_forward_flops(num_layers, hidden_size, intermediate_size, lengths):
    """Matmul FLOPs (a multiply-add counts 2) of a BERT encoder's Transformer layers'
    forward pass over sequences of the given lengths, summed.

    Per layer and sequence of length s (H = hidden_size, I = intermediate_size):
      Q, K, V and attention output projections  4 * 2*s*H*H = 8 s H^2
      attention scores Q K^T and probs @ V      2 * 2*s*s*H = 4 s^2 H
      feed-forward H -> I -> H                  2 * 2*s*H*I = 4 s H I
    Embeddings (lookups), the pooler (2 H^2 per sequence, < 0.01% at base), softmax,
    LayerNorm, GELU and other element-wise work are not counted. BERT-base at s = 128:
    22.35 GFLOP per sequence. Pass every sequence's padded length (the engine computes
    those) or its real length (the useful work) as `lengths`.
    """
    h, i = int(hidden_size), int(intermediate_size)
    return float(sum(num_layers * (8 * s * h * h + 4 * s * s * h + 4 * s * h * i)
                     for s in (int(x) for x in lengths)))


def mlm_head_flops(hidden_size, vocab_size, predictions):
    """Forward matmul FLOPs of BERT's masked-LM head over `predictions` masked positions
    (all sequences together): the H x H transform and the H x V output projection."""
    h = int(hidden_size)
    return float(int(predictions) * (2 * h * h + 2 * h * int(vocab_size)))


# Dense (no sparsity) tensor-core peaks in TFLOP/s from NVIDIA's data sheets, by the name
# `nvidia-smi` prints: "bf16" for bfloat16/float16 math, "tf32" for float32 math (TF runs
# float32 matmuls in TF32 on Ampere and newer by default; V100/T4 have no TF32, so the
# plain FP32 peak is listed).
GPU_PEAK_TFLOPS = {
    "H200": {"bf16": 989.4, "tf32": 494.7},
    "H100 SXM": {"bf16": 989.4, "tf32": 494.7},
    "H100 80GB HBM3": {"bf16": 989.4, "tf32": 494.7},
    "H100 NVL": {"bf16": 835.0, "tf32": 417.5},
    "H100 PCIe": {"bf16": 756.0, "tf32": 378.0},
    "A100": {"bf16": 312.0, "tf32": 156.0},
    "L40S": {"bf16": 362.1, "tf32": 183.0},
    "L40": {"bf16": 181.0, "tf32": 90.5},
    "L4": {"bf16": 121.0, "tf32": 60.0},
    "A10": {"bf16": 125.0, "tf32": 62.5},
    "V100": {"bf16": 125.0, "tf32": 15.7},
    "T4": {"bf16": 65.0, "tf32": 8.1},
}


def gpu_name():
    """The first GPU's name from `nvidia-smi`, or None (no GPU or no driver)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return names[0] if names else None


def peak_tflops(math, explicit=None, device_name=None):
    """(peak TFLOP/s, where it came from) for `math` "bf16" or "tf32": `explicit` (the
    `--peak_tflops` flag) if given, else the GPU_PEAK_TFLOPS entry whose key is in
    `device_name` (longest key first, so "H100 NVL" wins over "H100"), else (None, why)."""
    if explicit:
        return float(explicit), "--peak_tflops"
    if device_name:
        for key in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
            if key.lower() in device_name.lower():
                return GPU_PEAK_TFLOPS[key][math], f"{key} {math} data sheet"
        return None, f"{device_name!r} not in GPU_PEAK_TFLOPS; pass --peak_tflops"
    return None, "no GPU and no --peak_tflops"


def mfu(flops_per_second, peak):
    """Model FLOPs utilization: achieved model FLOP/s over the peak TFLOP/s (None if no
    peak)."""
    return None if not peak else flops_per_second / (peak * 1e12)


# --- child side ------------------------------------------------------------------------
def _emit(marker, value):
    print(marker + json.dumps(value), flush=True)


def emit_result(result):
    """Child side of `run_child`: reports `result` (a JSON-serializable dict)."""
    _emit(RESULT_MARKER, result)


def serve_reps(fn, info, final_info=None):
    """Child side of `run_interleaved`: reports `info` (dict) as ready, then times one
    `fn()` per "rep" line on stdin; on "stop" (or EOF) reports `memory_report()`, plus
    `final_info()` (a dict, e.g. statistics the child gathered during the reps) if given."""
    _emit(READY_MARKER, info)
    for line in sys.stdin:
        command = line.strip()
        if command == "rep":
            _emit(REP_MARKER, list(timed_call(fn)))
        elif command == "stop":
            break
    emit_result({**memory_report(), **(final_info() if final_info else {})})


# --- parent side -----------------------------------------------------------------------
class Child:
    """A child process spoken to through stdin/stdout lines, started in `REPO_ROOT` (see
    `bench_argv`). Its stdout lines without a marker are echoed indented (the child's own
    notes); its stderr (framework logs) goes to a temporary file and is shown only when
    the child fails."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self._notes = []
        self.proc = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, bufsize=1)

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
    """Runs the children {name: argv} (see `serve_reps`) with interleaved timing.

    The children start one after another (each builds and warms up alone), then stay
    alive together while the parent asks for `reps` rounds of one timed call each,
    rotating which child goes first. Returns one row per child, in order:
    {"engine": name, **info, **summarize(...), **memory_report()}.
    `on_start(name)` is called as each child is started (e.g. to print progress).
    """
    children = []
    try:
        infos = {}
        for name, argv in argvs.items():
            if on_start:
                on_start(name)
            child = Child(name, argv, env)
            children.append(child)
            infos[name] = child.expect(READY_MARKER)
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
                         **summarize(walls[child.name], items, cpus[child.name]),
                         **memory})
        return rows
    finally:
        for child in children:
            if child.proc.poll() is None and child.proc.stdin and not child.proc.stdin.closed:
                try:
                    child.send("stop")
                except OSError:
                    pass
            child.close()


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


# --- entry point ---------------------------------------------------------------------------
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


def parse_engines(parser, engines, known):
    """The comma-separated `--engines` value as a list in `known`'s order; an unknown name
    is a usage error of `parser`."""
    chosen = {e.strip() for e in engines.split(",") if e.strip()}
    unknown = sorted(chosen - set(known))
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {known}")
    return [e for e in known if e in chosen]
