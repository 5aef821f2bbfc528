"""Forward throughput (sequences/s) and peak memory of the BERT encoder on CPU: bert_tf's
`BertEncoder` (float32 and mixed_bfloat16, with and without XLA) vs keras-hub's
`BertBackbone` vs transformers' PyTorch `BertModel`, all holding the same weights and fed
the same batch, in one run — and the fp32 GEMM peak of this machine, measured in the same
run, to say what fraction of it the encoder reaches.

    . .venv/bin/activate
    python -m bench.encoder --config base --batch_size 32 --seq_length 128 --reps 5
    python -m bench.encoder --config mini --reps 5        # a quick check (about a minute)

How it works: the parent process (which imports neither TF nor torch) starts one child
per step, so that each engine's peak memory is its own:
  1. `prepare`: builds a bert_tf encoder with random weights (every weight random, biases
     and LayerNorm betas/gammas included, so a mis-mapped variable cannot hide), writes
     them as a Hugging Face folder (config.json + model.safetensors), draws the input
     batch and computes the fp32 reference output with bert_tf.
  2. one child per engine loads that folder its own way (bert_tf: `from_hf` +
     `set_weights`; keras-hub: `BertBackbone.from_preset(folder)`; transformers:
     `BertModel.from_pretrained(folder)`) and checks its sequence output (at the real,
     non-padding tokens) and pooled output on the batch against the reference: max abs
     diff must be <= 1e-3 in float32, else the child fails and so does the run. That
     first call (tracing/compiling) and `--warmup - 1` more are untimed. The children start one after another, then stay
     alive together while the parent asks for `--reps` rounds of one timed forward pass
     from each, round-robin (rotating who goes first): load from other processes on a
     shared machine then hits every engine alike. A timed pass runs the whole encoder
     and copies the sequence (and pooled) output into numpy arrays.
  3. the parent prints machine/versions, one row per engine (seq/s min/median/max, wall
     and CPU seconds per batch, memory) and the ratios of bert_tf's median throughput to
     each peer's (target >= 1.0x).

Engines: `bert_tf` (plain `tf.function`), `bert_tf_jit` (`tf.function(jit_compile=True)`),
`bert_tf_bf16` / `bert_tf_bf16_jit` (the same under the `mixed_bfloat16` Keras policy:
bfloat16 matmuls, float32 variables and softmax), `keras_hub` (`tf.function` around
`backbone(inputs, training=False)`), `transformers` (`torch.inference_mode()`, the attention
implementation transformers picks by default), and `gemm` / `gemm_bf16`: no model, plain
`tf.matmul`s in float32 / bfloat16 at the encoder's three dense shapes with M = batch x
seq_length rows — [M, H] x [H, H] (Q, K, V, attention output), [M, H] x [H, I] and
[M, I] x [I, H] (feed-forward) — per timed call, `--gemm_repeats` of each shape back to
back inside one `tf.function` (distinct operands, one at a time), with the same threads.

GEMM peak and FLOPs: a gemm engine's throughput per shape is the median over its timed
calls of that shape's time per matmul; the GEMM peak is the best of the three shapes' medians (so the peak
is what TF's own matmul reaches at the encoder's shapes on this machine, under the same
load). The encoder's FLOPs are the matmul FLOPs of its Transformer layers
(`common.encoder_forward_flops`: 8 s H^2 + 4 s^2 H + 4 s H I per layer and sequence of
length s; BERT-base at s = 128 is 22.35 GFLOP per sequence; embeddings, pooler and
element-wise work not counted), in two ways: `padded` counts every sequence at
`--seq_length` (the work the engines do: none of them skips padding), `real` counts each
sequence at its real length (the useful work; the batch has padding, see `common.make_inputs`).
`GFLOP/s` is padded FLOPs per batch / median seconds per batch; `%GEMM pad` and
`%GEMM real` divide the padded and real GFLOP/s by the fp32 GEMM peak (target: >= 85%
padded, for the fp32 bert_tf engines). With `--peak_tflops` (or on a GPU listed in
`common.GPU_PEAK_TFLOPS`, with `--device gpu`) an `MFU` column divides the padded GFLOP/s
by that peak.

bfloat16: the bf16 engines are checked against the same fp32 reference with
BF16_TOLERANCE (max abs difference 0.25 on outputs of unit scale: bf16 keeps 8 bits of
mantissa, about 3 significant digits) and their `max|diff|` is printed; the ratios print
bf16 / fp32 throughput (target >= 1.6x). Without native bf16 dot products (the
`avx512_bf16` / `amx_bf16` CPU flags in the header) TF's CPU kernels convert bf16 to fp32
for the math, so bf16 cannot be faster here than the `gemm_bf16` row shows.

Equal models: keras-hub's `BertBackbone` always uses the tanh GELU approximation, while the
config (and HF `BertModel`, and bert_tf) use the activation `hidden_act` names — the exact
erf GELU for every published BERT. The keras-hub child therefore sets its feed-forward
activation to the config's, so all three compute the same function.

Memory: `peak RSS` is the child's `ru_maxrss` (the whole process: framework import, model
build, weight loading, the run); `run HWM` is the peak from just before the first model call
to the end (Linux `VmHWM` after resetting it): resident weights + tracing/compilation +
activations, without the transient copies that weight loading makes. `CPU s/batch` is the
child's CPU time per pass (all threads); well below threads x wall time means it waited
for cores, i.e. the machine was busy — see the load averages printed.

Options: `--dtype mixed_bfloat16` runs all model engines in bf16 (bert_tf and keras-hub
under that Keras dtype policy, torch under `torch.autocast("cpu", torch.bfloat16)`; the
check then compares with the fp32 reference at a loose tolerance); `--jit` times bert_tf only with XLA, `--no_jit` only
without (default: both); `--threads N` sizes TF's intra/inter-op pools and torch's
intra/inter-op pools (default: all available cores); `--engines` picks a subset (the
slowest here, `bert_tf_bf16_jit`, can be left out on a CPU without native bf16);
`--gemm_repeats` sets the matmuls per shape per timed gemm call; `--device gpu` leaves GPUs
visible (see bench/gpu.md) and `--peak_tflops` adds an MFU column.
"""
import argparse
import os
import tempfile

import numpy as np

from bench import common

ENGINES = ("gemm", "gemm_bf16", "bert_tf", "bert_tf_jit", "bert_tf_bf16", "bert_tf_bf16_jit",
           "keras_hub", "transformers")
OURS = ("bert_tf", "bert_tf_jit", "bert_tf_bf16", "bert_tf_bf16_jit")
PEERS = ("keras_hub", "transformers")
# The fp32 forward must reach this fraction of the fp32 GEMM peak, bf16 this speed-up.
GEMM_FRACTION_TARGET = 0.85
BF16_SPEEDUP_TARGET = 1.6
PACKAGES = ("tensorflow", "keras", "keras-hub", "torch", "transformers", "numpy")
FP32_TOLERANCE = 1e-3
# Mixed precision is checked against the fp32 reference too; bf16 keeps ~3 significant
# digits, so only a gross error (a mis-mapped weight gives O(1) differences) fails it.
BF16_TOLERANCE = 0.25


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="base", help="bert_tf preset name (configs/bert)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--reps", type=int, default=5, help="timed forward passes per engine")
    p.add_argument("--warmup", type=int, default=2, help="untimed passes before timing")
    p.add_argument("--dtype", default="float32", choices=("float32", "mixed_bfloat16"))
    jit = p.add_mutually_exclusive_group()
    jit.add_argument("--jit", action="store_true",
                     help="time bert_tf only through tf.function(jit_compile=True)")
    jit.add_argument("--no_jit", action="store_true",
                     help="time bert_tf only through a plain tf.function")
    p.add_argument("--threads", type=int, default=common.cpu_count(),
                   help="TF intra/inter-op and torch threads (default: all cores)")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated subset of {','.join(ENGINES)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gemm_repeats", type=int, default=4,
                   help="matmuls of each of the three shapes per timed call of a gemm engine "
                        "(run back to back in one tf.function)")
    common.add_device_args(p)
    # Internal: what a child process runs.
    p.add_argument("--engine", default=None, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("batch_size", "seq_length", "reps", "threads", "gemm_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    engines = common.parse_engines(p, args.engines, ENGINES)
    if args.jit:
        engines = [e for e in engines if e not in ("bert_tf", "bert_tf_bf16")]
    if args.no_jit:
        engines = [e for e in engines if e not in ("bert_tf_jit", "bert_tf_bf16_jit")]
    args.engine_list = engines
    return args


# --- weights (the `prepare` child; the inputs: `common.make_inputs`) --------------------
def random_weights(encoder, seed):
    """Every weight of `encoder` drawn at random, {google_name: float32 array}."""
    from bert_tf.convert.weights import get_weights
    rng = np.random.default_rng(seed + 1)
    weights = {}
    for name, value in get_weights(encoder).items():
        noise = rng.normal(0.0, 0.02, size=value.shape)
        weights[name] = (1.0 + 5 * noise if name.endswith("/gamma") else noise).astype(np.float32)
    return weights


def prepare(args):
    """Writes the shared HF folder, the input batch and the fp32 reference outputs."""
    common.set_threads(args.threads, tf=True)
    from bert_tf.model.config import BertConfig
    from bert_tf.convert.hf import write_weights
    from bert_tf.convert.weights import set_weights
    from bert_tf.model.encoder import BertEncoder

    config = BertConfig.from_preset(args.config)
    encoder = BertEncoder.from_bert_config(config)
    weights = random_weights(encoder, args.seed)
    set_weights(encoder, weights)
    folder = os.path.join(args.workdir, "hf")
    os.makedirs(folder, exist_ok=True)
    write_weights(weights, folder)
    config.to_json_file(os.path.join(folder, "config.json"), checkpoint_format="hf")

    inputs = common.make_inputs(config.vocab_size, args.batch_size, args.seq_length, args.seed)
    outputs = encoder(inputs, training=False)
    np.savez(os.path.join(args.workdir, "batch.npz"), **inputs,
             sequence_output=np.asarray(outputs["sequence_output"], np.float32),
             pooled_output=np.asarray(outputs["pooled_output"], np.float32))
    mask = inputs["input_mask"]
    common.emit_result({
        "engine": "prepare",
        "parameters": int(sum(w.size for w in weights.values())),
        "mean_length": float(mask.sum(1).mean()),
        "padding_fraction": float(1.0 - mask.mean()),
        "lengths": [int(x) for x in mask.sum(1)],
        "num_layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
    })


# --- one engine per child ----------------------------------------------------------------
def _load_batch(workdir):
    data = np.load(os.path.join(workdir, "batch.npz"))
    inputs = {name: data[name] for name in ("input_word_ids", "input_mask", "input_type_ids")}
    return inputs, data["sequence_output"], data["pooled_output"]


def _build_bert_tf(args, folder, inputs, jit, dtype):
    import tensorflow as tf
    from bert_tf.model.config import BertConfig
    from bert_tf.convert.hf import from_hf, read_weights
    from bert_tf.convert.weights import set_weights
    from bert_tf.model.encoder import BertEncoder

    config = BertConfig.from_json_file(os.path.join(folder, "config.json"))
    encoder = BertEncoder.from_bert_config(config, dtype=dtype)
    set_weights(encoder, from_hf(read_weights(folder)), source=folder)

    @tf.function(jit_compile=jit)
    def forward(batch):
        outputs = encoder(batch, training=False)
        return outputs["sequence_output"], outputs["pooled_output"]

    batch = {k: tf.constant(v) for k, v in inputs.items()}
    return (lambda: [t.numpy() for t in forward(batch)],
            f"tf.function(jit_compile={jit}), {dtype}, {common.onednn_state()}")


def _build_keras_hub(args, folder, inputs):
    import keras_hub
    import tensorflow as tf
    from bert_tf.model.config import BertConfig

    backbone = keras_hub.models.BertBackbone.from_preset(folder, dtype=args.dtype)
    hidden_act = BertConfig.from_json_file(os.path.join(folder, "config.json")).hidden_act
    common.use_config_activation(backbone, hidden_act)  # see "Equal models" above

    @tf.function
    def forward(batch):
        outputs = backbone(batch, training=False)
        return outputs["sequence_output"], outputs["pooled_output"]

    batch = {"token_ids": tf.constant(inputs["input_word_ids"]),
             "segment_ids": tf.constant(inputs["input_type_ids"]),
             "padding_mask": tf.constant(inputs["input_mask"])}
    return (lambda: [t.numpy() for t in forward(batch)],
            f"tf.function, {common.onednn_state()}, FFN act {hidden_act}")


def _build_transformers(args, folder, inputs):
    import contextlib

    import torch
    import transformers

    device = "cuda" if args.device == "gpu" else "cpu"
    model = transformers.BertModel.from_pretrained(folder, dtype=torch.float32).to(device)
    model.eval()
    batch = {"input_ids": torch.from_numpy(inputs["input_word_ids"]).long().to(device),
             "attention_mask": torch.from_numpy(inputs["input_mask"]).long().to(device),
             "token_type_ids": torch.from_numpy(inputs["input_type_ids"]).long().to(device)}
    bf16 = args.dtype == "mixed_bfloat16"

    def step():
        autocast = (torch.autocast(device, dtype=torch.bfloat16) if bf16
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            out = model(**batch)
        return [t.float().cpu().numpy() for t in (out.last_hidden_state, out.pooler_output)]

    return step, (f"attn={model.config._attn_implementation}, "
                  f"{'autocast bf16' if bf16 else 'fp32'}, inference_mode")


def run_gemm(args):
    """Child of a gemm engine: plain matmuls at the encoder's shapes (`common.serve_gemm`)."""
    from bert_tf.model.config import BertConfig

    config = BertConfig.from_json_file(os.path.join(args.workdir, "hf", "config.json"))
    common.serve_gemm(args.engine, config, args.batch_size, args.seq_length,
                      args.gemm_repeats, args.warmup, args.seed)


def run_engine(args):
    """Child: build one engine, check it against the reference, time it, report."""
    common.set_threads(args.threads, tf=args.engine != "transformers",
                       torch=args.engine == "transformers")
    if args.engine in common.GEMM_ENGINES:
        return run_gemm(args)
    folder = os.path.join(args.workdir, "hf")
    inputs, ref_sequence, ref_pooled = _load_batch(args.workdir)
    bf16 = "_bf16" in args.engine or args.dtype == "mixed_bfloat16"
    if args.engine in OURS:
        step, detail = _build_bert_tf(args, folder, inputs, jit=args.engine.endswith("_jit"),
                                      dtype="mixed_bfloat16" if bf16 else "float32")
    elif args.engine == "keras_hub":
        step, detail = _build_keras_hub(args, folder, inputs)
    else:
        step, detail = _build_transformers(args, folder, inputs)

    # Equal models: same outputs on the batch as the fp32 bert_tf reference. This first
    # call also traces / compiles, so it counts as warm-up.
    common.reset_peak_rss()
    sequence, pooled = (np.asarray(x, np.float32) for x in step())
    real = inputs["input_mask"].astype(bool)  # outputs at padding positions are don't-care
    diff = float(np.max(np.abs(sequence - ref_sequence)[real]))
    pooled_diff = float(np.max(np.abs(pooled - ref_pooled)))
    tolerance = BF16_TOLERANCE if bf16 else FP32_TOLERANCE
    print(f"{args.engine}: max |sequence_output - reference| = {diff:.2e}, "
          f"pooled {pooled_diff:.2e} (tolerance {tolerance:g})", flush=True)
    if not diff <= tolerance or not pooled_diff <= tolerance:  # also catches NaN
        raise SystemExit(f"{args.engine} does not match the reference: max abs diff "
                         f"{diff:.3e} (sequence), {pooled_diff:.3e} (pooled) > {tolerance}; "
                         "the models are not equal, so timings would not be comparable")

    for _ in range(args.warmup - 1):
        step()
    common.serve_reps(step, {"detail": detail, "max_abs_diff": diff,
                             "pooled_max_abs_diff": pooled_diff,
                             "flops_dtype": "bf16" if bf16 else "tf32"})


# --- parent --------------------------------------------------------------------------------
def add_flops(rows, info, batch_size, seq_length, peak_tflops=None, device_name=None):
    """Adds to each row its GFLOP/s (padded and real-token FLOPs per median batch time),
    its fraction of the fp32 GEMM peak (if a `gemm` row is there) and its MFU (if a peak
    is known); returns the fp32 GEMM peak in GFLOP/s or None."""
    dims = (info["num_layers"], info["hidden_size"], info["intermediate_size"])
    padded = common.encoder_forward_flops(*dims, [seq_length] * batch_size)
    real = common.encoder_forward_flops(*dims, info["lengths"])
    gemm_peak = common.finish_gemm_rows(rows)
    for row in rows:
        if row["engine"] not in common.GEMM_ENGINES:
            row["gflops"] = padded / row["sec_median"] / 1e9
            row["real_gflops"] = real / row["sec_median"] / 1e9
        if gemm_peak:
            row["gemm_fraction"] = row["gflops"] / gemm_peak
            if "real_gflops" in row:
                row["gemm_fraction_real"] = row["real_gflops"] / gemm_peak
        peak, _ = common.peak_tflops(row["flops_dtype"], peak_tflops, device_name)
        row["mfu"] = common.mfu(row["gflops"] * 1e9, peak)
    return padded, real, gemm_peak


def main(args):
    settings = {"config": args.config, "batch_size": args.batch_size,
                "seq_length": args.seq_length, "dtype": args.dtype, "reps": args.reps,
                "warmup": args.warmup, "threads": args.threads, "seed": args.seed,
                "gemm_repeats": args.gemm_repeats, "device": args.device}
    print(common.header(f"bert_tf encoder forward throughput ({args.device.upper()})",
                        PACKAGES, settings))
    env, device_name = common.child_env(args.threads, args.device)
    passthrough = [f"--{k}={v}" for k, v in settings.items()]

    with tempfile.TemporaryDirectory(prefix="bench_encoder_") as workdir:
        def argv(engine):
            return common.bench_argv("encoder", f"--engine={engine}",
                                     f"--workdir={workdir}", *passthrough)

        info = common.run_child(argv("prepare"), env=env, name="prepare")
        print(f"model   : {info['parameters'] / 1e6:.1f}M parameters, random weights; batch "
              f"mean length {info['mean_length']:.1f}/{args.seq_length} "
              f"({info['padding_fraction']:.0%} padding)")
        rows = common.run_interleaved(
            {engine: argv(engine) for engine in args.engine_list}, reps=args.reps,
            items=args.batch_size, env=env,
            on_start=lambda engine: print(f"starting {engine} ...", flush=True))

    padded, real, gemm_peak = add_flops(rows, info, args.batch_size, args.seq_length,
                                        args.peak_tflops, device_name)
    columns = [
        ("engine", "engine", "{}"),
        ("per_sec_min", "seq/s min", "{:.1f}"),
        ("per_sec_median", "seq/s median", "{:.1f}"),
        ("per_sec_max", "seq/s max", "{:.1f}"),
        ("sec_median", "s/call median", "{:.3f}"),
        ("cpu_sec_median", "CPU s/call", "{:.2f}"),
        ("gflops", "GFLOP/s", "{:.1f}"),
        ("gemm_fraction", "%GEMM pad", "{:.1%}"),
        ("gemm_fraction_real", "%GEMM real", "{:.1%}"),
        ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
        ("hwm_mib", "run HWM MiB", "{:.0f}"),
        ("max_abs_diff", "max|diff|", "{:.1e}"),
        ("detail", "how", "{}"),
    ]
    if any(row["mfu"] is not None for row in rows):
        columns.insert(-4, ("mfu", "MFU", "{:.1%}"))
    print()
    print(f"FLOPs per batch (Transformer-layer matmuls, forward): padded "
          f"{padded / 1e9:.1f} GFLOP ({padded / args.batch_size / 1e9:.2f} per sequence of "
          f"{args.seq_length}), real tokens {real / 1e9:.1f} GFLOP")
    print(common.format_table(rows, columns))
    print(common.load_after_run_line())
    by_engine = {row["engine"]: row for row in rows}
    if gemm_peak:
        print(f"\nfraction of the fp32 GEMM peak ({gemm_peak:.1f} GFLOP/s, best median of "
              f"tf.matmul at the encoder's shapes, this run); target >= "
              f"{GEMM_FRACTION_TARGET:.0%} counting padded FLOPs (what the engine computes):")
        for name in ("bert_tf", "bert_tf_jit"):
            if name in by_engine:
                row = by_engine[name]
                verdict = "met" if row["gemm_fraction"] >= GEMM_FRACTION_TARGET else "NOT met"
                print(f"  {name:<12} {row['gflops']:.1f} GFLOP/s = {row['gemm_fraction']:.1%} "
                      f"padded ({verdict}); real-token FLOPs {row['gemm_fraction_real']:.1%}")
    bf16_pairs = [(b, f) for b, f in (("bert_tf_bf16", "bert_tf"),
                                      ("bert_tf_bf16_jit", "bert_tf_jit"))
                  if b in by_engine and f in by_engine]
    if bf16_pairs:
        print(f"\nbfloat16 (mixed_bfloat16 policy) vs float32, same run; target >= "
              f"{BF16_SPEEDUP_TARGET}x, outputs within {BF16_TOLERANCE} of the fp32 reference:")
        for b, f in bf16_pairs:
            ratio = by_engine[b]["per_sec_median"] / by_engine[f]["per_sec_median"]
            verdict = "met" if ratio >= BF16_SPEEDUP_TARGET else "NOT met"
            print(f"  {b:<16} / {f:<12} = {ratio:.2f}x  ({verdict}); max |diff| sequence "
                  f"{by_engine[b]['max_abs_diff']:.2e}, pooled "
                  f"{by_engine[b]['pooled_max_abs_diff']:.2e}")
        fp32 = [by_engine[f] for f in ("bert_tf", "bert_tf_jit") if f in by_engine]
        bf16 = [by_engine[b] for b in ("bert_tf_bf16", "bert_tf_bf16_jit") if b in by_engine]
        best_b = max(bf16, key=lambda r: r["per_sec_median"])
        best_f = max(fp32, key=lambda r: r["per_sec_median"])
        print(f"  best bf16 ({best_b['engine']}) / best fp32 ({best_f['engine']}) = "
              f"{best_b['per_sec_median'] / best_f['per_sec_median']:.2f}x")
        if "gemm" in by_engine and "gemm_bf16" in by_engine:
            print(f"  ceiling here: bf16 / fp32 GEMM peak = "
                  f"{by_engine['gemm_bf16']['gemm_peak_gflops'] / gemm_peak:.2f}x "
                  f"(cpu flags: {common.cpu_flags_line()})")
    ours = [e for e in ("bert_tf", "bert_tf_jit") if e in by_engine]
    peers = [e for e in PEERS if e in by_engine]
    if ours and peers:
        print("\nratios of median throughput (target >= 1.0x); in brackets the ratio of "
              "median CPU seconds per batch, less sensitive to a busy machine:")
        for mine in ours:
            for peer in peers:
                a, b = by_engine[mine], by_engine[peer]
                ratio = a["per_sec_median"] / b["per_sec_median"]
                verdict = "met" if ratio >= 1.0 else "NOT met"
                print(f"  {mine:<12} / {peer:<13} = {ratio:.2f}x  ({verdict})  "
                      f"[CPU {b['cpu_sec_median'] / a['cpu_sec_median']:.2f}x]")
    if any(row["mfu"] is not None for row in rows):
        print(f"\nMFU = padded forward FLOPs per second / peak ("
              f"{common.peak_tflops('tf32', args.peak_tflops, device_name)[1]}; bf16 rows: "
              f"{common.peak_tflops('bf16', args.peak_tflops, device_name)[1]})")
    if args.reps < 5:
        print(f"note: only {args.reps} timed reps; use --reps 5 or more for reportable numbers")
    return 0


if __name__ == "__main__":
    common.dispatch(parse_args(), run_engine, main, prepare)
