"""Fine-tuning train-step throughput (sequences/s) and peak memory: a classification train
step (forward + backward + AdamW update) of bert_tf's `ClassificationTask` model on a
`BertEncoder` vs keras-hub's `BertTextClassifier` on a `BertBackbone` of the same config,
same batch, loss and optimizer, with and without XLA, timed interleaved in one run.

    python -m bench.train_step --config base --batch_size 32 --seq_length 128 --reps 5
    python -m bench.train_step --config mini --reps 5          # a quick check (~2 minutes)
    python -m bench.train_step --config base --engines gemm,bert_tf,keras_hub --profile_steps 3

Each engine's child builds its model from scratch (same seed, random weights), compiles
it, runs `--warmup` untimed steps, then serves timed groups of `--steps_per_rep`
`model.train_on_batch` calls. Engines: `bert_tf[_jit]`,
`ClassificationTask.build_model(BertEncoder)` with `task.compile_args` (its last block
computes only [CLS], `output_range=1`: about 1/L fewer FLOPs than `GFLOP/s` counts for
it); `keras_hub[_jit]`, `BertTextClassifier(BertBackbone, preprocessor=None)`, the same
head, loss and metric; `gemm[_bf16]` (bench/compute.py). Both models: dropout 0.1,
`make_optimizer`'s AdamW, the same padded batch (`compute.make_inputs`) and random
labels; `--dtype mixed_bfloat16` runs both under that policy. `params` (trainable, equal
for equal models); `loss`: the first step's (about ln(num_classes)); `GFLOP/s`, `%GEMM`,
`MFU`, `--profile_steps`: bench/compute.py.
"""
import numpy as np

from bench import compute, harness, machine, peers

ENGINES = ("gemm", "gemm_bf16", "bert_tf", "bert_tf_jit", "keras_hub", "keras_hub_jit")
DEFAULT_ENGINES = ("gemm", "bert_tf", "bert_tf_jit", "keras_hub", "keras_hub_jit")
PACKAGES = ("tensorflow", "keras", "keras-hub", "numpy")


def parse_args(argv=None):
    p = harness.parser(__doc__, ENGINES, DEFAULT_ENGINES, reps=5, warmup=2, batch_size=32,
                       seed=0)
    p.add_argument("--config", default="base", help="bert_tf preset name (configs/bert)")
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--num_classes", type=int, default=2)
    p.add_argument("--steps_per_rep", type=int, default=1, help="train steps per timing")
    p.add_argument("--learning_rate", type=float, default=5e-5)
    p.add_argument("--dtype", default="float32", choices=("float32", "mixed_bfloat16"))
    p.add_argument("--profile_steps", type=int, default=0,
                   help="trace this many train steps of each bert_tf engine with TF's "
                        "profiler (after warm-up, before timing) and print its top ops")
    compute.add_device_args(p, gemm_repeats=2)
    return harness.parse(p, argv, minimum={"num_classes": 2}, positive=(
        "seq_length", "steps_per_rep", "warmup", "gemm_repeats"))


# --- one engine per child ----------------------------------------------------------------
def _model(args, config, jit):
    """(model, features, detail): bert_tf's classification task model, or keras-hub's."""
    from bert_tf.train.optimization import make_optimizer
    total_steps = args.warmup + args.reps * args.steps_per_rep
    optimizer = make_optimizer("adamw", args.learning_rate, total_steps,
                               num_warmup_steps=max(1, total_steps // 10))
    if args.engine.startswith("bert_tf"):
        from bert_tf.data import corpora
        from bert_tf.model.encoder import BertEncoder
        from bert_tf.convert.pretrained import load_tokenizer
        from bert_tf.tasks.classification import ClassificationTask

        # The tokenizer is not used by the train step; the task needs one to exist.
        task = ClassificationTask(load_tokenizer(corpora.minilm_path()),
                                  max_seq_length=args.seq_length,
                                  labels=[f"label_{i}" for i in range(args.num_classes)])
        model = task.build_model(BertEncoder.from_bert_config(config, dtype=args.dtype))
        model.compile(**task.compile_args(optimizer), jit_compile=jit)
        return model, (lambda inputs: inputs), "ClassificationTask.build_model"
    import keras
    import keras_hub

    model = keras_hub.models.BertTextClassifier(
        peers.keras_hub_backbone(config, dtype=args.dtype), args.num_classes,
        preprocessor=None, dropout=0.1)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=jit)
    return model, peers.keras_hub_features, "BertTextClassifier"


def run_engine(args):
    """Child: build one engine, warm it up, serve timed groups of train steps."""
    machine.set_threads(args.threads, tf=True)
    import keras
    import tensorflow as tf
    from bert_tf.model.config import BertConfig

    keras.utils.set_random_seed(args.seed)
    config = BertConfig.from_preset(args.config)
    if args.engine in compute.GEMM_ENGINES:
        return compute.serve_gemm(args, config, args.warmup, args.seed)
    jit = args.engine.endswith("_jit")
    model, features, detail = _model(args, config, jit)
    inputs = compute.make_inputs(config.vocab_size, args.batch_size, args.seq_length, args.seed)
    x = {k: tf.constant(v) for k, v in features(inputs).items()}
    y = tf.constant(np.random.default_rng(args.seed + 2).integers(
        0, args.num_classes, size=args.batch_size).astype(np.int32))

    def train_steps(n):
        loss = None
        for _ in range(n):
            loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
        return loss

    harness.reset_peak_rss()
    first_loss = train_steps(1)  # traces / compiles
    if not np.isfinite(first_loss):
        raise SystemExit(f"{args.engine}: the first train step's loss is {first_loss}")
    train_steps(args.warmup - 1)
    harness.serve_reps(lambda: train_steps(args.steps_per_rep), {
        "detail": f"{detail}, train_on_batch, AdamW, {args.dtype}, XLA {'on' if jit else 'off'}",
        "params": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        "first_loss": first_loss, "profile": compute.profile_if_asked(
            args, lambda: train_steps(1)), "num_layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size, "intermediate_size": config.intermediate_size})


# --- parent --------------------------------------------------------------------------------
def main(args):
    env, device_name = harness.start(f"classification train step: bert_tf vs keras-hub "
                                     f"({args.device.upper()})", PACKAGES, args)
    rows = harness.interleave(
        lambda e: harness.child_argv("train_step", args, e),
        args.engine_list, args.reps, args.steps_per_rep * args.batch_size, env)
    models = [row for row in rows if row["engine"] not in compute.GEMM_ENGINES]
    if not models:
        raise SystemExit("--engines: name at least one model engine besides gemm")
    flops = compute.TRAIN_FLOPS_FACTOR * compute.encoder_forward_flops(
        models[0]["num_layers"], models[0]["hidden_size"], models[0]["intermediate_size"],
        [args.seq_length] * args.batch_size)
    math = "bf16" if args.dtype == "mixed_bfloat16" else "tf32"
    gemm_peak, peak_note = compute.add_flops(rows, flops * args.steps_per_rep, args,
                                             device_name, lambda row: math)
    for row in models:
        row["sec_per_step"] = row["sec_median"] / args.steps_per_rep
        row["cpu_per_step"] = row["cpu_sec_median"] / args.steps_per_rep
    columns = [("engine", "engine", "{}"), *harness.rate_columns("seq", "{:.2f}"),
               ("sec_per_step", "s/step median", "{:.2f}"),
               ("cpu_per_step", "CPU s/step", "{:.2f}"), ("gflops", "GFLOP/s", "{:.1f}"),
               ("gemm_fraction", "%GEMM", "{:.1%}"), ("params", "params", "{:,}"),
               ("first_loss", "loss", "{:.3f}"), *harness.MEMORY_COLUMNS,
               ("detail", "how", "{}")]
    print(f"\nFLOPs per train step: 3 x forward = {flops / 1e9:.1f} GFLOP "
          f"(padded length {args.seq_length}, Transformer-layer matmuls)")
    compute.print_table(rows, columns, peak_note, "params")
    compute.print_gemm_fractions(
        gemm_peak, [row for row in models if row["engine"].startswith("bert_tf")],
        compute.TRAIN_GEMM_FRACTION_TARGET, judged=args.dtype == "float32")
    compute.print_profiles(models, args.profile_steps)
    if len({row["params"] for row in models}) > 1:
        print("WARNING: the engines' trainable parameter counts differ; the models are not "
              "the same size")
    harness.print_ratios(
        "\nratios of median throughput (target >= 1.0x); in brackets the ratio of median "
        "CPU seconds per step, less sensitive to a busy machine:", rows,
        [("bert_tf", "keras_hub"), ("bert_tf_jit", "keras_hub_jit"),
         ("bert_tf_jit", "keras_hub")], target=1.0, cpu="cpu_per_step")
    return 0


if __name__ == "__main__":
    harness.dispatch(parse_args(), run_engine, main)
