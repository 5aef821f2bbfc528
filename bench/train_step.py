"""Fine-tuning train-step throughput (sequences/s) and peak memory on CPU: a classification
train step (forward + backward + AdamW update) of bert_tf's `ClassificationTask` model on
a `BertEncoder` vs keras-hub's `BertTextClassifier` on a `BertBackbone` of the same
config, same batch, loss and optimizer, with and without XLA, timed interleaved in one run.

    . .venv/bin/activate
    python -m bench.train_step --config base --batch_size 32 --seq_length 128 --reps 5
    python -m bench.train_step --config mini --reps 5          # a quick check (~2 minutes)
    # where the time goes: TF's profiler over 3 steps of each bert_tf engine
    python -m bench.train_step --config base --engines gemm,bert_tf,keras_hub --profile_steps 3

How it works: the parent process (which imports no TensorFlow) starts one child per engine,
one after another; each builds its model from scratch (same seed, random weights: speed
does not depend on their values), compiles it and runs `--warmup` untimed train steps (the
first traces / compiles). The children then stay alive together while the parent asks
for `--reps` rounds of `--steps_per_rep` timed train steps from each, round-robin
(`bench/common.py`'s interleaved timing, so load from elsewhere on the machine hits every
engine alike).

Engines (all `model.train_on_batch(features, labels)`, which returns the loss as numpy, so
a timed step has finished when it returns):
  bert_tf[_jit]    `ClassificationTask.build_model(BertEncoder.from_bert_config(config))`
                   (pooled output -> dropout 0.1 -> Dense(num_classes), float32 logits),
                   compiled with `task.compile_args(optimizer)`; `_jit`: jit_compile=True.
                   Its last block computes the [CLS] position only (`output_range=1`,
                   the same loss and gradients), so it runs about 1/L fewer FLOPs than
                   the `GFLOP/s` column counts for it.
  keras_hub[_jit]  `keras_hub.models.BertTextClassifier(BertBackbone(...), num_classes,
                   preprocessor=None)` (the same head: pooled output -> dropout 0.1 ->
                   Dense), compiled with the same loss and metric. Its feed-forward uses
                   the config's exact erf GELU as bert_tf does (keras-hub's default is the
                   tanh approximation), as in bench/encoder.py.
  gemm / gemm_bf16  no model: plain `tf.matmul`s at the encoder's three dense shapes with
                   M = batch x seq_length rows (`common.serve_gemm`, as in bench/encoder.py),
                   float32 / bfloat16, timed in the same rounds as the models: the GEMM
                   peak of this machine under the same load.
Both models: dropout 0.1 (hidden and attention), AdamW from `bert_tf.train.optimization.
make_optimizer` (BERT's schedule, weight decay 0.01 except LayerNorm and biases, global
clipnorm 1.0), sparse categorical cross-entropy from logits + accuracy metric, the same
batch: sentence pairs with padding (`common.make_inputs`, as in bench/encoder.py), random
labels.
`--dtype mixed_bfloat16` runs both under that Keras policy.

Columns: seq/s over the timed groups (min/median/max); `CPU s/step`: the child's CPU
seconds per step (all threads; well below threads x wall means it waited for cores);
`GFLOP/s`: training FLOPs (3 x the encoder's forward matmul FLOPs at the padded length,
`common.encoder_forward_flops`) per second; `%GEMM`: GFLOP/s over the fp32 GEMM peak of
the `gemm` row (target >= 75% for bert_tf in float32); `MFU` (only with `--peak_tflops`,
or on a known GPU with `--device gpu`): GFLOP/s over that peak; `params`: trainable parameters
(equal for equal models); `loss`: the first train step's loss (about ln(num_classes));
`peak RSS`: the child's whole-process peak (`ru_maxrss`); `run HWM`: the peak from just
before the first train step (weights, optimizer slots, tracing/compilation, activations
and gradients).

`--profile_steps N` traces N train steps of each bert_tf engine with TF's profiler after
its warm-up (`common.profile_ops`) and prints its top op types with their share of the op
time, the matmuls' share, and the forward / backward / optimizer split.
"""
import argparse

import numpy as np

from bench import common

ENGINES = ("gemm", "gemm_bf16", "bert_tf", "bert_tf_jit", "keras_hub", "keras_hub_jit")
DEFAULT_ENGINES = ("gemm", "bert_tf", "bert_tf_jit", "keras_hub", "keras_hub_jit")
PACKAGES = ("tensorflow", "keras", "keras-hub", "numpy")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="base", help="bert_tf preset name (configs/bert)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--num_classes", type=int, default=2)
    p.add_argument("--reps", type=int, default=5, help="timed groups of steps per engine")
    p.add_argument("--steps_per_rep", type=int, default=1, help="train steps per timing")
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed train steps before timing (the first traces/compiles)")
    p.add_argument("--learning_rate", type=float, default=5e-5)
    p.add_argument("--dtype", default="float32", choices=("float32", "mixed_bfloat16"))
    p.add_argument("--threads", type=int, default=common.cpu_count(),
                   help="TF intra/inter-op threads (default: all cores)")
    p.add_argument("--gemm_repeats", type=int, default=2,
                   help="matmuls of each encoder shape per timed call of a gemm engine")
    p.add_argument("--profile_steps", type=int, default=0,
                   help="trace this many train steps of each bert_tf engine with TF's "
                        "profiler (after warm-up, before timing) and print its top ops")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                   help=f"comma-separated subset of {','.join(ENGINES)}")
    p.add_argument("--seed", type=int, default=0)
    common.add_device_args(p)
    # Internal: what a child process runs.
    p.add_argument("--engine", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("batch_size", "seq_length", "reps", "steps_per_rep", "warmup", "threads",
                 "gemm_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.num_classes < 2:
        p.error("--num_classes must be >= 2")
    args.engine_list = common.parse_engines(p, args.engines, ENGINES)
    return args


# --- one engine per child ----------------------------------------------------------------
def _optimizer(args):
    from bert_tf.train.optimization import make_optimizer
    total_steps = args.warmup + args.reps * args.steps_per_rep
    return make_optimizer("adamw", args.learning_rate, total_steps,
                          num_warmup_steps=max(1, total_steps // 10))


def _bert_tf_model(args, config, jit):
    """(model, features) for bert_tf: the classification task's model on a BertEncoder."""
    from bert_tf.data import corpora
    from bert_tf.model.encoder import BertEncoder
    from bert_tf.convert.pretrained import load_tokenizer
    from bert_tf.tasks.classification import ClassificationTask

    # The tokenizer is not used by the train step; the task needs one to exist.
    task = ClassificationTask(load_tokenizer(corpora.minilm_path()),
                              max_seq_length=args.seq_length,
                              labels=[f"label_{i}" for i in range(args.num_classes)])
    encoder = BertEncoder.from_bert_config(config, dtype=args.dtype)
    model = task.build_model(encoder)
    model.compile(**task.compile_args(_optimizer(args)), jit_compile=jit)
    return model, (lambda inputs: inputs), "ClassificationTask.build_model"


def _keras_hub_model(args, config, jit):
    """(model, features) for keras-hub: BertTextClassifier on a BertBackbone."""
    import keras
    import keras_hub

    backbone = common.keras_hub_backbone(config, dtype=args.dtype)
    model = keras_hub.models.BertTextClassifier(backbone, args.num_classes,
                                                preprocessor=None, dropout=0.1)
    model.compile(optimizer=_optimizer(args),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=jit)

    def features(inputs):
        return {"token_ids": inputs["input_word_ids"], "segment_ids": inputs["input_type_ids"],
                "padding_mask": inputs["input_mask"]}

    return model, features, "BertTextClassifier"


def run_engine(args):
    """Child: build one engine, warm it up, serve timed groups of train steps."""
    common.set_threads(args.threads, tf=True)
    import keras
    import tensorflow as tf
    from bert_tf.model.config import BertConfig

    keras.utils.set_random_seed(args.seed)
    config = BertConfig.from_preset(args.config)
    if args.engine in common.GEMM_ENGINES:
        return common.serve_gemm(args.engine, config, args.batch_size, args.seq_length,
                                 args.gemm_repeats, args.warmup, args.seed)
    jit = args.engine.endswith("_jit")
    build = _bert_tf_model if args.engine.startswith("bert_tf") else _keras_hub_model
    model, features, detail = build(args, config, jit)

    inputs = common.make_inputs(config.vocab_size, args.batch_size, args.seq_length, args.seed)
    x = {k: tf.constant(v) for k, v in features(inputs).items()}
    y = tf.constant(np.random.default_rng(args.seed + 2).integers(
        0, args.num_classes, size=args.batch_size).astype(np.int32))

    def train_steps(n):
        loss = None
        for _ in range(n):
            loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        return loss

    common.reset_peak_rss()
    first_loss = train_steps(1)  # traces / compiles
    if not np.isfinite(first_loss):
        raise SystemExit(f"{args.engine}: the first train step's loss is {first_loss}")
    train_steps(args.warmup - 1)
    params = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    profile = (common.profile_ops(lambda: train_steps(1), args.profile_steps)
               if args.profile_steps and args.engine.startswith("bert_tf") else None)
    common.serve_reps(lambda: train_steps(args.steps_per_rep),
                      {"detail": f"{detail}, train_on_batch, AdamW, {args.dtype}, "
                                 f"XLA {'on' if jit else 'off'}",
                       "params": params, "first_loss": first_loss,
                       "num_layers": config.num_hidden_layers, "profile": profile,
                       "hidden_size": config.hidden_size,
                       "intermediate_size": config.intermediate_size})


# --- parent --------------------------------------------------------------------------------
def main(args):
    settings = {"config": args.config, "batch_size": args.batch_size,
                "seq_length": args.seq_length, "num_classes": args.num_classes,
                "reps": args.reps, "steps_per_rep": args.steps_per_rep,
                "warmup": args.warmup, "learning_rate": args.learning_rate,
                "dtype": args.dtype, "threads": args.threads, "seed": args.seed,
                "gemm_repeats": args.gemm_repeats, "profile_steps": args.profile_steps,
                "device": args.device}
    print(common.header(f"classification train step: bert_tf vs keras-hub "
                        f"({args.device.upper()})", PACKAGES, settings))
    env, device_name = common.child_env(args.threads, args.device)
    passthrough = [f"--{k}={v}" for k, v in settings.items()]
    rows = common.run_interleaved(
        {engine: common.bench_argv("train_step", f"--engine={engine}", *passthrough)
         for engine in args.engine_list},
        reps=args.reps, items=args.steps_per_rep * args.batch_size, env=env,
        on_start=lambda engine: print(f"starting {engine} ...", flush=True))

    models = [row for row in rows if row["engine"] not in common.GEMM_ENGINES]
    if not models:
        raise SystemExit("--engines: name at least one model engine besides gemm")
    first = models[0]
    flops = common.TRAIN_FLOPS_FACTOR * common.encoder_forward_flops(
        first["num_layers"], first["hidden_size"], first["intermediate_size"],
        [args.seq_length] * args.batch_size)
    peak, peak_source = common.peak_tflops("bf16" if args.dtype == "mixed_bfloat16" else "tf32",
                                           args.peak_tflops, device_name)
    gemm_peak = common.finish_gemm_rows(rows)
    for row in models:
        row["sec_per_step"] = row["sec_median"] / args.steps_per_rep
        row["cpu_per_step"] = row["cpu_sec_median"] / args.steps_per_rep
        row["gflops"] = flops / row["sec_per_step"] / 1e9
        row["mfu"] = common.mfu(row["gflops"] * 1e9, peak)
        if gemm_peak:
            row["gemm_fraction"] = row["gflops"] / gemm_peak
    columns = [
        ("engine", "engine", "{}"),
        ("per_sec_min", "seq/s min", "{:.2f}"),
        ("per_sec_median", "seq/s median", "{:.2f}"),
        ("per_sec_max", "seq/s max", "{:.2f}"),
        ("sec_per_step", "s/step median", "{:.2f}"),
        ("cpu_per_step", "CPU s/step", "{:.2f}"),
        ("gflops", "GFLOP/s", "{:.1f}"),
        ("gemm_fraction", "%GEMM", "{:.1%}"),
        ("params", "params", "{:,}"),
        ("first_loss", "loss", "{:.3f}"),
        ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
        ("hwm_mib", "run HWM MiB", "{:.0f}"),
        ("detail", "how", "{}"),
    ]
    if peak:
        columns.insert(7, ("mfu", "MFU", "{:.1%}"))
    print()
    print(f"FLOPs per train step: 3 x forward = {flops / 1e9:.1f} GFLOP "
          f"(padded length {args.seq_length}, Transformer-layer matmuls)")
    print(common.format_table(rows, columns))
    print(common.load_after_run_line())
    if peak:
        print(f"MFU = GFLOP/s / {peak:.1f} TFLOP/s ({peak_source})")
    common.print_gemm_fractions(
        gemm_peak, [row for row in models if row["engine"].startswith("bert_tf")],
        common.TRAIN_GEMM_FRACTION_TARGET, judged=args.dtype == "float32")
    common.print_profiles(models, args.profile_steps)
    if len({row["params"] for row in models}) > 1:
        print("WARNING: the engines' trainable parameter counts differ; the models are not "
              "the same size")
    by_engine = {row["engine"]: row for row in rows}
    pairs = [(a, b) for a, b in (("bert_tf", "keras_hub"), ("bert_tf_jit", "keras_hub_jit"),
                                 ("bert_tf_jit", "keras_hub"))
             if a in by_engine and b in by_engine]
    if pairs:
        print("\nratios of median throughput (target >= 1.0x); in brackets the ratio of "
              "median CPU seconds per step, less sensitive to a busy machine:")
        for mine, peer in pairs:
            a, b = by_engine[mine], by_engine[peer]
            ratio = a["per_sec_median"] / b["per_sec_median"]
            verdict = "met" if ratio >= 1.0 else "NOT met"
            print(f"  {mine:<12} / {peer:<13} = {ratio:.2f}x  ({verdict})  "
                  f"[CPU {b['cpu_per_step'] / a['cpu_per_step']:.2f}x]")
    return 0


if __name__ == "__main__":
    common.dispatch(parse_args(), run_engine, main)
