"""What the hardware computes, for the benchmarks that count it: a BERT encoder's model
FLOPs and its heads', MFU against a peak (a GPU's data sheet or `--peak_tflops`), the
fp32 GEMM peak measured in the same run (the `gemm` / `gemm_bf16` engines), the TF
profiler's op table, and the random padded batch those benchmarks feed every engine.

FLOPs are counted from the config and the batch shape (bench/gpu.md has the formulas and
the MFU definition): `GFLOP/s` is (3 x for a train step) the forward matmul FLOPs per
second; `%GEMM` divides it by the `gemm` row's fp32 peak (target >= 75% for bert_tf's
float32 train steps); `MFU` appears with `--peak_tflops` or a known GPU (`--device gpu`).
A GEMM engine runs no model, only `tf.matmul`s at the encoder's three dense shapes
(M = batch x seq_length rows: [M, H] x [H, H], [M, H] x [H, I], [M, I] x [I, H]),
`--gemm_repeats` of each back to back in one `tf.function` per timed call, in the same
rounds as the models: the GEMM peak is the best shape's median GFLOP/s. `--profile_steps
N` traces N steps of each bert_tf engine after warm-up (`profile_ops`) and prints its top
op types, the matmuls' share and the forward / backward / optimizer split.
"""
import os
import statistics
import tempfile
import time

from bench import harness

# Training (forward + backward) costs 3x the forward matmul FLOPs: the backward pass
# computes the gradients of both the activations and the weights, each one forward's worth.
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
    """A batch of sentence pairs with realistic padding, identical for every engine.

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


# --- model FLOPs and MFU -------------------------------------------------------------------
def encoder_forward_flops(num_layers, hidden_size, intermediate_size, lengths):
    """Matmul FLOPs (a multiply-add counts 2) of a BERT encoder's Transformer layers'
    forward pass over sequences of the given lengths, summed.

    Per layer and sequence of length s (H = hidden_size, I = intermediate_size):
      Q, K, V and attention output projections  4 * 2*s*H*H = 8 s H^2
      attention scores Q K^T and probs @ V      2 * 2*s*s*H = 4 s^2 H
      feed-forward H -> I -> H                  2 * 2*s*H*I = 4 s H I
    Embeddings, the pooler, softmax, LayerNorm, GELU and other element-wise work are not
    counted. BERT-base at s = 128: 22.35 GFLOP per sequence. Pass every sequence's padded
    length (what the engine computes) or its real length (the useful work).
    """
    h, i = int(hidden_size), int(intermediate_size)
    return float(sum(num_layers * (8 * s * h * h + 4 * s * s * h + 4 * s * h * i)
                     for s in (int(x) for x in lengths)))


def mlm_head_flops(hidden_size, vocab_size, predictions):
    """Forward matmul FLOPs of BERT's masked-LM head over `predictions` masked positions
    (all sequences together): the H x H transform and the H x V output projection."""
    h = int(hidden_size)
    return float(int(predictions) * (2 * h * h + 2 * h * int(vocab_size)))


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


def add_flops(rows, flops_per_call, args, device_name, math_of):
    """Adds to every model row its `gflops` (`flops_per_call` / median seconds per call),
    to every row its `gemm_fraction` of the fp32 GEMM peak (when a `gemm` row ran) and
    its `mfu` against the peak of `math_of(row)` ("bf16" or "tf32"); turns the gemm rows
    into table rows (`finish_gemm_rows`). Returns (GEMM peak or None, note on the MFU
    peaks or "")."""
    gemm_peak = finish_gemm_rows(rows)
    notes = set()
    for row in rows:
        if row["engine"] not in GEMM_ENGINES:
            row["gflops"] = flops_per_call / row["sec_median"] / 1e9
        if gemm_peak:
            row["gemm_fraction"] = row["gflops"] / gemm_peak
        peak, source = peak_tflops(math_of(row), args.peak_tflops, device_name)
        row["mfu"] = mfu(row["gflops"] * 1e9, peak)
        if peak:
            notes.add(f"{peak:.1f} TFLOP/s ({source})")
    return gemm_peak, ", ".join(sorted(notes))


def print_table(rows, columns, note, before):
    """Prints the table; when any row has a peak (`note` from `add_flops`), with an MFU
    column before the column keyed `before`, and the peaks it is against."""
    if note:
        at = next(i for i, column in enumerate(columns) if column[0] == before)
        columns = columns[:at] + [("mfu", "MFU", "{:.1%}")] + columns[at:]
    print(harness.format_table(rows, columns))
    if note:
        print(f"MFU against {note}")


def print_gemm_fractions(gemm_peak, rows, target, judged=True):
    """Prints each row's GFLOP/s and `gemm_fraction` of the fp32 GEMM peak (and its
    `gemm_fraction_real` if any), met / NOT met against `target` (never met when not
    `judged`, e.g. a bf16 run); nothing without a peak."""
    if not gemm_peak:
        return
    print(f"\nfraction of the fp32 GEMM peak ({gemm_peak:.1f} GFLOP/s, best median of "
          f"tf.matmul at the encoder's shapes, this run); target >= {target:.0%} for "
          "bert_tf in float32, counting padded FLOPs (what the engine computes):")
    for row in rows:
        met = judged and row["gemm_fraction"] >= target
        real = row.get("gemm_fraction_real")
        print(f"  {row['engine']:<12} {row['gflops']:.1f} GFLOP/s = {row['gemm_fraction']:.1%}"
              f" ({'met' if met else 'NOT met'})"
              + (f"; real-token FLOPs {real:.1%}" if real is not None else ""))


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
    """Child of a `GEMM_ENGINES` engine (see the module docstring); its final info holds
    GFLOP/s per shape and `gemm_peak_gflops`, the best shape's."""
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


# --- where the time goes -------------------------------------------------------------------
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
    """The table of `profile_ops`'s `top` op types and its phase/matmul summary lines."""
    table = harness.format_table(profile["ops"][:top], [
        ("op", "op type", "{}"), ("seconds", "s/step", "{:.3f}"),
        ("share", "share of op time", "{:.1%}"), ("calls", "calls/step", "{}")])
    phases = ", ".join(f"{phase} {share:.1%}" for phase, share in profile["phases"].items())
    return (f"{table}\nwall {profile['wall_seconds']:.3f} s/step, summed op time "
            f"{profile['op_seconds']:.3f} s/step; matmuls {profile['matmul_share']:.1%} of op "
            f"time; by phase: {phases}")


def print_profiles(rows, steps):
    """Prints `format_profile` of every row that holds a `profile` (`profile_ops`)."""
    for row in rows:
        if row.get("profile"):
            print(f"\nwhere {row['engine']}'s step goes (TF profiler, {steps} steps):")
            print(format_profile(row["profile"]))
