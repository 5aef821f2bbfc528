"""Fine-tuning benchmark (CPU): `TaskModel.from_pretrained(all-MiniLM-L6-v2)`, `.fit`,
`.predict` on a classification, NER or QA task, against transformers trained with the
same recipe in the same run: the test metric and training throughput.

    python -m bench.finetune --task=classification --max_train_examples 1000
    python -m bench.finetune --task=classification --engines bert_tf,bert_tf_bf16
    python -m bench.finetune --task=classification \
        --engines bert_tf,bert_tf_lora,transformers,peft --lora_rank 8
    python -m bench.finetune --task=ner --max_train_examples 1000
    python -m bench.finetune --task=qa              # both SQuAD versions, ~10 min on 2 cores
    python -m bench.finetune --task=qa --versions v1.1 --epochs 2
    python -m bench.finetune --task=classification --seeds 5 --datasets rt,rt_3to1 --epochs 3

Tasks (`TASKS`; the recipe: the task's configs/finetune file, each setting overridden by
its flag): `classification`, Rotten Tomatoes, test accuracy; `ner`, CoNLL-2003 in IOB2,
test entity F1 (conlleval); `qa`, the hand-written SQuAD-format files in tests/data/squad
(72 / 96 training questions for v1.1 / v2.0), official EM/F1: it proves the QA path on
real weights, not SQuAD-level accuracy, and has no transformers peer. Every engine:
AdamW (epsilon 1e-6, no weight decay on biases and LayerNorm), linear warmup then decay,
gradient norm clipped to 1.0, dropout 0.1, batches padded to their longest, reshuffled
each epoch, tokenized once up front; a word's label sits on its first piece.

Engines, one child each: the `BERT_TF_VARIANTS` of `TaskModel...fit` (length-bucketed
batches) and `transformers` (`peers.transformers_finetune`). LoRA (`bert_tf_lora`: `fit`'s
`lora_rank`; `peft`: HF PEFT's LoraConfig on the transformers engine, same weights, data
and recipe): --lora_rank, --lora_alpha and --lora_targets alike, no adapter dropout, the
pooler and head trained fully, at --lora_learning_rate (LoRA's few parameters want a
higher one than full fine-tuning's). `trainable`: parameters the optimizer updates.
`padding`: the share of padded token positions in the training batches; `train seq/s`:
every training sequence (qa: window) over the whole training time (compilation, and for
classification bert_tf's per-epoch validation and test scoring, included); `steady seq/s` leaves
out the first --skip_steps steps; `test s`: prediction time (qa: `predict q/s`).
`--seeds N` runs every engine with seeds --seed .. --seed+N-1 on each of `--datasets`
and prints mean ± std per engine and bert_tf's epoch-selection rules (bench/stability.py).
"""
import argparse
import json
import os
import time

from bench import finetune_report, harness, machine, peers, stability

ENGINES = ("bert_tf", "bert_tf_bf16", "bert_tf_unbucketed", "bert_tf_fixed", "bert_tf_lora",
           "transformers", "peft")
TRANSFORMERS_ENGINES = ("transformers", "peft")
# What each bert_tf engine changes: the TrainingConfig's bucket_by_length and
# mixed_precision, the task's pad_to_max_length, LoRA (the --lora_* flags).
BERT_TF_VARIANTS = {
    "bert_tf": {},
    "bert_tf_bf16": {"mixed_precision": "bfloat16"},
    "bert_tf_unbucketed": {"bucket_by_length": False},
    "bert_tf_fixed": {"pad_to_max_length": True},
    "bert_tf_lora": {"lora": True},
}
PACKAGES = ("tensorflow", "keras", "tensorflow-text", "torch", "transformers", "peft", "numpy")
CONFIGS = os.path.join(machine.REPO_ROOT, "configs", "finetune")
SQUAD_DATA = os.path.join(machine.REPO_ROOT, "tests", "data", "squad")
RECIPE_KEYS = ("learning_rate", "warmup_proportion", "weight_decay", "batch_size", "epochs",
               "max_seq_length")
QA_KEYS = ("doc_stride", "max_query_length")
QA_VERSIONS = ("v1.1", "v2.0")
RT_LABELS = ["fresh", "rotten"]
TASKS = {
    "classification": {
        "title": "Rotten Tomatoes fine-tuning from all-MiniLM-L6-v2 (CPU)",
        "config": "rotten_tomatoes.json", "max_train_examples": 1000,
        "engines": ("bert_tf", "transformers"), "metric": "accuracy",
        "metric_format": "{:.4f}", "points": 100, "data": "{} training / {} test snippets "
        "(bert_tf.data.corpora.rotten_tomatoes), labels fresh/rotten"},
    "ner": {
        "title": "CoNLL-2003 NER fine-tuning from all-MiniLM-L6-v2 (CPU)",
        "config": "conll2003.json", "max_train_examples": 1000,
        "engines": ("bert_tf", "bert_tf_fixed", "transformers"), "metric": "f1",
        "metric_format": "{:.4f}", "points": 100, "data": "{} training / {} test sentences "
        "(bert_tf.data.corpora.conll2003_path), IOB2 tags, entity F1 (conlleval)"},
    "qa": {
        "title": "SQuAD-format QA: all-MiniLM-L6-v2 fine-tuned on hand-written files (CPU)",
        "config": "squad.json", "max_train_examples": 0, "engines": ("bert_tf",),
        # The tiny hand-written files' recipe, over squad.json's (SQuAD-sized) one.
        "recipe": {"max_seq_length": 192, "doc_stride": 64, "max_query_length": 48,
                   "epochs": 6, "batch_size": 16, "learning_rate": 1e-4},
        "metric": "f1", "metric_format": "{:.1f}", "points": 1,  # already in percent
        "data": "{version}: {} training / {} dev questions ({path}, dev-{version}.json: "
                "hand-written, no SQuAD offline), official EM/F1"},
}


def parse_args(argv=None):
    """Flags; recipe flags default to the task's configs/finetune file."""
    p = harness.parser(__doc__, seed=0)
    p.add_argument("--task", required=True, choices=tuple(TASKS))
    p.add_argument("--config_file", default=None,
                   help="recipe (JSON of bert-finetune settings; default: the task's file "
                        "in configs/finetune)")
    for key, kind in zip(RECIPE_KEYS, (float, float, float, int, int, int)):
        p.add_argument(f"--{key}", type=kind)
    p.add_argument("--doc_stride", type=int, help="qa: window stride in pieces")
    p.add_argument("--max_query_length", type=int, help="qa: question pieces kept")
    p.add_argument("--versions", default=",".join(QA_VERSIONS),
                   help="qa: comma-separated SQuAD versions, v1.1 and/or v2.0")
    p.add_argument("--max_train_examples", type=int, default=None,
                   help="train on the first N training examples (0: all; default 1000 for "
                        "classification and ner, all for qa)")
    p.add_argument("--max_test_examples", type=int, default=0,
                   help="score the first N test examples (0: all)")
    p.add_argument("--max_validation_examples", type=int, default=500,
                   help="classification: the validation snippets bert_tf scores after "
                        "each epoch (0: none)")
    p.add_argument("--seeds", type=int, default=1,
                   help="runs per engine, seeds --seed, --seed+1, ...; with more than one, "
                        "mean ± std (bench/stability.py)")
    p.add_argument("--datasets", default="rt",
                   help=f"classification: comma-separated {','.join(stability.DATASETS)}")
    p.add_argument("--dataset", default=None, help=argparse.SUPPRESS)  # child's dataset
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--skip_steps", type=int, default=5,
                   help="steps left out of the steady throughput")
    p.add_argument("--engines", default=None,
                   help=f"comma-separated subset of {','.join(ENGINES)} (default: the "
                        "task's, see above)")
    p.add_argument("--lora_rank", type=int, default=8, help="bert_tf_lora and peft: rank")
    p.add_argument("--lora_alpha", type=float, default=16.0,
                   help="bert_tf_lora and peft: scale numerator (alpha / rank)")
    p.add_argument("--lora_targets", default="attention", choices=("attention", "attention_ffn"),
                   help="bert_tf_lora and peft: projections with adapters")
    p.add_argument("--lora_learning_rate", type=float, default=1e-3,
                   help="bert_tf_lora and peft: peak learning rate")
    p.add_argument("--version", default=None, help=argparse.SUPPRESS)  # child: qa version
    args = harness.parse(p, argv)
    spec = TASKS[args.task]
    config_file = args.config_file or os.path.join(CONFIGS, spec["config"])
    with open(config_file, encoding="utf-8") as f:
        recipe = json.load(f)
    args.recipe_note = os.path.relpath(os.path.abspath(config_file), machine.REPO_ROOT)
    if not args.config_file and spec.get("recipe"):
        recipe.update(spec["recipe"])
        args.recipe_note += " + this benchmark's settings for the task"
    args.config_file = os.path.abspath(config_file)
    for key in RECIPE_KEYS + (QA_KEYS if args.task == "qa" else ()):
        if getattr(args, key) is None:
            if key not in recipe:
                p.error(f"{config_file} has no {key!r}; pass --{key}")
            setattr(args, key, recipe[key])
    if args.max_train_examples is None:
        args.max_train_examples = spec["max_train_examples"]
    args.engines = args.engines or ",".join(spec["engines"])
    args.engine_list = harness.parse_engines(p, args.engines, ENGINES)
    if args.task == "qa" and set(TRANSFORMERS_ENGINES) & set(args.engine_list):
        p.error("--task=qa has no transformers peer; choose bert_tf engines")
    args.version_list = ([None] if args.task != "qa" else
                         harness.parse_engines(p, args.versions, QA_VERSIONS, "versions"))
    args.dataset_list = ([None] if args.task != "classification" else harness.parse_engines(
        p, args.datasets, tuple(stability.DATASETS), "datasets"))
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    return args


# --- data (both engines and the parent) ------------------------------------------------
def load_data(args, version=None, dataset=None):
    """(train, test) (--max_train/test_examples): (text, label) pairs (of `dataset`),
    IOB2 `TaggedSentence`s or `version`'s `QaExample`s."""
    from bert_tf.data import corpora
    if args.task == "classification":
        train = stability.subsample(corpora.rotten_tomatoes("train"), RT_LABELS,
                                    stability.DATASETS[dataset or "rt"],
                                    args.max_train_examples)
        test = corpora.rotten_tomatoes("test")
        return train, test[:args.max_test_examples] if args.max_test_examples else test
    elif args.task == "ner":
        from bert_tf.data.conll import read_conll
        train = read_conll(corpora.conll2003_path("train"), tag_scheme="iob2")
        test = read_conll(corpora.conll2003_path("test"), tag_scheme="iob2")
    else:
        from bert_tf.data.squad import read_squad
        train, test = (read_squad(squad_file(split, version),
                                  version_2_with_negative=version == "v2.0")
                       for split in ("train", "dev"))
    return (train[:args.max_train_examples] if args.max_train_examples else train,
            test[:args.max_test_examples] if args.max_test_examples else test)


def load_validation(args, dataset):
    """Classification: the validation (text, label) pairs of `dataset` (bert_tf's epoch
    selection), --max_validation_examples of them."""
    from bert_tf.data import corpora
    if not args.max_validation_examples:
        return None
    return stability.subsample(corpora.rotten_tomatoes("validation"), RT_LABELS,
                               stability.DATASETS[dataset or "rt"],
                               args.max_validation_examples)


def squad_file(split, version):
    return os.path.join(SQUAD_DATA, f"{split}-{version}.json")


# --- throughput and padding ------------------------------------------------------------
def keras_step_timer(epoch_rows):
    """A Keras callback recording (end time, rows) of every step, step i's rows from
    `epoch_rows` (one epoch's batch sizes: with bucketing a later epoch's short batch may
    come elsewhere, so the steady seq/s may count a few rows off)."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        steps = None

        def on_train_begin(self, logs=None):  # each epoch is a fit call: time them all
            if self.steps is None:
                self.steps = [(time.perf_counter(), 0)]

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append((time.perf_counter(), epoch_rows[batch % len(epoch_rows)]))

    return StepTimer()


def throughput(steps, skip_steps):
    """{train_seconds, train/steady_seq_per_sec} of (time, size) steps after (start, 0)."""
    times = [t for t, _ in steps]
    sizes = [n for _, n in steps]
    result = {"train_seconds": times[-1] - times[0],
              "train_seq_per_sec": sum(sizes) / (times[-1] - times[0])}
    if len(steps) > skip_steps + 2:
        result["steady_seq_per_sec"] = (sum(sizes[skip_steps + 1:])
                                        / (times[-1] - times[skip_steps]))
    return result


def scores(args, test, predicted):
    """{metric: value} of `predicted` (labels or tag lists) on the gold `test` set:
    classification's accuracy, macro-F1 and MCC; NER's entity F1."""
    ner = args.task == "ner"
    gold = [list(s.tags) if ner else s[1] for s in test]
    if not ner:
        from bert_tf.tasks import metrics
        return metrics.classification_metrics(gold, predicted)
    return {TASKS[args.task]["metric"]: peers.score(predicted, gold, ner)}


# --- the engines -------------------------------------------------------------------------
def run_bert_tf(args):
    """Child: fine-tunes the engine's bert_tf variant through `TaskModel`, scores it."""
    machine.set_threads(args.threads, tf=True)
    import keras

    import bert_tf
    from bert_tf.data import corpora
    from bert_tf.train.lora import trainable_count

    variant = BERT_TF_VARIANTS[args.engine]
    train, test = load_data(args, args.version, args.dataset)
    lora = ({"lora_rank": args.lora_rank, "lora_alpha": args.lora_alpha,
             "lora_targets": args.lora_targets} if variant.get("lora") else {})
    config = bert_tf.TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
        learning_rate=args.lora_learning_rate if lora else args.learning_rate, **lora,
        warmup_proportion=args.warmup_proportion,
        weight_decay=args.weight_decay, seed=args.seed,
        mixed_precision=variant.get("mixed_precision", "none"),
        bucket_by_length=variant.get("bucket_by_length", True))
    if args.task == "classification":
        options = {"labels": RT_LABELS}
    elif args.task == "ner":
        from bert_tf.tasks.ner import label_vocabulary
        options = {"labels": label_vocabulary(train), "tag_scheme": "iob2"}
    else:
        options = {"doc_stride": args.doc_stride, "max_query_length": args.max_query_length,
                   "version_2_with_negative": args.version == "v2.0"}
    keras.utils.set_random_seed(args.seed)  # the head's initial weights
    clf = bert_tf.TaskModel.from_pretrained(
        corpora.minilm_path(), task=args.task, config=config,
        max_seq_length=args.max_seq_length,
        pad_to_max_length=variant.get("pad_to_max_length", False), **options)
    if args.task == "qa":  # the task's own reader's examples
        train_examples, test_inputs = train, test
    else:
        inputs = ((lambda s: s.tokens) if args.task == "ner" else (lambda pair: pair[0]))
        gold = ((lambda s: s.tags) if args.task == "ner" else (lambda pair: pair[1]))
        train_examples = clf.task.examples_from([inputs(e) for e in train],
                                                [gold(e) for e in train])
        test_inputs = [list(inputs(e)) if args.task == "ner" else inputs(e) for e in test]

    # One epoch of `fit`'s pipeline, outside the timed run: its padding and batch sizes.
    masks = [batch[0]["input_mask"].numpy() for batch in clf.task.make_dataset(
        train_examples, config.batch_size, training=True, seed=config.seed,
        bucket_by_length=config.bucket_by_length)]
    epoch_rows = [len(mask) for mask in masks]
    padding = 1 - sum(int(m.sum()) for m in masks) / sum(m.size for m in masks)
    timer = keras_step_timer(epoch_rows)
    callbacks, validation = [timer], None
    if args.task == "classification":
        validation = load_validation(args, args.dataset)
        test_by_epoch = []  # for the selection rules' record (bench/stability.py)
        score_test = clf.task.evaluator(clf.task.examples_from(test_inputs, [
            label for _, label in test]), config.eval_batch_size)
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: test_by_epoch.append(score_test(clf.model))))
    history = clf.fit(train_examples, validation_data=validation and tuple(zip(*validation)),
                      callbacks=callbacks, keep_checkpoints=0, verbose=False)
    start = time.perf_counter()
    predictions = clf.predict(test_inputs)
    eval_seconds = time.perf_counter() - start
    if args.task == "qa":
        result = clf.task.evaluate_predictions(test, predictions)
    else:
        result = scores(args, test, [p["label"] for p in predictions]
                        if args.task == "classification" else predictions)
    if args.task == "classification":  # epoch timing left out: the callback's test runs
        result["epochs"] = stability.epoch_record(history, test_by_epoch) if validation \
            else None
    harness.emit_result({"engine": args.engine, "version": args.version,
                         "dataset": args.dataset, "seed": args.seed, **result,
                         "train_examples": len(train), "windows": sum(epoch_rows),
                         "test_examples": len(test), "eval_seconds": eval_seconds,
                         "predict_per_sec": len(test) / eval_seconds, "padding": padding,
                         "trainable": trainable_count(clf.model),
                         **throughput(timer.steps, args.skip_steps), **harness.memory_report()})


def run_transformers(args):
    """Child: the same recipe in transformers (`peers.transformers_finetune`; engine
    peft: with HF PEFT's LoRA), scored."""
    machine.set_threads(args.threads, torch=True)
    from bert_tf.tasks.ner import label_vocabulary

    train, test = load_data(args, dataset=args.dataset)
    ner = args.task == "ner"
    steps, predicted, padding, eval_seconds, trainable = peers.transformers_finetune(
        args, train, test, label_vocabulary(train) if ner else RT_LABELS, ner,
        lora=args.engine == "peft")
    harness.emit_result({"engine": args.engine, "dataset": args.dataset,
                         "seed": args.seed, **scores(args, test, predicted),
                         "eval_seconds": eval_seconds, "padding": padding,
                         "trainable": trainable,
                         **throughput(steps, args.skip_steps), **harness.memory_report()})


# --- parent ----------------------------------------------------------------------------
def main(args):
    """Parent: header, one child per engine (and qa version, dataset and seed), the table,
    ratios, and over several seeds the stability summary."""
    spec = TASKS[args.task]
    env, _ = harness.start(spec["title"], PACKAGES, args)
    print(f"recipe  : {args.recipe_note}; flags override")
    seeds = list(range(args.seed, args.seed + args.seeds))
    groups = []
    for version in args.version_list:
        for dataset in args.dataset_list:
            path = os.path.relpath(squad_file("train", version), machine.REPO_ROOT)
            print("data    : " + (f"{dataset}: " if dataset else "") + spec["data"].format(
                *map(len, load_data(args, version, dataset)), version=version, path=path))
            for seed in seeds:
                rows = []
                for engine in args.engine_list:
                    name = " ".join(str(part) for part in (engine, version, dataset,
                                                           len(seeds) > 1 and f"seed {seed}")
                                    if part)
                    print(f"training {name} ...", flush=True)
                    extra = [f"--seed={seed}"] + ([f"--version={version}"] if version else []) \
                        + ([f"--dataset={dataset}"] if dataset else [])
                    rows.append(harness.run_child(harness.child_argv(
                        "finetune", args, engine, *extra), env=env, name=name))
                groups.append((version, rows))
    print()
    table_columns = finetune_report.columns(args.task, TASKS[args.task])
    if args.task == "classification":
        table_columns[1:1] = [("dataset", "dataset", "{}"), ("seed", "seed", "{}"),
                              ("macro_f1", "test macro-F1", "{:.4f}")]
    print(harness.format_table([row for _, rows in groups for row in rows], table_columns))
    if len(seeds) > 1:
        stability.print_summary([row for _, rows in groups for row in rows], seeds)
        return 0
    for version, rows in groups:
        by_engine = {row["engine"]: row for row in rows}
        if (version or len(groups) > 1) and "bert_tf" in by_engine and len(by_engine) > 1:
            print(f"\n[{version or rows[0]['dataset']}]")
        if "bert_tf" in by_engine:
            finetune_report.compare(by_engine, spec)
    return 0


def run_engine(args):
    (run_transformers if args.engine in TRANSFORMERS_ENGINES else run_bert_tf)(args)


if __name__ == "__main__":
    harness.dispatch(parse_args(), run_engine, main)
