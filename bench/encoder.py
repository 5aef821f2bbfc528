"""Forward throughput (sequences/s) and peak memory of the BERT encoder: bert_tf's
`BertEncoder` (float32 and mixed_bfloat16, with and without XLA) vs keras-hub's
`BertBackbone` vs transformers' PyTorch `BertModel`, all holding the same weights and fed
the same batch, and the fp32 GEMM peak of this machine, all timed interleaved in one run.

    python -m bench.encoder --config base --batch_size 32 --seq_length 128 --reps 5
    python -m bench.encoder --config mini --reps 5        # a quick check (about a minute)

The `prepare` child gives a bert_tf encoder random weights (biases and LayerNorm
included, so that a mis-mapped variable cannot hide), writes them as a Hugging Face
folder, draws the batch (`compute.make_inputs`) and computes the fp32 reference output;
every engine loads that folder its own way and must reproduce it (sequence output at the
real tokens, pooled output) within FP32_TOLERANCE (BF16_TOLERANCE for bf16). Engines:
`bert_tf[_jit]`, `bert_tf_bf16[_jit]` (`mixed_bfloat16`: bf16 matmuls, float32 variables
and softmax), `keras_hub`, `transformers`, `gemm[_bf16]` (bench/compute.py);
`--dtype mixed_bfloat16` runs every model in bf16 (torch under `torch.autocast`),
`--jit` / `--no_jit` time bert_tf only with / without XLA.

`%GEMM pad` / `%GEMM real`: GFLOP/s at the padded (what the engines compute) / real
lengths over the fp32 GEMM peak (target >= 85% padded for fp32 bert_tf). bf16 targets
>= 1.6x fp32; without native bf16 (the header's cpu flags) TF computes bf16 in fp32, so
bf16 cannot beat the `gemm_bf16` row.
"""
import os

import numpy as np

from bench import compute, harness, machine, peers

ENGINES = ("gemm", "gemm_bf16", "bert_tf", "bert_tf_jit", "bert_tf_bf16", "bert_tf_bf16_jit",
           "keras_hub", "transformers")
OURS = ("bert_tf", "bert_tf_jit", "bert_tf_bf16", "bert_tf_bf16_jit")
PEERS = ("keras_hub", "transformers")
GEMM_FRACTION_TARGET = 0.85  # the fp32 forward's fraction of the fp32 GEMM peak
BF16_SPEEDUP_TARGET = 1.6
PACKAGES = ("tensorflow", "keras", "keras-hub", "torch", "transformers", "numpy")
FP32_TOLERANCE = 1e-3
# bf16 keeps ~3 significant digits; a mis-mapped weight gives O(1) differences.
BF16_TOLERANCE = 0.25


def parse_args(argv=None):
    p = harness.parser(__doc__, ENGINES, workdir=True, reps=5, warmup=2, batch_size=32,
                       seed=0)
    p.add_argument("--config", default="base", help="bert_tf preset name (configs/bert)")
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--dtype", default="float32", choices=("float32", "mixed_bfloat16"))
    jit = p.add_mutually_exclusive_group()
    jit.add_argument("--jit", action="store_true",
                     help="time bert_tf only through tf.function(jit_compile=True)")
    jit.add_argument("--no_jit", action="store_true",
                     help="time bert_tf only through a plain tf.function")
    compute.add_device_args(p, gemm_repeats=4)
    args = harness.parse(p, argv, positive=("seq_length", "gemm_repeats"))
    skipped = (("bert_tf", "bert_tf_bf16") if args.jit else
               ("bert_tf_jit", "bert_tf_bf16_jit") if args.no_jit else ())
    args.engine_list = [e for e in args.engine_list if e not in skipped]
    return args


def prepare(args):
    """Writes the shared HF folder, the input batch and the fp32 reference outputs."""
    machine.set_threads(args.threads, tf=True)
    from bert_tf.model.config import BertConfig
    from bert_tf.convert.hf import write_weights
    from bert_tf.convert.weights import get_weights, set_weights
    from bert_tf.model.encoder import BertEncoder

    config = BertConfig.from_preset(args.config)
    encoder = BertEncoder.from_bert_config(config)
    rng = np.random.default_rng(args.seed + 1)
    weights = {}
    for name, value in get_weights(encoder).items():
        noise = rng.normal(0.0, 0.02, size=value.shape)
        weights[name] = (1.0 + 5 * noise if name.endswith("/gamma") else noise).astype(np.float32)
    set_weights(encoder, weights)
    folder = os.path.join(args.workdir, "hf")
    os.makedirs(folder, exist_ok=True)
    write_weights(weights, folder)
    config.to_json_file(os.path.join(folder, "config.json"), checkpoint_format="hf")

    inputs = compute.make_inputs(config.vocab_size, args.batch_size, args.seq_length, args.seed)
    outputs = encoder(inputs, training=False)
    np.savez(os.path.join(args.workdir, "batch.npz"), **inputs,
             sequence_output=np.asarray(outputs["sequence_output"], np.float32),
             pooled_output=np.asarray(outputs["pooled_output"], np.float32))
    mask = inputs["input_mask"]
    harness.emit_result({
        "engine": "prepare", "parameters": int(sum(w.size for w in weights.values())),
        "mean_length": float(mask.sum(1).mean()), "padding_fraction": float(1 - mask.mean()),
        "lengths": [int(x) for x in mask.sum(1)], "num_layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size, "intermediate_size": config.intermediate_size})


# --- one engine per child ----------------------------------------------------------------
def _build_tf(args, folder, inputs):
    """(step, detail) of a bert_tf or keras-hub engine: a `tf.function` forward pass."""
    import tensorflow as tf
    from bert_tf.model.config import BertConfig

    config = BertConfig.from_json_file(os.path.join(folder, "config.json"))
    bf16 = "_bf16" in args.engine or args.dtype == "mixed_bfloat16"
    dtype = "mixed_bfloat16" if bf16 else "float32"
    if args.engine == "keras_hub":
        import keras_hub
        model = peers.use_config_activation(
            keras_hub.models.BertBackbone.from_preset(folder, dtype=args.dtype),
            config.hidden_act)
        batch, jit = peers.keras_hub_features(inputs), False
        detail = f"tf.function, {compute.onednn_state()}, FFN act {config.hidden_act}"
    else:
        from bert_tf.convert.hf import from_hf, read_weights
        from bert_tf.convert.weights import set_weights
        from bert_tf.model.encoder import BertEncoder
        model = BertEncoder.from_bert_config(config, dtype=dtype)
        set_weights(model, from_hf(read_weights(folder)), source=folder)
        batch, jit = inputs, args.engine.endswith("_jit")
        detail = f"tf.function(jit_compile={jit}), {dtype}, {compute.onednn_state()}"

    @tf.function(jit_compile=jit)
    def forward(features):
        outputs = model(features, training=False)
        return outputs["sequence_output"], outputs["pooled_output"]

    batch = {k: tf.constant(v) for k, v in batch.items()}
    return lambda: [t.numpy() for t in forward(batch)], detail


def _build_transformers(args, folder, inputs):
    import contextlib

    import torch
    import transformers

    device = "cuda" if args.device == "gpu" else "cpu"
    model = transformers.BertModel.from_pretrained(folder, dtype=torch.float32).to(device)
    model.eval()
    batch = {name: torch.from_numpy(inputs[key]).long().to(device) for name, key in (
        ("input_ids", "input_word_ids"), ("attention_mask", "input_mask"),
        ("token_type_ids", "input_type_ids"))}
    bf16 = args.dtype == "mixed_bfloat16"

    def step():
        autocast = (torch.autocast(device, dtype=torch.bfloat16) if bf16
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            out = model(**batch)
        return [t.float().cpu().numpy() for t in (out.last_hidden_state, out.pooler_output)]

    return step, (f"attn={model.config._attn_implementation}, "
                  f"{'autocast bf16' if bf16 else 'fp32'}, inference_mode")


def run_engine(args):
    """Child: build one engine, check it against the reference, time it, report."""
    torch = args.engine == "transformers"
    machine.set_threads(args.threads, tf=not torch, torch=torch)
    folder = os.path.join(args.workdir, "hf")
    if args.engine in compute.GEMM_ENGINES:
        from bert_tf.model.config import BertConfig
        config = BertConfig.from_json_file(os.path.join(folder, "config.json"))
        return compute.serve_gemm(args, config, args.warmup, args.seed)
    data = np.load(os.path.join(args.workdir, "batch.npz"))
    inputs = {name: data[name] for name in ("input_word_ids", "input_mask", "input_type_ids")}
    step, detail = (_build_transformers if torch else _build_tf)(args, folder, inputs)

    # Equal models: the outputs of the fp32 bert_tf reference. This first call also
    # traces / compiles, so it counts as warm-up.
    harness.reset_peak_rss()
    sequence, pooled = (np.asarray(x, np.float32) for x in step())
    real = inputs["input_mask"].astype(bool)  # outputs at padding positions are don't-care
    diff = float(np.max(np.abs(sequence - data["sequence_output"])[real]))
    pooled_diff = float(np.max(np.abs(pooled - data["pooled_output"])))
    bf16 = "_bf16" in args.engine or args.dtype == "mixed_bfloat16"
    tolerance = BF16_TOLERANCE if bf16 else FP32_TOLERANCE
    print(f"{args.engine}: max |sequence_output - reference| = {diff:.2e}, "
          f"pooled {pooled_diff:.2e} (tolerance {tolerance:g})", flush=True)
    if not diff <= tolerance or not pooled_diff <= tolerance:  # also catches NaN
        raise SystemExit(f"{args.engine} does not match the reference: max abs diff "
                         f"{diff:.3e} (sequence), {pooled_diff:.3e} (pooled) > {tolerance}; "
                         "the models are not equal, so timings would not be comparable")
    for _ in range(args.warmup - 1):
        step()
    harness.serve_reps(step, {"detail": detail, "max_abs_diff": diff,
                              "pooled_max_abs_diff": pooled_diff,
                              "flops_dtype": "bf16" if bf16 else "tf32"})


# --- parent --------------------------------------------------------------------------------
def main(args):
    env, device_name = harness.start(
        f"bert_tf encoder forward throughput ({args.device.upper()})", PACKAGES, args)
    with harness.workdir(None, "encoder") as workdir:
        def argv(engine):
            return harness.child_argv("encoder", args, engine, f"--workdir={workdir}")

        info = harness.run_child(argv("prepare"), env=env, name="prepare")
        print(f"model   : {info['parameters'] / 1e6:.1f}M parameters, random weights; batch "
              f"mean length {info['mean_length']:.1f}/{args.seq_length} "
              f"({info['padding_fraction']:.0%} padding)")
        rows = harness.interleave(argv, args.engine_list, args.reps, args.batch_size, env)

    dims = (info["num_layers"], info["hidden_size"], info["intermediate_size"])
    padded = compute.encoder_forward_flops(*dims, [args.seq_length] * args.batch_size)
    real = compute.encoder_forward_flops(*dims, info["lengths"])
    gemm_peak, peak_note = compute.add_flops(rows, padded, args, device_name,
                                             lambda row: row["flops_dtype"])
    for row in rows:
        if row["engine"] not in compute.GEMM_ENGINES:
            row["real_gflops"] = real / row["sec_median"] / 1e9
            if gemm_peak:
                row["gemm_fraction_real"] = row["real_gflops"] / gemm_peak
    columns = [("engine", "engine", "{}"), *harness.rate_columns("seq", "{:.1f}"),
               ("sec_median", "s/call median", "{:.3f}"),
               ("cpu_sec_median", "CPU s/call", "{:.2f}"), ("gflops", "GFLOP/s", "{:.1f}"),
               ("gemm_fraction", "%GEMM pad", "{:.1%}"),
               ("gemm_fraction_real", "%GEMM real", "{:.1%}"), *harness.MEMORY_COLUMNS,
               ("max_abs_diff", "max|diff|", "{:.1e}"), ("detail", "how", "{}")]
    print(f"\nFLOPs per batch (Transformer-layer matmuls, forward): padded "
          f"{padded / 1e9:.1f} GFLOP ({padded / args.batch_size / 1e9:.2f} per sequence of "
          f"{args.seq_length}), real tokens {real / 1e9:.1f} GFLOP")
    compute.print_table(rows, columns, peak_note, "peak_rss_mib")
    by_engine = {row["engine"]: row for row in rows}
    compute.print_gemm_fractions(gemm_peak, [by_engine[e] for e in ("bert_tf", "bert_tf_jit")
                                             if e in by_engine], GEMM_FRACTION_TARGET)
    ratios = harness.print_ratios(
        f"\nbfloat16 (mixed_bfloat16 policy) vs float32, same run; target >= "
        f"{BF16_SPEEDUP_TARGET}x, outputs within {BF16_TOLERANCE} of the fp32 reference:",
        rows, [(b, f, f"max |diff| sequence {by_engine[b]['max_abs_diff']:.2e}, pooled "
                      f"{by_engine[b]['pooled_max_abs_diff']:.2e}")
               for b, f in (("bert_tf_bf16", "bert_tf"), ("bert_tf_bf16_jit", "bert_tf_jit"))
               if b in by_engine], target=BF16_SPEEDUP_TARGET, width=16)
    if ratios:
        best = {kind: max((by_engine[e] for e in names if e in by_engine),
                          key=lambda r: r["per_sec_median"])
                for kind, names in (("bf16", OURS[2:]), ("fp32", OURS[:2]))}
        print(f"  best bf16 ({best['bf16']['engine']}) / best fp32 ({best['fp32']['engine']}) "
              f"= {best['bf16']['per_sec_median'] / best['fp32']['per_sec_median']:.2f}x")
        if gemm_peak and "gemm_bf16" in by_engine:
            print(f"  ceiling here: bf16 / fp32 GEMM peak = "
                  f"{by_engine['gemm_bf16']['gemm_peak_gflops'] / gemm_peak:.2f}x "
                  f"(cpu flags: {machine.cpu_flags_line()})")
    harness.print_ratios(
        "\nratios of median throughput (target >= 1.0x); in brackets the ratio of median "
        "CPU seconds per batch, less sensitive to a busy machine:", rows,
        [(mine, peer) for mine in OURS[:2] for peer in PEERS], target=1.0,
        cpu="cpu_sec_median")
    if args.reps < 5:
        print(f"note: only {args.reps} timed reps; use --reps 5 or more for reportable numbers")
    return 0


if __name__ == "__main__":
    harness.dispatch(parse_args(), run_engine, main, prepare)
