"""Fine-tuning benchmark on Rotten Tomatoes sentiment (CPU): bert_tf vs Hugging Face
transformers, both starting from the real pretrained all-MiniLM-L6-v2 weights, trained
with the same recipe in one run; reports test accuracy and training throughput.

    . .venv/bin/activate
    python bench/sentiment.py --max_train_examples 1000

Recipe (both engines): the hyperparameters of configs/finetune/rotten_tomatoes.json
(learning rate, warmup proportion, weight decay, batch size, epochs, max sequence length;
each can be overridden by a flag); AdamW (beta 0.9/0.999, epsilon 1e-6) without weight
decay on biases and LayerNorm, linear warmup then linear decay to 0, global gradient norm
clipped to 1.0, dropout 0.1; the classifier on the pooled [CLS] output; texts truncated to
the max length and each batch padded to its longest text; the training set reshuffled
each epoch. Texts are tokenized once up front by both (bert_tf in its tf.data pipeline,
with the in-graph tokenizer; transformers with its Python BertTokenizer).

  * bert_tf: `ClassificationTask` + `bert_tf.train.trainer.train` (model.fit with the
    checkpoint/backup callbacks bert-finetune uses), Keras AdamW; batches length-bucketed
    (the library default: examples of similar length batched together, reshuffled each
    epoch) and padded to their longest.
  * transformers: `BertForSequenceClassification` in a plain PyTorch loop,
    `torch.optim.AdamW` + `get_linear_schedule_with_warmup`.

More bert_tf engines (`--engines=bert_tf,bert_tf_bf16,...`), the same recipe otherwise:
  * bert_tf_bf16: mixed_bfloat16 (bert-finetune's --mixed_precision=bfloat16), to compare
    the task metric with float32 in one run (the two are listed side by side);
  * bert_tf_unbucketed: `bucket_by_length=False`, random batches padded to their longest;
  * bert_tf_fixed: `pad_to_max_length=True`, every batch padded to the max length.
`padding` is the fraction of the training batches' token positions that are padding
(one epoch of the engine's own pipeline, built again outside the timed run).

Throughput: `train seq/s` counts every training sequence over the whole training time
(tracing, compilation and checkpoint writing included); `steady seq/s` leaves out the
first --skip_steps steps (tracing / warm-up). Each engine runs in a child process of its
own (`bench/common.py`), with --threads threads; the test metric is computed with
scikit-learn for both.

This module also holds the pieces `bench/ner.py` shares (recipe loading, the PyTorch
optimizer and schedule, step timing, the parent's report).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `bench` and `bert_tf` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402

ENGINES = ("bert_tf", "bert_tf_bf16", "bert_tf_unbucketed", "bert_tf_fixed", "transformers")
DEFAULT_ENGINES = ("bert_tf", "transformers")
# What each bert_tf engine changes: `make_dataset`'s bucket_by_length, the task's
# pad_to_max_length, the --mixed_precision value.
BERT_TF_VARIANTS = {
    "bert_tf": {},
    "bert_tf_bf16": {"mixed_precision": "bfloat16"},
    "bert_tf_unbucketed": {"bucket_by_length": False},
    "bert_tf_fixed": {"pad_to_max_length": True},
}
PACKAGES = ("tensorflow", "keras", "tensorflow-text", "torch", "transformers", "numpy")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE_KEYS = ("learning_rate", "warmup_proportion", "weight_decay", "train_batch_size",
               "num_train_epochs", "max_seq_length")
ADAM_EPSILON = 1e-6
CLIP_NORM = 1.0


# --- shared with bench/ner.py ----------------------------------------------------------
def parse_args(description, config_name, default_max_train, argv=None,
               default_engines=DEFAULT_ENGINES):
    """Flags of a fine-tuning benchmark; recipe flags default to configs/finetune."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_file",
                   default=os.path.join(REPO, "configs", "finetune", config_name),
                   help="recipe (JSON of bert-finetune flags)")
    p.add_argument("--learning_rate", type=float)
    p.add_argument("--warmup_proportion", type=float)
    p.add_argument("--weight_decay", type=float)
    p.add_argument("--train_batch_size", type=int)
    p.add_argument("--num_train_epochs", type=int)
    p.add_argument("--max_seq_length", type=int)
    p.add_argument("--max_train_examples", type=int, default=default_max_train,
                   help="train on the first N training examples (0: all)")
    p.add_argument("--max_test_examples", type=int, default=0,
                   help="score the first N test examples (0: all)")
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--skip_steps", type=int, default=5,
                   help="steps left out of the steady throughput")
    p.add_argument("--threads", type=int, default=common.cpu_count())
    p.add_argument("--engines", default=",".join(default_engines),
                   help=f"comma-separated subset of {','.join(ENGINES)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", default=None, help=argparse.SUPPRESS)  # child mode
    args = p.parse_args(argv)
    with open(args.config_file, encoding="utf-8") as f:
        recipe = json.load(f)
    for key in RECIPE_KEYS:
        if getattr(args, key) is None:
            setattr(args, key, recipe[key])
    args.engine_list = common.parse_engines(p, args.engines, ENGINES)
    return args


def num_steps(args, num_examples):
    """(steps per epoch, total steps, warmup steps) of the recipe."""
    per_epoch = -(-num_examples // args.train_batch_size)
    total = per_epoch * args.num_train_epochs
    return per_epoch, total, int(total * args.warmup_proportion)


def torch_optimizer(model, args, num_examples):
    """torch AdamW + linear warmup/decay with BERT's no-decay groups (bias, LayerNorm)."""
    import torch
    import transformers

    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.learning_rate, betas=(0.9, 0.999), eps=ADAM_EPSILON)
    _, total, warmup = num_steps(args, num_examples)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total)
    return optimizer, schedule


def torch_train(model, batches, args, num_examples):
    """Trains a transformers model on `batches()` (an iterable of (inputs dict, labels)
    per epoch, reshuffled each call); returns per-step (end time, batch size)."""
    import torch

    optimizer, schedule = torch_optimizer(model, args, num_examples)
    model.train()
    steps = [(time.perf_counter(), 0)]
    for _ in range(args.num_train_epochs):
        for inputs, labels in batches():
            loss = model(**inputs, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            steps.append((time.perf_counter(), len(labels)))
    model.eval()
    return steps


def keras_step_timer():
    """A Keras callback that records (end time, batch size) of every training step."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self, batch_sizes):
            super().__init__()
            self.batch_sizes = batch_sizes
            self.steps = []

        def on_train_begin(self, logs=None):
            self.steps = [(time.perf_counter(), 0)]

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append((time.perf_counter(), self.batch_sizes[batch]))

    return StepTimer


def padding_fraction(dataset):
    """Fraction of the token positions that are padding over one pass of a training
    dataset of (features, ...) batches."""
    real = total = 0
    for batch in dataset:
        mask = batch[0]["input_mask"].numpy()
        real += int(mask.sum())
        total += mask.size
    return 1 - real / total


class PositionCounter:
    """Counts real and padded token positions of the batches a torch loop trains on."""

    def __init__(self):
        self.real = self.total = 0

    def add(self, attention_mask):
        self.real += int(attention_mask.sum())
        self.total += attention_mask.numel()

    def padding_fraction(self):
        return 1 - self.real / self.total


def fit_bert_tf(args, make_task, train_examples):
    """Child: fine-tunes from all-MiniLM-L6-v2 as the engine's bert_tf variant says.

    Args:
        make_task: `make_task(tokenizer, pad_to_max_length) -> Task`.
        train_examples: the task's training examples.
    Returns:
        (task, model, {"padding", "train_seconds", "train_seq_per_sec", ...}).
    """
    import keras

    from bert_tf import corpora, pretrained
    from bert_tf.train import optimization, trainer
    from bert_tf.train.flags import set_mixed_precision
    from bert_tf.train.strategy import make_strategy

    variant = BERT_TF_VARIANTS[args.engine]
    keras.utils.set_random_seed(args.seed)
    set_mixed_precision(variant.get("mixed_precision", "none"))
    path = corpora.minilm_path()
    task = make_task(pretrained.load_tokenizer(path),
                     pad_to_max_length=variant.get("pad_to_max_length", False))

    def dataset():
        return task.make_dataset(train_examples, args.train_batch_size, training=True,
                                 seed=args.seed,
                                 bucket_by_length=variant.get("bucket_by_length", True))

    # A pipeline of its own: the training one fills its cache inside the timed run.
    padding = padding_fraction(dataset())
    _, total, warmup = num_steps(args, len(train_examples))
    strategy = make_strategy("default")
    with strategy.scope():
        model = task.build_model(pretrained.load_encoder(path))
    optimizer = optimization.make_optimizer("adamw", args.learning_rate, total, warmup,
                                            weight_decay=args.weight_decay)
    # With bucketing the one short batch of an epoch may come anywhere, not last: the
    # steady seq/s (which skips the first steps) may count it a few rows off.
    timer = keras_step_timer()(batch_sizes(len(train_examples), args.train_batch_size))
    with tempfile.TemporaryDirectory(prefix="bench_finetune_") as model_dir:
        trainer.train(model, dataset(), strategy=strategy, model_dir=model_dir,
                      epochs=args.num_train_epochs, compile_args=task.compile_args(optimizer),
                      keep_checkpoints=0, log_every_n_steps=10 ** 9, extra_callbacks=[timer])
    return task, model, {"padding": padding, **throughput(timer.steps, args.skip_steps)}


def batch_sizes(num_examples, batch_size):
    """Sizes of one epoch's batches (the last may be smaller)."""
    full, rest = divmod(num_examples, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def throughput(steps, skip_steps):
    """{train_seconds, train_seq_per_sec, steady_seq_per_sec} from (time, size) steps
    whose first entry is the start time."""
    times = [t for t, _ in steps]
    sizes = [n for _, n in steps]
    result = {"train_seconds": times[-1] - times[0],
              "train_seq_per_sec": sum(sizes) / (times[-1] - times[0])}
    if len(steps) > skip_steps + 2:
        result["steady_seq_per_sec"] = (sum(sizes[skip_steps + 1:])
                                        / (times[-1] - times[skip_steps]))
    return result


def report(title, args, metric_name, data_note):
    """Parent: header, one child per engine, table and ratios."""
    settings = {key: getattr(args, key) for key in RECIPE_KEYS}
    settings.update(max_train_examples=args.max_train_examples,
                    max_test_examples=args.max_test_examples, threads=args.threads,
                    seed=args.seed)
    print(common.header(title, PACKAGES, settings))
    print(data_note)
    env = common.thread_env(args.threads)
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    rows = []
    for engine in args.engine_list:
        print(f"training {engine} ...", flush=True)
        rows.append(common.run_child(
            [sys.executable, os.path.abspath(sys.argv[0]), f"--engine={engine}",
             *sys.argv[1:]], env=env, name=engine))
    print()
    print(common.format_table(rows, [
        ("engine", "engine", "{}"),
        (metric_name, f"test {metric_name}", "{:.4f}"),
        ("train_seconds", "train s", "{:.1f}"),
        ("train_seq_per_sec", "train seq/s", "{:.2f}"),
        ("steady_seq_per_sec", "steady seq/s", "{:.2f}"),
        ("padding", "padding", "{:.1%}"),
        ("eval_seconds", "test s", "{:.1f}"),
        ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
    ]))
    print(common.load_after_run_line())
    by_engine = {row["engine"]: row for row in rows}
    if "bert_tf" in by_engine:
        compare_variants(by_engine, metric_name)
    if {"bert_tf", "transformers"} <= set(by_engine):
        ours, peer = by_engine["bert_tf"], by_engine["transformers"]
        print("\nbert_tf / transformers:")
        for key in ("train_seq_per_sec", "steady_seq_per_sec"):
            if ours.get(key) and peer.get(key):
                print(f"  {key:<20} {ours[key] / peer[key]:.2f}x")
        print(f"  test {metric_name:<15} {ours[metric_name]:.4f} vs {peer[metric_name]:.4f} "
              f"({ours[metric_name] - peer[metric_name]:+.4f})")
    return 0


def compare_variants(by_engine, metric_name):
    """Prints bert_tf (bucketed, float32) against its other variants in the run."""
    ours = by_engine["bert_tf"]
    for name, what in (("bert_tf_fixed", "fixed padding (pad_to_max_length)"),
                       ("bert_tf_unbucketed", "random batches padded to their longest")):
        if name in by_engine:
            other = by_engine[name]
            print(f"\nbert_tf length bucketing vs {what}:")
            for key in ("train_seq_per_sec", "steady_seq_per_sec"):
                if ours.get(key) and other.get(key):
                    print(f"  {key:<20} {ours[key] / other[key]:.2f}x")
            print(f"  padding             {other['padding']:.1%} -> {ours['padding']:.1%} of "
                  f"the token positions ({other['padding'] - ours['padding']:.1%} saved; "
                  f"{(1 - ours['padding']) / (1 - other['padding']):.2f}x fewer positions)")
            print(f"  test {metric_name:<15} {ours[metric_name]:.4f} vs "
                  f"{other[metric_name]:.4f}")
    if "bert_tf_bf16" in by_engine:
        bf16 = by_engine["bert_tf_bf16"]
        difference = 100 * (bf16[metric_name] - ours[metric_name])
        print(f"\nbert_tf mixed_bfloat16 vs float32: test {metric_name} "
              f"{bf16[metric_name]:.4f} vs {ours[metric_name]:.4f} ({difference:+.2f} points; "
              f"target within 0.3: {'met' if abs(difference) <= 0.3 else 'NOT met'}); "
              f"train seq/s {bf16['train_seq_per_sec'] / ours['train_seq_per_sec']:.2f}x")


# --- Rotten Tomatoes -----------------------------------------------------------------------
LABELS = ["fresh", "rotten"]


def _data(args):
    from bert_tf import corpora
    train = corpora.rotten_tomatoes("train")
    test = corpora.rotten_tomatoes("test")
    return (train[:args.max_train_examples] if args.max_train_examples else train,
            test[:args.max_test_examples] if args.max_test_examples else test)


def run_bert_tf(args):
    common.set_threads(args.threads, tf=True)
    from sklearn.metrics import accuracy_score

    from bert_tf.tasks.classification import ClassificationTask, TextExample

    train, test = _data(args)

    def make_task(tokenizer, pad_to_max_length):
        return ClassificationTask(tokenizer, args.max_seq_length,
                                  pad_to_max_length=pad_to_max_length, labels=LABELS)

    task, model, stats = fit_bert_tf(
        args, make_task, [TextExample(text, label=label) for text, label in train])
    start = time.perf_counter()
    predictions = task.predict(model, [TextExample(text) for text, _ in test],
                               args.eval_batch_size)
    eval_seconds = time.perf_counter() - start
    accuracy = accuracy_score([label for _, label in test], [p["label"] for p in predictions])
    common.emit_result({"engine": args.engine, "accuracy": accuracy,
                        "eval_seconds": eval_seconds, **stats, **common.memory_report()})


def run_transformers(args):
    common.set_threads(args.threads, torch=True)
    import torch
    import transformers
    from sklearn.metrics import accuracy_score

    from bert_tf import corpora

    torch.manual_seed(args.seed)
    train, test = _data(args)
    path = corpora.minilm_path()
    tokenizer = transformers.BertTokenizer(os.path.join(path, "vocab.txt"), do_lower_case=True)
    model = transformers.BertForSequenceClassification.from_pretrained(
        path, num_labels=len(LABELS), dtype=torch.float32)

    def encode(texts):
        return tokenizer(texts, truncation=True, max_length=args.max_seq_length)

    train_encoded = encode([text for text, _ in train])  # tokenized once, like bert_tf
    train_labels = np.array([LABELS.index(label) for _, label in train])
    rng = np.random.default_rng(args.seed)
    padding_counter = PositionCounter()

    def batches():
        order = rng.permutation(len(train))
        for start in range(0, len(order), args.train_batch_size):
            rows = order[start:start + args.train_batch_size]
            inputs = tokenizer.pad({k: [v[i] for i in rows] for k, v in train_encoded.items()},
                                   return_tensors="pt")
            padding_counter.add(inputs["attention_mask"])
            yield dict(inputs), torch.from_numpy(train_labels[rows])

    steps = torch_train(model, batches, args, len(train))
    start = time.perf_counter()
    predicted = []
    with torch.inference_mode():
        for begin in range(0, len(test), args.eval_batch_size):
            texts = [text for text, _ in test[begin:begin + args.eval_batch_size]]
            inputs = tokenizer(texts, truncation=True, max_length=args.max_seq_length,
                               padding="longest", return_tensors="pt")
            predicted += model(**inputs).logits.argmax(-1).tolist()
    eval_seconds = time.perf_counter() - start
    accuracy = accuracy_score([label for _, label in test], [LABELS[i] for i in predicted])
    common.emit_result({"engine": "transformers", "accuracy": accuracy,
                        "eval_seconds": eval_seconds, "padding": padding_counter.padding_fraction(),
                        **throughput(steps, args.skip_steps), **common.memory_report()})


def main(args):
    train, test = _data(args)
    return report("Rotten Tomatoes fine-tuning from all-MiniLM-L6-v2 (CPU)", args, "accuracy",
                  f"data    : {len(train)} training / {len(test)} test snippets "
                  "(bert_tf.corpora.rotten_tomatoes), labels fresh/rotten")


def run_engine(args):
    (run_transformers if args.engine == "transformers" else run_bert_tf)(args)


if __name__ == "__main__":
    common.dispatch(parse_args(__doc__.split("\n\n")[0], "rotten_tomatoes.json", default_max_train=1000), run_engine, main)
