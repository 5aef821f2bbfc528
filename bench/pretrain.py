"""Pretraining throughput (sequences/s) and learning of bert_tf's pretraining loop on real
text — Jane Austen's six novels — against keras-hub's `BertMaskedLM` on the same data,
batch and steps, in one run; plus bert_tf in bfloat16 vs float32, with vs without XLA, and
fed by the real tf.data pipeline vs a constant in-memory batch; peak memory per engine
against a budget (8 GiB: pretraining BERT-base at batch 32, seq 128 must fit on CPU).

    apt-get install -y r-cran-janeaustenr && pip install rdata    # the text, and its reader
    python -m bench.pretrain --config mini --batch_size 32 --train_steps 100 --reps 5
    # BERT-base: peak memory vs 8 GiB and the input-pipeline ratio, in a few steps
    python -m bench.pretrain --config base --engines bert_tf,bert_tf_synthetic \
        --train_steps 2 --steps_per_rep 1 --eval_batches 1

The `prepare` child writes the novels (Debian's r-cran-janeaustenr, read with `rdata`) in
Google's pretraining format and makes records with `bert_tf.data.create_pretraining_data`
and MiniLM's uncased vocab: five novels for training, "Persuasion" held out. Each
engine's child builds the `--config` model from scratch (same seed), trains it on the
same record stream with AdamW (BERT's schedule) for `--train_steps` steps (the first
traces / compiles), scores its masked LM on held-out batches (`eval loss` / `eval acc`,
token-weighted; `learn s`: those steps' wall time), then serves timed groups of
`--steps_per_rep` steps after one untimed group.

Engines: `gemm[_bf16]` (bench/compute.py); `bert_tf[_bf16][_jit]`, the library's
`PretrainingTrainer` (MLM + NSP), float32 or mixed_bfloat16, with or without XLA;
`..._synthetic`, the same fed the real pipeline's first batch again and again
(`Dataset.from_tensors(batch).repeat()`): real / synthetic says whether the input
pipeline slows training (target >= 0.95); `keras_hub[_jit]`, `BertMaskedLM`
`train_on_batch`, float32, no NSP head (a little less work).

`GFLOP/s`, `%GEMM`, `MFU`: bench/compute.py (FLOPs: the Transformer layers at the padded
length + the masked-LM head at `--max_predictions_per_seq` positions); `--profile_steps`
profiles the bert_tf engines there too.
"""
import gzip
import os
import re
import time
import zlib

import numpy as np

from bench import compute, harness, machine, peers

ENGINES = ("gemm", "gemm_bf16", "bert_tf", "bert_tf_jit", "bert_tf_bf16", "bert_tf_bf16_jit",
           "keras_hub", "keras_hub_jit", "bert_tf_synthetic", "bert_tf_jit_synthetic",
           "bert_tf_bf16_jit_synthetic")
DEFAULT_ENGINES = ("gemm", "bert_tf", "bert_tf_jit", "bert_tf_bf16", "bert_tf_bf16_jit",
                   "keras_hub", "keras_hub_jit", "bert_tf_synthetic")
SYNTHETIC = "_synthetic"
PIPELINE_RATIO_TARGET = 0.95
PACKAGES = ("tensorflow", "tensorflow-text", "keras", "keras-hub", "numpy", "rdata")
JANEAUSTENR_DATA = "/usr/lib/R/site-library/janeaustenr/data"
TRAIN_NOVELS = ("emma", "mansfieldpark", "northangerabbey", "prideprejudice",
                "sensesensibility")
EVAL_NOVEL = "persuasion"
SEED = 0


def parse_args(argv=None):
    p = harness.parser(__doc__, ENGINES, DEFAULT_ENGINES, workdir=True, reps=5,
                       batch_size=32)
    p.add_argument("--config", default="mini", help="BERT preset trained from scratch")
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--max_predictions_per_seq", type=int, default=20)
    p.add_argument("--train_steps", type=int, default=100,
                   help="steps trained before scoring the masked LM")
    p.add_argument("--steps_per_rep", type=int, default=10, help="train steps per timing")
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--profile_steps", type=int, default=0,
                   help="trace this many steps of each bert_tf engine with TF's profiler "
                        "(before timing) and print its top ops")
    p.add_argument("--eval_batches", type=int, default=8,
                   help="held-out batches the masked LM is scored on")
    p.add_argument("--malloc_arena_max", type=int, default=2,
                   help="glibc malloc arenas in every child, as bert-pretrain's flag of the "
                        "same name sets them (0: glibc's default)")
    p.add_argument("--memory_budget_gib", type=float, default=8.0,
                   help="peak RSS budget per engine, printed as PASS/FAIL")
    compute.add_device_args(p, gemm_repeats=2)
    return harness.parse(p, argv, minimum={"reps": 5}, positive=(
        "seq_length", "max_predictions_per_seq", "train_steps", "steps_per_rep",
        "eval_batches", "gemm_repeats"))


# --- the text (the `prepare` child) ----------------------------------------------------------
def read_novels():
    """{novel: list of text lines} from r-cran-janeaustenr's lazy-load database.

    R keeps a package's data sets in `Rdata.rdx` (a gzipped R object: name -> offset and
    length) and `Rdata.rdb` (per data set: a 4-byte length, then zlib-compressed R
    serialization); `rdata` parses the R serialization.
    """
    index_path = os.path.join(JANEAUSTENR_DATA, "Rdata.rdx")
    if not os.path.isfile(index_path):
        raise SystemExit(
            f"Jane Austen's novels are not installed ({index_path} is missing). Install the "
            "Debian package: apt-get update && apt-get install -y r-cran-janeaustenr")
    try:
        import rdata
    except ImportError:
        raise SystemExit("The Python package `rdata` reads the novels' R data files; "
                         "install it: pip install rdata") from None

    def parse(raw):
        return rdata.conversion.convert(rdata.parser.parse_data(raw))

    import warnings
    with warnings.catch_warnings():  # rdata warns that a bare serialization has no header
        warnings.simplefilter("ignore", UserWarning)
        with open(index_path, "rb") as f:
            index = parse(gzip.decompress(f.read()))
        with open(os.path.join(JANEAUSTENR_DATA, "Rdata.rdb"), "rb") as f:
            database = f.read()
        novels = {}
        for name, (offset, length) in index["variables"].items():
            chunk = database[int(offset):int(offset) + int(length)]
            novels[str(name)] = [str(line) for line in parse(zlib.decompress(chunk[4:]))]
    missing = sorted(set(TRAIN_NOVELS + (EVAL_NOVEL,)) - set(novels))
    if missing:
        raise SystemExit(f"r-cran-janeaustenr lacks the novels {missing}; found {sorted(novels)}")
    return novels


_CHAPTER = re.compile(r"^\s*chapter\s+([ivxlc]+|\d+)\b", re.IGNORECASE)


def novel_to_documents(lines):
    """Chapters as documents, each a list of sentences. Text before the first chapter
    heading (title page) and headings themselves are dropped."""
    from bert_tf.text.sentences import split_sentences
    chapters, paragraph, chapter = [], [], None

    def end_paragraph():
        text = " ".join(paragraph)
        if chapter is not None and re.search("[a-z]", text):  # skips "THE END", "VOLUME I"
            chapter.extend(split_sentences(text))
        paragraph.clear()

    for line in lines:
        if _CHAPTER.match(line):
            end_paragraph()
            chapter = []
            chapters.append(chapter)
        elif line.strip():
            paragraph.append(line.strip())
        else:
            end_paragraph()
    end_paragraph()
    return [c for c in chapters if c]


def prepare(args):
    """Writes the novels as text and makes the training and held-out records."""
    from bert_tf.data import corpora
    from bert_tf.data import PretrainingDataOptions, create_pretraining_data
    from bert_tf.data.documents import write_documents

    machine.set_threads(args.threads, tf=True)
    novels = read_novels()
    text_dir = os.path.join(args.workdir, "text")
    os.makedirs(text_dir)
    sentences = 0
    for name in TRAIN_NOVELS + (EVAL_NOVEL,):
        documents = novel_to_documents(novels[name])
        sentences += sum(len(d) for d in documents)
        write_documents(os.path.join(text_dir, f"{name}.txt"), documents)
    vocab_file = os.path.join(corpora.minilm_path(), "vocab.txt")
    options = PretrainingDataOptions(max_seq_length=args.seq_length,
                                     max_predictions_per_seq=args.max_predictions_per_seq,
                                     dupe_factor=1, seed=SEED)
    train = create_pretraining_data(
        [os.path.join(text_dir, f"{name}.txt") for name in TRAIN_NOVELS],
        os.path.join(args.workdir, "train"), vocab_file, options,
        num_workers=min(args.threads, len(TRAIN_NOVELS)))
    held_out = create_pretraining_data(os.path.join(text_dir, f"{EVAL_NOVEL}.txt"),
                                       os.path.join(args.workdir, "eval"), vocab_file, options)
    harness.emit_result({"engine": "prepare", "sentences": sentences,
                        "train_tokens": train["totals"]["tokens"],
                        "train_instances": train["totals"]["instances"],
                        "eval_instances": held_out["totals"]["instances"]})


# --- one engine per child ----------------------------------------------------------------
def _datasets(args):
    from bert_tf.data import pretraining_dataset

    def records(split, **kwargs):
        return pretraining_dataset(os.path.join(args.workdir, split, "*.tfrecord"),
                                   args.batch_size, args.seq_length,
                                   args.max_predictions_per_seq, seed=SEED, **kwargs)

    eval_batches = list(records("eval", shuffle=False, repeat=False).take(args.eval_batches))
    return records("train"), eval_batches


def _masked_lm_scores(mlm_logits_fn, batches):
    """Token-weighted masked-LM cross-entropy and accuracy over `batches`."""
    loss_sum = correct = weight = 0.0
    for batch in batches:
        logits = np.asarray(mlm_logits_fn(batch), np.float64)            # [B, P, V]
        labels, weights = batch["masked_lm_ids"].numpy(), batch["masked_lm_weights"].numpy()
        logits -= logits.max(-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        loss_sum += -(np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
                      * weights).sum()
        correct += ((logits.argmax(-1) == labels) * weights).sum()
        weight += weights.sum()
    return float(loss_sum / weight), float(correct / weight)


def _optimizer(args):
    from bert_tf.train.optimization import make_optimizer
    # The schedule spans the learning phase and the timed steps.
    total_steps = args.train_steps + (args.reps + 1) * args.steps_per_rep
    return make_optimizer("adamw", args.learning_rate, total_steps,
                          num_warmup_steps=args.train_steps // 10)


def _bert_tf_engine(args, config, jit, dtype):
    """(train_steps(iterator, n), mlm_logits(batch), detail) for bert_tf."""
    import tensorflow as tf
    from bert_tf.model.encoder import BertEncoder
    from bert_tf.model.pretraining import BertPretrainingModel
    from bert_tf.train.pretrain_loop import MODEL_INPUTS, PretrainingTrainer

    model = BertPretrainingModel(BertEncoder.from_bert_config(config, dtype=dtype))
    trainer = PretrainingTrainer(model, _optimizer(args), tf.distribute.get_strategy(),
                                 args.batch_size, jit_compile=jit)

    def train_steps(iterator, n):
        for _ in range(n):
            stats = trainer.train_update(iterator)
        float(stats["sequences"])  # waits for the last step

    def mlm_logits(batch):
        return model({k: batch[k] for k in MODEL_INPUTS}, training=False)["mlm_logits"]

    return train_steps, mlm_logits, f"custom loop, MLM+NSP, {dtype or 'float32'}"


def _as_keras_hub(features):
    """Our features as keras-hub's (x, y, sample_weight)."""
    return ({**peers.keras_hub_features(features),
             "mask_positions": features["masked_lm_positions"]},
            features["masked_lm_ids"], features["masked_lm_weights"])


def _keras_hub_engine(args, config, jit):
    """(train_steps(iterator, n), mlm_logits(batch), detail) for keras-hub."""
    import keras_hub

    backbone = peers.keras_hub_backbone(config)
    model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    model.compile(optimizer=_optimizer(args), jit_compile=jit)  # loss: from-logits CE

    def train_steps(iterator, n):
        for _ in range(n):  # train_on_batch returns numpy: each step has finished
            model.train_on_batch(*_as_keras_hub(next(iterator)))

    def mlm_logits(batch):
        return model(_as_keras_hub(batch)[0], training=False)

    return train_steps, mlm_logits, "train_on_batch, MLM only, float32"


def run_engine(args):
    """Child: train one engine for --train_steps, score it on the held-out batches, then
    serve timed groups of --steps_per_rep steps to the parent."""
    from bert_tf.train.memory import limit_malloc_arenas
    limit_malloc_arenas(args.malloc_arena_max)  # as bert-pretrain does, before TF's threads
    machine.set_threads(args.threads, tf=True)
    import keras
    from bert_tf.model.config import BertConfig

    keras.utils.set_random_seed(SEED)
    config = BertConfig.from_preset(args.config)
    if args.engine in compute.GEMM_ENGINES:
        return compute.serve_gemm(args, config, 1, SEED)
    train_dataset, eval_batches = _datasets(args)
    synthetic = args.engine.endswith(SYNTHETIC)
    jit = args.engine.removesuffix(SYNTHETIC).endswith("_jit")
    if args.engine.startswith("bert_tf"):
        dtype = "mixed_bfloat16" if "_bf16" in args.engine else None
        train_steps, mlm_logits, detail = _bert_tf_engine(args, config, jit, dtype)
    else:
        train_steps, mlm_logits, detail = _keras_hub_engine(args, config, jit)
    iterator = iter(train_dataset)
    harness.reset_peak_rss()
    start = time.perf_counter()
    train_steps(iterator, args.train_steps)  # traces / compiles in its first step
    learning_seconds = time.perf_counter() - start
    eval_loss, eval_accuracy = _masked_lm_scores(mlm_logits, eval_batches)
    if synthetic:  # one real batch, held in memory and fed again and again
        import tensorflow as tf
        iterator = iter(tf.data.Dataset.from_tensors(next(iterator)).repeat())
        detail += ", constant in-memory batch"
    else:
        detail += ", tf.data over TFRecords"
    train_steps(iterator, args.steps_per_rep)  # warm-up of the timed group
    harness.serve_reps(lambda: train_steps(iterator, args.steps_per_rep), {
        "detail": f"{detail}, XLA {'on' if jit else 'off'}", "eval_mlm_loss": eval_loss,
        "eval_mlm_accuracy": eval_accuracy, "learning_seconds": learning_seconds,
        "profile": compute.profile_if_asked(args, lambda: train_steps(iterator, 1)),
        "num_layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size, "vocab_size": config.vocab_size})


# --- parent --------------------------------------------------------------------------------
def main(args):
    env, device_name = harness.start(f"bert_tf pretraining vs keras-hub BertMaskedLM "
                                     f"({args.device.upper()})", PACKAGES, args)
    with harness.workdir(None, "pretrain") as workdir:
        def argv(engine):
            return harness.child_argv("pretrain", args, engine, f"--workdir={workdir}")

        info = harness.run_child(argv("prepare"), env=env, name="prepare")
        print(f"data    : Jane Austen, {info['sentences']} sentences; train "
              f"{len(TRAIN_NOVELS)} novels, {info['train_tokens']} tokens -> "
              f"{info['train_instances']} sequences; held out '{EVAL_NOVEL}', "
              f"{info['eval_instances']} sequences (scored on {args.eval_batches} batches)")
        rows = harness.interleave(argv, args.engine_list, args.reps,
                                  args.steps_per_rep * args.batch_size, env, verb="training")

    first = next(row for row in rows if row["engine"] not in compute.GEMM_ENGINES)
    per_step = compute.TRAIN_FLOPS_FACTOR * (
        compute.encoder_forward_flops(first["num_layers"], first["hidden_size"],
                                      first["intermediate_size"],
                                      [args.seq_length] * args.batch_size)
        + compute.mlm_head_flops(first["hidden_size"], first["vocab_size"],
                                 args.batch_size * args.max_predictions_per_seq))
    gemm_peak, peak_note = compute.add_flops(
        rows, per_step * args.steps_per_rep, args, device_name,
        lambda row: "bf16" if "_bf16" in row["engine"] else "tf32")
    columns = [("engine", "engine", "{}"), *harness.rate_columns("seq", "{:.2f}"),
               ("gflops", "GFLOP/s", "{:.1f}"), ("gemm_fraction", "%GEMM", "{:.1%}"),
               ("eval_mlm_loss", "eval loss", "{:.3f}"),
               ("eval_mlm_accuracy", "eval acc", "{:.3f}"),
               ("learning_seconds", "learn s", "{:.0f}"), *harness.MEMORY_COLUMNS,
               ("detail", "how", "{}")]
    print(f"\nFLOPs per train step: 3 x (Transformer layers at length {args.seq_length} + "
          f"MLM head at {args.max_predictions_per_seq} positions) x {args.batch_size} "
          f"sequences = {per_step / 1e9:.1f} GFLOP")
    compute.print_table(rows, columns, peak_note, "gemm_fraction")
    compute.print_gemm_fractions(
        gemm_peak, [row for row in rows if row["engine"] in ("bert_tf", "bert_tf_jit")],
        compute.TRAIN_GEMM_FRACTION_TARGET)
    compute.print_profiles(rows, args.profile_steps)
    harness.print_ratios("\nratios of median throughput:", rows, [
        ("bert_tf", "keras_hub", "bert_tf vs keras-hub, no XLA (target >= 1.0x)"),
        ("bert_tf_jit", "keras_hub_jit", "bert_tf vs keras-hub, XLA (target >= 1.0x)"),
        ("bert_tf_bf16", "bert_tf", "bfloat16 vs float32"),
        ("bert_tf_bf16_jit", "bert_tf_jit", "bfloat16 vs float32, XLA"),
        ("bert_tf_jit", "bert_tf", "XLA vs none, float32"),
        ("bert_tf_bf16_jit", "bert_tf_bf16", "XLA vs none, bfloat16")], width=17)
    harness.print_ratios(
        f"\ninput pipeline: real tf.data / constant in-memory batch, median throughput "
        f"(target >= {PIPELINE_RATIO_TARGET}):", rows,
        [(real, real + SYNTHETIC) for real in ("bert_tf", "bert_tf_jit", "bert_tf_bf16_jit")],
        target=PIPELINE_RATIO_TARGET, width=17)
    target = (args.config, args.batch_size, args.seq_length) == ("base", 32, 128)
    print(f"\npeak memory (whole-process peak RSS) vs the {args.memory_budget_gib:g} GiB budget"
          + ("" if target else " (the target is for --config base --batch_size 32 "
                               "--seq_length 128; this run is smaller)") + ":")
    for row in rows:
        print(f"  {row['engine']:<27} {row['peak_rss_mib'] / 1024:.2f} GiB  "
              f"{harness.memory_verdict(row['peak_rss_mib'], args.memory_budget_gib)}")
    return 0


if __name__ == "__main__":
    harness.dispatch(parse_args(), run_engine, main, prepare)
