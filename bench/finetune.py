"""Fine-tuning benchmark (CPU): bert_tf's one fine-tuning path, `TaskModel.from_pretrained`
then `.fit` and `.predict`, from the real pretrained all-MiniLM-L6-v2 weights, on a
classification, NER or extractive-QA task, against Hugging Face transformers trained with
the same recipe in the same run; reports the test metric and training throughput.

    . .venv/bin/activate
    python -m bench.finetune --task=classification --max_train_examples 1000
    python -m bench.finetune --task=classification --engines bert_tf,bert_tf_bf16
    python -m bench.finetune --task=ner --max_train_examples 1000
    python -m bench.finetune --task=qa              # both SQuAD versions, ~10 min on 2 cores
    python -m bench.finetune --task=qa --versions v1.1 --epochs 2

Run it from the repository root; each engine runs in a child process of its own
(`python -m bench.finetune --engine=...`, `bench/common.py`), with --threads threads.

Tasks and data (`--max_train_examples` / `--max_test_examples` keep the first N):
  classification  Rotten Tomatoes snippets (`bert_tf.data.corpora.rotten_tomatoes`), labels
                  fresh/rotten; test accuracy (scikit-learn). Recipe:
                  configs/finetune/rotten_tomatoes.json; first 1000 training snippets by
                  default.
  ner             CoNLL-2003 (`bert_tf.data.corpora.conll2003_path`), IOB2 tags; test entity
                  F1 (`seqeval`, conlleval's definition). Recipe:
                  configs/finetune/conll2003.json; first 1000 training sentences by
                  default. Each whitespace token is split into word pieces on its own; the
                  label sits on its first piece and the other pieces are left out of the
                  loss (bert_tf: sample weight 0; transformers: label -100); truncated
                  words are predicted "O"; a word's prediction is the one at its first
                  piece.
  qa              the hand-written SQuAD-format files `tests/data/squad/train-v*.json`
                  (72 questions for v1.1, 96 for v2.0; no SQuAD offline), scored on
                  `dev-v*.json` with the official EM/F1 (`task.evaluate_predictions`),
                  for each of `--versions` (v1.1, v2.0: one child per engine and
                  version). Recipe: configs/finetune/squad.json with this benchmark's
                  settings for the tiny files on top (max_seq_length 192, doc_stride 64,
                  max_query_length 48, 6 epochs, batch 16, learning rate 1e-4; not with
                  an explicit --config_file); all training questions by default. What it
                  proves: the whole QA path on real weights (windows over long contexts,
                  training, n-best span selection, the v2.0 null threshold, the official
                  scoring), not SQuAD-level accuracy: the files are ~1/1000 of SQuAD and
                  MiniLM is a sentence-embedding model. No transformers peer.

Recipe (all engines): the config file's learning rate, warmup proportion, weight decay,
batch size, epochs and max sequence length (each overridden by its flag); AdamW (beta
0.9/0.999, epsilon 1e-6) without weight decay on biases and LayerNorm, linear warmup then
linear decay to 0, global gradient norm clipped to 1.0, dropout 0.1; inputs truncated to
the max length and each batch padded to its longest; the training set reshuffled each
epoch; tokenized once up front (bert_tf in its tf.data pipeline with the in-graph
tokenizer; transformers with its Python BertTokenizer).

Engines (`--engines`, default: classification bert_tf,transformers; ner
bert_tf,bert_tf_fixed,transformers; qa bert_tf):
  * bert_tf: `bert_tf.TaskModel.from_pretrained(minilm, task=..., **task options,
    config=TrainingConfig(recipe))`, then `.fit(train, callbacks=[step timer],
    keep_checkpoints=0, log_every_n_steps=10**9)` (bert-finetune's training: checkpoint
    and backup callbacks, Keras AdamW, length-bucketed batches), then `.predict(test)`;
  * bert_tf_bf16: `mixed_precision="bfloat16"` (bert-finetune's --mixed_precision), to
    compare the task metric with float32 in one run (printed side by side);
  * bert_tf_unbucketed: `bucket_by_length=False`: random batches padded to their
    longest (prediction unbucketed too);
  * bert_tf_fixed: task option `pad_to_max_length=True`: every batch padded to the max
    length (the speed-up of bucketing and the padding it saves are printed);
  * transformers: `BertForSequenceClassification` / `BertForTokenClassification` in a
    plain PyTorch loop, `torch.optim.AdamW` + `get_linear_schedule_with_warmup`.

Columns: `padding` is the fraction of the training batches' token positions that are
padding (one epoch of the engine's own pipeline, built again outside the timed run);
`train seq/s` counts every training sequence (QA: every window, `windows` per epoch: a
question whose context is longer than the window gets several) over the whole training
time (tracing, compilation and checkpoint writing included); `steady seq/s` leaves out
the first --skip_steps steps (tracing / warm-up); `test s` is the prediction time over
the test set (QA: `predict q/s`, dev questions per second).
"""
import argparse
import json
import os
import time

import numpy as np

from bench import common

ENGINES = ("bert_tf", "bert_tf_bf16", "bert_tf_unbucketed", "bert_tf_fixed", "transformers")
# What each bert_tf engine changes: the TrainingConfig's bucket_by_length and
# mixed_precision, the task's pad_to_max_length.
BERT_TF_VARIANTS = {
    "bert_tf": {},
    "bert_tf_bf16": {"mixed_precision": "bfloat16"},
    "bert_tf_unbucketed": {"bucket_by_length": False},
    "bert_tf_fixed": {"pad_to_max_length": True},
}
PACKAGES = ("tensorflow", "keras", "tensorflow-text", "torch", "transformers", "numpy")
CONFIGS = os.path.join(common.REPO_ROOT, "configs", "finetune")
SQUAD_DATA = os.path.join(common.REPO_ROOT, "tests", "data", "squad")
RECIPE_KEYS = ("learning_rate", "warmup_proportion", "weight_decay", "batch_size", "epochs",
               "max_seq_length")
QA_KEYS = ("doc_stride", "max_query_length")
QA_VERSIONS = ("v1.1", "v2.0")
RT_LABELS = ["fresh", "rotten"]
TASKS = {
    "classification": {
        "title": "Rotten Tomatoes fine-tuning from all-MiniLM-L6-v2 (CPU)",
        "config": "rotten_tomatoes.json", "max_train_examples": 1000,
        "engines": ("bert_tf", "transformers"),
        "metric": "accuracy", "metric_format": "{:.4f}", "points": 100},
    "ner": {
        "title": "CoNLL-2003 NER fine-tuning from all-MiniLM-L6-v2 (CPU)",
        "config": "conll2003.json", "max_train_examples": 1000,
        "engines": ("bert_tf", "bert_tf_fixed", "transformers"),
        "metric": "f1", "metric_format": "{:.4f}", "points": 100},
    "qa": {
        "title": "SQuAD-format QA: all-MiniLM-L6-v2 fine-tuned on hand-written files (CPU)",
        "config": "squad.json", "max_train_examples": 0, "engines": ("bert_tf",),
        # The tiny hand-written files' recipe, over squad.json's (SQuAD-sized) one.
        "recipe": {"max_seq_length": 192, "doc_stride": 64, "max_query_length": 48,
                   "epochs": 6, "batch_size": 16, "learning_rate": 1e-4},
        "metric": "f1", "metric_format": "{:.1f}", "points": 1},  # already in percent
}
ADAM_EPSILON = 1e-6
CLIP_NORM = 1.0


def parse_args(argv=None):
    """Flags; recipe flags default to the task's configs/finetune file."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=tuple(TASKS))
    p.add_argument("--config_file", default=None,
                   help="recipe (JSON of bert-finetune settings; default: the task's file "
                        "in configs/finetune)")
    p.add_argument("--learning_rate", type=float)
    p.add_argument("--warmup_proportion", type=float)
    p.add_argument("--weight_decay", type=float)
    p.add_argument("--batch_size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--max_seq_length", type=int)
    p.add_argument("--doc_stride", type=int, help="qa: window stride in pieces")
    p.add_argument("--max_query_length", type=int, help="qa: question pieces kept")
    p.add_argument("--versions", default=",".join(QA_VERSIONS),
                   help="qa: comma-separated SQuAD versions, v1.1 and/or v2.0")
    p.add_argument("--max_train_examples", type=int, default=None,
                   help="train on the first N training examples (0: all; default 1000 for "
                        "classification and ner, all for qa)")
    p.add_argument("--max_test_examples", type=int, default=0,
                   help="score the first N test examples (0: all)")
    p.add_argument("--eval_batch_size", type=int, default=64)
    p.add_argument("--skip_steps", type=int, default=5,
                   help="steps left out of the steady throughput")
    p.add_argument("--threads", type=int, default=common.cpu_count())
    p.add_argument("--engines", default=None,
                   help=f"comma-separated subset of {','.join(ENGINES)} (default: the "
                        "task's, see above)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", default=None, help=argparse.SUPPRESS)   # child mode
    p.add_argument("--version", default=None, help=argparse.SUPPRESS)  # child: qa version
    args = p.parse_args(argv)
    spec = TASKS[args.task]
    config_file = args.config_file or os.path.join(CONFIGS, spec["config"])
    with open(config_file, encoding="utf-8") as f:
        recipe = json.load(f)
    args.recipe_note = os.path.relpath(os.path.abspath(config_file), common.REPO_ROOT)
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
    args.engine_list = common.parse_engines(p, args.engines or ",".join(spec["engines"]),
                                            ENGINES)
    if args.task == "qa" and "transformers" in args.engine_list:
        p.error("--task=qa has no transformers peer; choose bert_tf engines")
    args.version_list = [None]
    if args.task == "qa":
        args.version_list = [v.strip() for v in args.versions.split(",") if v.strip()]
        if not args.version_list or set(args.version_list) - set(QA_VERSIONS):
            p.error(f"--versions must name v1.1 and/or v2.0, got {args.versions!r}")
    return args


def settings(args):
    """The run's settings, for the header and the children's command lines."""
    keys = ("task",) + RECIPE_KEYS + (QA_KEYS + ("versions",) if args.task == "qa" else ())
    return {**{key: getattr(args, key) for key in keys},
            "max_train_examples": args.max_train_examples,
            "max_test_examples": args.max_test_examples,
            "eval_batch_size": args.eval_batch_size, "skip_steps": args.skip_steps,
            "threads": args.threads, "seed": args.seed}


# --- data (both engines and the parent) ------------------------------------------------
def load_data(args, version=None):
    """(train, test), the first --max_train_examples / --max_test_examples of: (text,
    label) pairs (classification), `TaggedSentence`s in IOB2 (ner), or `QaExample`s of
    `version` (qa)."""
    from bert_tf.data import corpora
    if args.task == "classification":
        train, test = corpora.rotten_tomatoes("train"), corpora.rotten_tomatoes("test")
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


def squad_file(split, version):
    return os.path.join(SQUAD_DATA, f"{split}-{version}.json")


def data_note(args, version, train, test):
    """The parent's line on the data."""
    if args.task == "classification":
        return (f"data    : {len(train)} training / {len(test)} test snippets "
                "(bert_tf.data.corpora.rotten_tomatoes), labels fresh/rotten")
    if args.task == "ner":
        return (f"data    : {len(train)} training / {len(test)} test sentences "
                "(bert_tf.data.corpora.conll2003_path), IOB2 tags, entity F1 by seqeval")
    return (f"data    : {version}: {len(train)} training / {len(test)} dev questions "
            f"({os.path.relpath(squad_file('train', version), common.REPO_ROOT)}, "
            f"dev-{version}.json: hand-written, no SQuAD offline), official EM/F1")


# --- throughput and padding ------------------------------------------------------------
def num_steps(args, num_examples):
    """(steps per epoch, total steps, warmup steps) of the recipe."""
    per_epoch = -(-num_examples // args.batch_size)
    total = per_epoch * args.epochs
    return per_epoch, total, int(total * args.warmup_proportion)


def keras_step_timer():
    """A Keras callback class that records (end time, rows) of every training step, the
    rows of step i of an epoch read from `epoch_rows` (one epoch's batch sizes, built
    beforehand with the same seed: later epochs are reshuffled, so with length bucketing
    the one short batch of an epoch may come anywhere, and the steady seq/s, which skips
    the first steps, may count a few rows off)."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self, epoch_rows):
            super().__init__()
            self.epoch_rows = epoch_rows
            self.steps = []

        def on_train_begin(self, logs=None):
            self.steps = [(time.perf_counter(), 0)]

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append((time.perf_counter(),
                               self.epoch_rows[batch % len(self.epoch_rows)]))

    return StepTimer


def pipeline_rows(dataset):
    """(rows of each batch, padding fraction of the token positions) over one pass of a
    training dataset of (features, ...) batches."""
    rows, real, total = [], 0, 0
    for batch in dataset:
        mask = batch[0]["input_mask"].numpy()
        rows.append(int(mask.shape[0]))
        real += int(mask.sum())
        total += mask.size
    return rows, 1 - real / total


class PositionCounter:
    """Counts real and padded token positions of the batches a torch loop trains on."""

    def __init__(self):
        self.real = self.total = 0

    def add(self, attention_mask):
        self.real += int(attention_mask.sum())
        self.total += attention_mask.numel()

    def padding_fraction(self):
        return 1 - self.real / self.total


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


# --- bert_tf: the library's fine-tuning path --------------------------------------------
def run_bert_tf(args):
    """Child: fine-tunes from all-MiniLM-L6-v2 as the engine's bert_tf variant says,
    through `TaskModel`, and scores the test set."""
    common.set_threads(args.threads, tf=True)
    import keras

    import bert_tf
    from bert_tf.data import corpora

    variant = BERT_TF_VARIANTS[args.engine]
    train, test = load_data(args, args.version)
    config = bert_tf.TrainingConfig(
        epochs=args.epochs, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
        learning_rate=args.learning_rate, warmup_proportion=args.warmup_proportion,
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

    if args.task == "classification":
        train_examples = clf.task.examples_from([text for text, _ in train],
                                                [label for _, label in train])
        test_inputs = [text for text, _ in test]
    elif args.task == "ner":
        train_examples = clf.task.examples_from([s.tokens for s in train],
                                                [s.tags for s in train])
        test_inputs = [list(s.tokens) for s in test]
    else:  # the task's own reader's examples
        train_examples, test_inputs = train, test

    # One epoch of the pipeline `fit` builds (same examples, batch size, seed and
    # bucketing), outside the timed run: its padding and batch sizes.
    epoch_rows, padding = pipeline_rows(clf.task.make_dataset(
        train_examples, config.batch_size, training=True, seed=config.seed,
        bucket_by_length=config.bucket_by_length))
    timer = keras_step_timer()(epoch_rows)
    clf.fit(train_examples, callbacks=[timer], keep_checkpoints=0,
            log_every_n_steps=10 ** 9)

    start = time.perf_counter()
    predictions = clf.predict(test_inputs)
    eval_seconds = time.perf_counter() - start
    if args.task == "classification":
        from sklearn.metrics import accuracy_score
        scores = {"accuracy": accuracy_score([label for _, label in test],
                                             [p["label"] for p in predictions])}
    elif args.task == "ner":
        scores = {"f1": ner_f1(test, predictions)}
    else:
        scores = clf.task.evaluate_predictions(test, predictions)
    common.emit_result({"engine": args.engine, "version": args.version, **scores,
                        "train_examples": len(train), "windows": sum(epoch_rows),
                        "test_examples": len(test), "eval_seconds": eval_seconds,
                        "predict_per_sec": len(test) / eval_seconds, "padding": padding,
                        **throughput(timer.steps, args.skip_steps), **common.memory_report()})


def ner_f1(test, predicted):
    from seqeval.metrics import f1_score
    return f1_score([list(s.tags) for s in test], predicted)


# --- transformers: the peer --------------------------------------------------------------
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


def shuffled_batches(num_examples, batch_size, rng):
    """Row indexes of one epoch's batches, in a new random order."""
    order = rng.permutation(num_examples)
    for start in range(0, num_examples, batch_size):
        yield order[start:start + batch_size]


def torch_train(model, batches, args, num_examples):
    """Trains a transformers model on `batches()` (an iterable of (inputs dict, labels)
    per epoch, reshuffled each call); returns per-step (end time, batch size)."""
    import torch

    optimizer, schedule = torch_optimizer(model, args, num_examples)
    model.train()
    steps = [(time.perf_counter(), 0)]
    for _ in range(args.epochs):
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


def run_transformers(args):
    (run_transformers_ner if args.task == "ner" else run_transformers_classification)(args)


def run_transformers_classification(args):
    common.set_threads(args.threads, torch=True)
    import torch
    import transformers
    from sklearn.metrics import accuracy_score

    from bert_tf.data import corpora

    torch.manual_seed(args.seed)
    train, test = load_data(args)
    path = corpora.minilm_path()
    tokenizer = transformers.BertTokenizer(os.path.join(path, "vocab.txt"), do_lower_case=True)
    model = transformers.BertForSequenceClassification.from_pretrained(
        path, num_labels=len(RT_LABELS), dtype=torch.float32)

    def encode(texts):
        return tokenizer(texts, truncation=True, max_length=args.max_seq_length)

    train_encoded = encode([text for text, _ in train])  # tokenized once, like bert_tf
    train_labels = np.array([RT_LABELS.index(label) for _, label in train])
    rng = np.random.default_rng(args.seed)
    padding_counter = PositionCounter()

    def batches():
        for rows in shuffled_batches(len(train), args.batch_size, rng):
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
    accuracy = accuracy_score([label for _, label in test], [RT_LABELS[i] for i in predicted])
    common.emit_result({"engine": "transformers", "accuracy": accuracy,
                        "eval_seconds": eval_seconds, "padding": padding_counter.padding_fraction(),
                        **throughput(steps, args.skip_steps), **common.memory_report()})


def run_transformers_ner(args):
    common.set_threads(args.threads, torch=True)
    import torch
    import transformers

    from bert_tf.data import corpora
    from bert_tf.data.conll import OUTSIDE
    from bert_tf.tasks.ner import label_vocabulary

    torch.manual_seed(args.seed)
    train, test = load_data(args)
    labels = label_vocabulary(train)
    path = corpora.minilm_path()
    tokenizer = transformers.BertTokenizer(os.path.join(path, "vocab.txt"), do_lower_case=True)
    model = transformers.BertForTokenClassification.from_pretrained(
        path, num_labels=len(labels), dtype=torch.float32)

    def encode(sentence):
        """(input ids, first-piece position of each word or None if truncated)."""
        ids, positions = [tokenizer.cls_token_id], []
        budget = args.max_seq_length - 1  # room left before [SEP]
        for word in sentence.tokens:
            pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
            kept = pieces[:max(budget - len(ids), 0)]
            positions.append(len(ids) if kept else None)
            ids += kept
        return ids + [tokenizer.sep_token_id], positions

    def pad(rows, value):
        width = max(len(row) for row in rows)
        return torch.tensor([row + [value] * (width - len(row)) for row in rows])

    def model_inputs(encoded):
        ids = [e[0] for e in encoded]
        return {"input_ids": pad(ids, tokenizer.pad_token_id),
                "attention_mask": pad([[1] * len(row) for row in ids], 0),
                "token_type_ids": pad([[0] * len(row) for row in ids], 0)}

    train_encoded = [encode(s) for s in train]  # tokenized once, like bert_tf
    train_targets = []
    for sentence, (ids, positions) in zip(train, train_encoded):
        target = [-100] * len(ids)
        for tag, position in zip(sentence.tags, positions):
            if position is not None:
                target[position] = labels.index(tag)
        train_targets.append(target)
    rng = np.random.default_rng(args.seed)
    padding_counter = PositionCounter()

    def batches():
        for rows in shuffled_batches(len(train), args.batch_size, rng):
            inputs = model_inputs([train_encoded[i] for i in rows])
            padding_counter.add(inputs["attention_mask"])
            yield inputs, pad([train_targets[i] for i in rows], -100)

    steps = torch_train(model, batches, args, len(train))
    start = time.perf_counter()
    predicted = []
    with torch.inference_mode():
        for begin in range(0, len(test), args.eval_batch_size):
            encoded = [encode(s) for s in test[begin:begin + args.eval_batch_size]]
            tag_ids = model(**model_inputs(encoded)).logits.argmax(-1).tolist()
            for (_, positions), row in zip(encoded, tag_ids):
                predicted.append([OUTSIDE if p is None else labels[row[p]] for p in positions])
    eval_seconds = time.perf_counter() - start
    common.emit_result({"engine": "transformers", "f1": ner_f1(test, predicted),
                        "eval_seconds": eval_seconds, "padding": padding_counter.padding_fraction(),
                        **throughput(steps, args.skip_steps), **common.memory_report()})


# --- parent ----------------------------------------------------------------------------
def columns(args):
    """The table's columns for the task."""
    spec = TASKS[args.task]
    timing = [("train_seconds", "train s", "{:.1f}"),
              ("train_seq_per_sec", "train seq/s", "{:.2f}"),
              ("steady_seq_per_sec", "steady seq/s", "{:.2f}"),
              ("padding", "padding", "{:.1%}")]
    if args.task != "qa":
        return ([("engine", "engine", "{}"),
                 (spec["metric"], f"test {spec['metric']}", spec["metric_format"])]
                + timing + [("eval_seconds", "test s", "{:.1f}"),
                            ("peak_rss_mib", "peak RSS MiB", "{:.0f}")])
    return ([("engine", "engine", "{}"), ("version", "version", "{}"),
             ("train_examples", "train q", "{}"), ("windows", "windows", "{}"),
             ("test_examples", "dev q", "{}")]
            + timing + [("predict_per_sec", "predict q/s", "{:.1f}")]
            + [(key, key, "{:.2f}" if key == "best_f1_thresh" else "{:.1f}")
               for key in ("exact_match", "f1", "HasAns_f1", "NoAns_f1", "best_f1",
                           "best_f1_thresh")]
            + [("peak_rss_mib", "peak RSS MiB", "{:.0f}")])


def main(args):
    """Parent: header, one child per engine (and qa version), table and ratios."""
    spec = TASKS[args.task]
    run_settings = settings(args)
    print(common.header(spec["title"], PACKAGES, run_settings))
    print(f"recipe  : {args.recipe_note}; flags override")
    env = common.thread_env(args.threads)
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    passthrough = [f"--{key}={value}" for key, value in run_settings.items()]
    passthrough += [f"--config_file={args.config_file}",
                    f"--engines={','.join(args.engine_list)}"]
    groups = []
    for version in args.version_list:
        print(data_note(args, version, *load_data(args, version)))
        rows = []
        for engine in args.engine_list:
            name = engine + (f" {version}" if version else "")
            print(f"training {name} ...", flush=True)
            rows.append(common.run_child(
                common.bench_argv("finetune", f"--engine={engine}", *passthrough,
                                  *([f"--version={version}"] if version else [])),
                env=env, name=name))
        groups.append((version, rows))
    print()
    print(common.format_table([row for _, rows in groups for row in rows], columns(args)))
    print(common.load_after_run_line())
    for version, rows in groups:
        by_engine = {row["engine"]: row for row in rows}
        if version and "bert_tf" in by_engine and len(by_engine) > 1:
            print(f"\n[{version}]")
        if "bert_tf" in by_engine:
            compare_variants(by_engine, spec)
        if {"bert_tf", "transformers"} <= set(by_engine):
            compare_peer(by_engine, spec)
    return 0


def compare_peer(by_engine, spec):
    metric, fmt = spec["metric"], spec["metric_format"]
    ours, peer = by_engine["bert_tf"], by_engine["transformers"]
    print("\nbert_tf / transformers:")
    for key in ("train_seq_per_sec", "steady_seq_per_sec"):
        if ours.get(key) and peer.get(key):
            print(f"  {key:<20} {ours[key] / peer[key]:.2f}x")
    print(f"  test {metric:<15} {fmt.format(ours[metric])} vs {fmt.format(peer[metric])} "
          f"({ours[metric] - peer[metric]:+.4f})")


def compare_variants(by_engine, spec):
    """Prints bert_tf (bucketed, float32) against its other variants in the run."""
    metric, fmt = spec["metric"], spec["metric_format"]
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
            print(f"  test {metric:<15} {fmt.format(ours[metric])} vs "
                  f"{fmt.format(other[metric])}")
    if "bert_tf_bf16" in by_engine:
        bf16 = by_engine["bert_tf_bf16"]
        difference = spec["points"] * (bf16[metric] - ours[metric])
        print(f"\nbert_tf mixed_bfloat16 vs float32: test {metric} "
              f"{fmt.format(bf16[metric])} vs {fmt.format(ours[metric])} ({difference:+.2f} "
              f"points; target within 0.3: {'met' if abs(difference) <= 0.3 else 'NOT met'}); "
              f"train seq/s {bf16['train_seq_per_sec'] / ours['train_seq_per_sec']:.2f}x")


def run_engine(args):
    (run_transformers if args.engine == "transformers" else run_bert_tf)(args)


if __name__ == "__main__":
    common.dispatch(parse_args(), run_engine, main)
