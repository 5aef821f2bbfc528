"""What the hardware computes: a BERT encoder's model FLOPs and its heads', MFU against a
peak (a GPU's data sheet or `--peak_tflops`), the fp32 GEMM peak measured in the same
run (the `gemm` / `gemm_bf16` engines), the TF profiler's op table, and the random padded
batch fed to every engine.

FLOPs come from the config and the batch shape (bench/gpu.md: formulas, MFU): `GFLOP/s`
is (3 x for a train step) the forward matmul FLOPs per second; `%GEMM` divides it by the
`gemm` row's fp32 peak; `MFU` appears with `--peak_tflops` or a known GPU. A GEMM engine
runs only `tf.matmul`s at the encoder's three dense shapes (`gemm_shapes`),
`--gemm_repeats` of each back to back per timed call, in the models' rounds: the peak is
the best shape's median GFLOP/s. `--profile_steps N` traces N steps of each bert_tf
engine after warm-up (`profile_ops`): top op types, matmul share, phase split.
"""
import os
import statistics
import tempfile
import time

from bench import harness

# A train step costs 3x the forward matmul FLOPs (backward: activation and weight grads).
TRAIN_FLOPS_FACTOR = 3
# A float32 train step (fine-tuning or pretraining) must reach this fraction of the fp32
# GEMM peak measured in the same run (issue 16).
TRAIN_GEMM_FRACTION_TARGET = 0.75
# The engines with no model, only matmuls (`serve_gemm`), and the dtype each computes in.
GEMM_ENGINES = {"gemm": "float32", "gemm_bf16": "bfloat16"}
# TF op types that are matrix products (oneDNN's fused and renamed kernels included).
MATMUL_OPS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum",
                        "_MklMatMul", "_FusedMatMul", "_MklFusedMatMul", "_MklBatchMatMulV2",
                        "_MklNativeFusedMatMul", "_MklNativeBatchMatMulV2", "_MklEinsum"})
# Dense tensor-core peaks (TFLOP/s, NVIDIA data sheets) by `nvidia-smi` name: "bf16" for
# bf16/fp16 math, "tf32" for float32 (TF's default on Ampere+; V100/T4: plain FP32).
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


def add_device_args(parser, gemm_repeats=None):
    """`--device`, `--peak_tflops` and (the default given) `--gemm_repeats`."""
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"),
                        help="gpu: leave GPUs visible and look up the GPU's peak for MFU")
    parser.add_argument("--peak_tflops", type=float, default=None,
                        help="peak TFLOP/s for the MFU column (default: a known GPU's data "
                             "sheet peak with --device gpu, else no MFU)")
    if gemm_repeats:
        parser.add_argument("--gemm_repeats", type=int, default=gemm_repeats,
                            help="matmuls of each encoder shape per timed call of a gemm "
                                 "engine (back to back in one tf.function)")


def make_inputs(vocab_size, batch_size, seq_length, seed):
    """A batch of sentence pairs, identical for every engine: lengths uniform in [seq/2,
    seq], word ids in [1000, vocab) (above BERT's special ids), segment 1 for the second
    half of each sequence's tokens; 0 at padding."""
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


# --- model FLOPs and MFU -------------------------------------------------------------------
def encoder_forward_flops(num_layers, hidden_size, intermediate_size, lengths):
    """Matmul FLOPs (multiply-add = 2) of a BERT encoder's Transformer layers' forward pass
    over sequences of the given lengths (padded: what the engine computes; real: the
    useful work), summed: per layer and sequence 8 s H^2 (Q, K, V, output projections) +
    4 s^2 H (scores, probs @ V) + 4 s H I (feed-forward); bench/gpu.md."""
    h, i = int(hidden_size), int(intermediate_size)
    return float(sum(num_layers * (8 * s * h * h + 4 * s * s * h + 4 * s * h * i)
                     for s in (int(x) for x in lengths)))


def mlm_head_flops(hidden_size, vocab_size, predictions):
    """Forward matmul FLOPs of the masked-LM head (H x H, H x V) at `predictions` positions."""
    h = int(hidden_size)
    return float(int(predictions) * (2 * h * h + 2 * h * int(vocab_size)))


def peak_tflops(math, explicit=None, device_name=None):
    """(peak TFLOP/s, source) for `math` "bf16" / "tf32": `explicit` (`--peak_tflops`), else
    the longest GPU_PEAK_TFLOPS key in `device_name` ("H100 NVL" over "H100"), else None."""
    if explicit:
        return float(explicit), "--peak_tflops"
    if device_name:
        for key in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
            if key.lower() in device_name.lower():
                return GPU_PEAK_TFLOPS[key][math], f"{key} {math} data sheet"
        return None, f"{device_name!r} not in GPU_PEAK_TFLOPS; pass --peak_tflops"
    return None, "no GPU and no --peak_tflops"


def mfu(flops_per_second, peak):
    """Model FLOPs utilization: model FLOP/s over the peak TFLOP/s (None without a peak)."""
    return None if not peak else flops_per_second / (peak * 1e12)


def encoder_dims(config):
    """The config's sizes that `forward_flops` needs, for a child's info."""
    return {"num_layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
            "intermediate_size": config.intermediate_size, "vocab_size": config.vocab_size}


def forward_flops(dims, lengths):
    """`encoder_forward_flops` of an `encoder_dims` dict (e.g. a row holding one)."""
    return encoder_forward_flops(dims["num_layers"], dims["hidden_size"],
                                 dims["intermediate_size"], lengths)


def report(rows, columns, flops_per_call, flops_line, args, device_name, math_of,
           target, judged=True):
    """The FLOPs report of encoder / train_step / pretrain: gives every model row its
    `gflops` (`flops_per_call` per median call), every row its `gemm_fraction` of the fp32
    GEMM peak (a `gemm` row's; `gemm_fraction_real` from a row's `real_gflops`) and its
    `mfu` against the peak of `math_of(row)` ("bf16" / "tf32"); prints `flops_line`, the
    table (an MFU column after the %GEMM ones when a peak is known), bert_tf[_jit]'s
    fractions met / NOT met against `target` (never met unless `judged`) and the
    profiles. Returns ({engine: row}, GEMM peak or None)."""
    gemm_peak = finish_gemm_rows(rows)
    notes = set()
    for row in rows:
        if row["engine"] not in GEMM_ENGINES:
            row["gflops"] = flops_per_call / row["sec_median"] / 1e9
        if gemm_peak:
            row["gemm_fraction"] = row["gflops"] / gemm_peak
            if "real_gflops" in row:
                row["gemm_fraction_real"] = row["real_gflops"] / gemm_peak
        peak, source = peak_tflops(math_of(row), args.peak_tflops, device_name)
        row["mfu"] = mfu(row["gflops"] * 1e9, peak)
        if peak:
            notes.add(f"{peak:.1f} TFLOP/s ({source})")
    print("\n" + flops_line)
    if notes:
        at = 1 + max(i for i, c in enumerate(columns) if c[0].startswith("gemm_fraction"))
        columns = columns[:at] + [("mfu", "MFU", "{:.1%}")] + columns[at:]
    print(harness.format_table(rows, columns))
    if notes:
        print(f"MFU against {', '.join(sorted(notes))}")
    by_engine = {row["engine"]: row for row in rows}
    if gemm_peak:
        print(f"\nfraction of the fp32 GEMM peak ({gemm_peak:.1f} GFLOP/s, best median of "
              f"tf.matmul at the encoder's shapes, this run); target >= {target:.0%} for "
              "bert_tf in float32, counting padded FLOPs (what the engine computes):")
    for row in (by_engine[e] for e in ("bert_tf", "bert_tf_jit") if gemm_peak and e in by_engine):
        met = judged and row["gemm_fraction"] >= target
        real = row.get("gemm_fraction_real")
        print(f"  {row['engine']:<12} {row['gflops']:.1f} GFLOP/s = {row['gemm_fraction']:.1%}"
              f" ({'met' if met else 'NOT met'})"
              + (f"; real-token FLOPs {real:.1%}" if real is not None else ""))
    for row in rows:
        if row.get("profile"):
            print(f"\nwhere {row['engine']}'s step goes (TF profiler, {args.profile_steps} "
                  "steps):\n" + format_profile(row["profile"]))
    return by_engine, gemm_peak


# --- the GEMM engines ----------------------------------------------------------------------
def onednn_state():
    """Whether TF runs oneDNN kernels (see machine.ONEDNN_VARIABLE)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return "oneDNN " + ("on" if _pywrap_util_port.IsMklEnabled() else "off")
    except (ImportError, AttributeError):
        return "oneDNN ?"


def gemm_shapes(batch_size, seq_length, hidden_size, intermediate_size):
    """The encoder's dense layers as (M, K, N) matmul shapes, M = batch x seq rows."""
    m, h, i = batch_size * seq_length, hidden_size, intermediate_size
    return [(m, h, h), (m, h, i), (m, i, h)]


def serve_gemm(args, config, warmup, seed):
    """Child of a `GEMM_ENGINES` engine; final info: GFLOP/s per shape, `gemm_peak_gflops`."""
    import numpy as np
    import tensorflow as tf

    dtype = tf.as_dtype(GEMM_ENGINES[args.engine])
    shapes = gemm_shapes(args.batch_size, args.seq_length, config.hidden_size,
                         config.intermediate_size)
    rng = np.random.default_rng(seed)

    def random(rows, cols):
        return tf.cast(tf.constant(rng.standard_normal((rows, cols)), tf.float32), dtype)

    # Distinct left operands, so that no two matmuls are the same expression, multiplied
    # one after another inside one graph as the encoder's matmuls run.
    operands = [([random(m, k) for _ in range(args.gemm_repeats)], random(k, n))
                for m, k, n in shapes]

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
            seconds[shape].append((time.perf_counter() - start) / args.gemm_repeats)

    harness.reset_peak_rss()
    for _ in range(max(warmup, 1)):
        step()
    for times in seconds.values():
        times.clear()

    def final_info():
        gflops = {f"{m}x{k}x{n}": 2.0 * m * k * n / statistics.median(seconds[(m, k, n)]) / 1e9
                  for m, k, n in shapes}
        return {"gemm_gflops": gflops, "gemm_peak_gflops": max(gflops.values())}

    harness.serve_reps(step, {"detail": f"tf.matmul {dtype.name}, {onednn_state()}",
                              "flops_dtype": "bf16" if dtype == tf.bfloat16 else "tf32"},
                       final_info)


def finish_gemm_rows(rows):
    """Makes each gemm row a table row (GFLOP/s: its best shape's; detail: every shape's;
    no sequences/s). Returns the fp32 GEMM peak (the `gemm` row's) or None."""
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


# --- where the time goes -------------------------------------------------------------------
def profile_ops(fn, steps):
    """Runs `fn()` `steps` times under TF's profiler; the executor threads' `name:OpType`
    events (XLA: cluster ops) summed per op type and per phase by name scope: `backward`
    (`gradient_tape/`), `optimizer`, else `forward`. Threads overlap, so shares are of
    the summed op time. Returns {"wall_seconds", "op_seconds" (per step), "ops": [{"op",
    "seconds", "share", "calls"}] largest first, "phases": {phase: share},
    "matmul_share"}."""
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
    seconds, calls, phases = collections.Counter(), collections.Counter(), collections.Counter()
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


def profile_if_asked(args, fn):
    """`profile_ops(fn, args.profile_steps)` for a bert_tf engine, if asked, else None."""
    if args.profile_steps and args.engine.startswith("bert_tf"):
        return profile_ops(fn, args.profile_steps)
    return None


def format_profile(profile, top=12):
    """`profile_ops`'s `top` op types and its phase / matmul summary."""
    table = harness.format_table(profile["ops"][:top], [
        ("op", "op type", "{}"), ("seconds", "s/step", "{:.3f}"),
        ("share", "share of op time", "{:.1%}"), ("calls", "calls/step", "{}")])
    phases = ", ".join(f"{phase} {share:.1%}" for phase, share in profile["phases"].items())
    return (f"{table}\nwall {profile['wall_seconds']:.3f} s/step, summed op time "
            f"{profile['op_seconds']:.3f} s/step; matmuls {profile['matmul_share']:.1%} of op "
            f"time; by phase: {phases}")

