"""Extractive QA benchmark on the hand-written SQuAD-format files (no SQuAD offline):
fine-tunes the real all-MiniLM-L6-v2 weights on `tests/data/squad/train-v*.json` and
reports the official EM/F1 on `dev-v*.json`, for SQuAD v1.1 and v2.0, with training and
prediction throughput.

    . .venv/bin/activate
    python bench/squad.py                      # both versions, ~10 min on 2 cores
    python bench/squad.py --versions v1.1 --num_train_epochs 2

What it proves: the whole QA path on real weights — reading, windows over long contexts
(the dev set's 400-word paragraph needs several at --max_seq_length 192), training,
n-best span selection, the v2.0 null threshold and the official scoring — not SQuAD-level
accuracy: 72 (v1.1) or 96 (v2.0) training questions are ~1/1000 of SQuAD's, and MiniLM
here is a sentence-embedding model, not one pretrained for QA.

Columns: `windows` counts the packed sequences of the training set (a question whose
context is longer than the window gets several); `train seq/s` is windows per second
over all epochs (tracing included); `predict q/s` is dev questions per second through
`task.predict`; EM/F1 from `metrics.squad_metrics` (the official scripts), v2.0 also the
answerable / unanswerable splits and the F1 at the best null threshold found on dev.
"""
import argparse
import os
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as a script: make `bench` and `bert_tf` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import common  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data", "squad")
PACKAGES = ("tensorflow", "keras", "tensorflow-text", "tf-models-official", "numpy")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--versions", default="v1.1,v2.0", help="comma-separated: v1.1, v2.0")
    p.add_argument("--max_seq_length", type=int, default=192)
    p.add_argument("--doc_stride", type=int, default=64)
    p.add_argument("--max_query_length", type=int, default=48)
    p.add_argument("--num_train_epochs", type=int, default=6)
    p.add_argument("--train_batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--warmup_proportion", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=common.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.version_list = [v.strip() for v in args.versions.split(",") if v.strip()]
    unknown = set(args.version_list) - {"v1.1", "v2.0"}
    if unknown or not args.version_list:
        p.error(f"--versions must name v1.1 and/or v2.0, got {args.versions!r}")
    return args


def run_version(args, version):
    """Fine-tunes and scores one SQuAD version; returns a result row."""
    import keras
    import tensorflow as tf

    from bert_tf import corpora, pretrained
    from bert_tf.tasks.squad import SquadTask
    from bert_tf.train import optimization, trainer
    from bert_tf.train.strategy import make_strategy

    keras.utils.set_random_seed(args.seed)
    path = corpora.minilm_path()
    task = SquadTask(pretrained.load_tokenizer(path), args.max_seq_length,
                     doc_stride=args.doc_stride, max_query_length=args.max_query_length,
                     version_2_with_negative=version == "v2.0")
    train = task.read_examples(os.path.join(DATA, f"train-{version}.json"))
    dev = task.read_examples(os.path.join(DATA, f"dev-{version}.json"))
    dataset = task.make_dataset(train, args.train_batch_size, training=True, seed=args.seed)
    windows = sum(int(tf.shape(features["input_word_ids"])[0]) for features, _ in dataset)
    steps = len(dataset) * args.num_train_epochs
    strategy = make_strategy("default")
    with strategy.scope():
        model = task.build_model(pretrained.load_encoder(path))
    optimizer = optimization.make_optimizer("adamw", args.learning_rate, steps,
                                            int(args.warmup_proportion * steps))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_squad_") as model_dir:
        trainer.train(model, dataset, strategy=strategy, model_dir=model_dir,
                      epochs=args.num_train_epochs, compile_args=task.compile_args(optimizer),
                      keep_checkpoints=0, log_every_n_steps=10 ** 9)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions = task.predict(model, dev)
    predict_seconds = time.perf_counter() - start
    scores = task.evaluate_predictions(dev, predictions)
    return {"version": version, "train q": len(train), "windows": windows,
            "dev q": len(dev),
            "train seq/s": windows * args.num_train_epochs / train_seconds,
            "predict q/s": len(dev) / predict_seconds, **scores}


def main(argv=None):
    args = parse_args(argv)
    common.set_threads(args.threads, tf=True)
    settings = {k: getattr(args, k) for k in (
        "max_seq_length", "doc_stride", "max_query_length", "num_train_epochs",
        "train_batch_size", "learning_rate", "threads", "seed")}
    print(common.header("SQuAD-format QA: all-MiniLM-L6-v2 fine-tuned on hand-written files",
                        PACKAGES, settings), flush=True)
    rows = [run_version(args, version) for version in args.version_list]
    columns = [(key, key, fmt) for key, fmt in (
        ("version", "{}"), ("train q", "{}"), ("windows", "{}"), ("dev q", "{}"),
        ("train seq/s", "{:.1f}"), ("predict q/s", "{:.1f}"), ("exact_match", "{:.1f}"),
        ("f1", "{:.1f}"), ("HasAns_f1", "{:.1f}"), ("NoAns_f1", "{:.1f}"),
        ("best_f1", "{:.1f}"), ("best_f1_thresh", "{:.2f}"))]
    print(common.format_table(rows, columns))
    print(f"peak RSS {common.peak_rss_mib():.0f} MiB; load average {common.load_average()}")


if __name__ == "__main__":
    main()
