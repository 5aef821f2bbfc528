"""End-to-end raw text -> predictions on real variable-length text (CPU): bert_tf with
length bucketing, in-process and through its exported SavedModel, vs the Hugging Face
transformers PyTorch pipeline with the same weights, in one run.

    . .venv/bin/activate
    python -m bench.e2e                                     # both full test sets
    python -m bench.e2e --datasets rt --max_examples 300 --reps 3   # a quick look

Datasets (every example of the test split unless --max_examples, in file order):
  rt     Rotten Tomatoes test snippets (`bert_tf.corpora.rotten_tomatoes("test")`),
         sentence classification: label + probabilities per snippet.
  conll  CoNLL-2003 test sentences (`bert_tf.corpora.conll2003_path("test")`), their
         tokens joined by spaces: a tag per word (bert_tf) / per word piece (pipeline).

Model: all-MiniLM-L6-v2 (`bert_tf.corpora.minilm_path()`) with a classification or
token-classification head initialised at random (--seed) by the `prepare` child:
`bert_tf.TaskModel.from_pretrained(path, task="classification" | "ner", labels=...)`,
saved as a task folder (`TaskModel.save`), exported for TF Serving (`TaskModel.export`,
`bert-export`'s code) and written with the same weights as a transformers folder;
truncation at --max_seq_length pieces for all.

Engines (one child process each, see bench/common.py), all at --batch_size:
  bert_tf             `bert_tf.load(task folder).predict(texts)` (`TaskModel.predict`,
                      texts made the task's examples by `task.examples_from`): length
                      bucketing (examples sorted by their packed length into batches,
                      each padded to its longest row, results put back in input order),
                      tokenization in the TF graph; the rt classifier's last block
                      computes [CLS] only (`output_range=1`).
  bert_tf_unbucketed  the same with `bucket_by_length=False` (its `TrainingConfig`):
                      batches in input order.
  savedmodel          the exported SavedModel run by `bert-predict`'s `Predictor`:
                      length-sorted batches through the raw-text `serving_default`.
  hf_pipeline         `transformers.pipeline("text-classification" | "token-
                      classification")` on CPU torch (fast tokenizer, `batch_size`,
                      batches in input order padded to their longest).

Each timed call runs the whole dataset, raw strings in, per-example results out. Before
timing, every engine's results are checked against a reference computed by the prepare
child with transformers' model called directly: the predicted label (rt) or every word's
tag (conll; a word's tag is the one at its first piece) must agree for >= 99% of the
examples, and rt probabilities within 1e-4. Timing is interleaved across the engines
(common.run_interleaved): --warmup untimed calls, then --reps rounds of one call each;
throughput min/median/max over the reps, ratios of medians vs hf_pipeline (target >= 2x).
The checked pass is itself an untimed warm-up pass (tracing, first-call allocations).
`padding` is the fraction of the model's token positions that are padding in the
batches the engine forms (exact packed lengths, [CLS]/[SEP] included).
"""
import argparse
import json
import os
import statistics
import tempfile

from bench import common

DATASETS = ("rt", "conll")
ENGINES = ("bert_tf", "bert_tf_unbucketed", "savedmodel", "hf_pipeline")
PEER = "hf_pipeline"
PACKAGES = ("tensorflow", "tensorflow-text", "keras", "torch", "transformers", "tokenizers",
            "numpy")
MIN_AGREEMENT = 0.99
PROBABILITY_TOLERANCE = 1e-4
RT_LABELS = ["fresh", "rotten"]
TASKS = {"rt": "classification", "conll": "ner"}  # the bert_tf task of each dataset
MODEL_NAME = "e2e"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default=",".join(DATASETS),
                   help=f"comma-separated subset of {','.join(DATASETS)}")
    p.add_argument("--engines", default=",".join(ENGINES),
                   help=f"comma-separated subset of {','.join(ENGINES)}")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--max_examples", type=int, default=0,
                   help="the first N examples of each test set (0: all)")
    p.add_argument("--reps", type=int, default=5, help="timed passes per engine")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed passes per engine after the checked one")
    p.add_argument("--threads", type=int, default=common.cpu_count(),
                   help="TF intra/inter-op and torch threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random head")
    # Internal: what a child process runs.
    p.add_argument("--engine", default=None, help=argparse.SUPPRESS)
    p.add_argument("--dataset", default=None, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in ("batch_size", "max_seq_length", "reps", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.warmup < 0 or args.max_examples < 0:
        p.error("--warmup and --max_examples must be >= 0")
    args.engine_list = common.parse_engines(p, args.engines, ENGINES)
    args.dataset_list = [d for d in DATASETS if d in args.datasets.split(",")]
    unknown = set(args.datasets.split(",")) - set(DATASETS)
    if unknown or not args.dataset_list:
        p.error(f"--datasets must name some of {DATASETS}, got {args.datasets!r}")
    return args


# --- data, shared by every child (pure Python) ---------------------------------------------
def load_texts(dataset, max_examples):
    """The raw input strings of a test set, in file order."""
    from bert_tf import corpora
    if dataset == "rt":
        texts = [text for text, _ in corpora.rotten_tomatoes("test")]
    else:
        from bert_tf.tasks.ner import read_conll
        texts = [" ".join(s.tokens) for s in read_conll(corpora.conll2003_path("test"))]
    return texts[:max_examples] if max_examples else texts


def word_starts(text):
    """Character offsets of the space-separated words of a CoNLL sentence's text."""
    starts, offset = [], 0
    for word in text.split(" "):
        starts.append(offset)
        offset += len(word) + 1
    return starts


def tags_from_pieces(text, piece_starts, piece_tags, outside):
    """A tag per word: that of the piece starting where the word starts (its first
    piece), `outside` for a word with no piece (truncated, or no pieces at all)."""
    by_start = {}
    for start, tag in zip(piece_starts, piece_tags):
        by_start.setdefault(start, tag)  # the first piece at an offset
    return [by_start.get(start, outside) for start in word_starts(text)]


def padding_fraction(lengths, order, batch_size):
    """Fraction of the token positions that are padding when the examples of `order`
    are batched `batch_size` at a time, each batch padded to its longest."""
    real = padded = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start:start + batch_size]]
        real += sum(batch)
        padded += len(batch) * max(batch)
    return 1 - real / padded


def _paths(args):
    folder = os.path.join(args.workdir, args.dataset)
    return {"folder": folder, "task": os.path.join(folder, "task"),
            "exports": os.path.join(folder, "exports"),
            "saved_model": os.path.join(folder, "exports", MODEL_NAME, "1"),
            "hf": os.path.join(folder, "hf"), "data": os.path.join(folder, "data.json")}


# --- prepare: model, export, transformers copy, reference -------------------------------------
def prepare(args):
    """Builds the model with a random head, saves it for every engine, and writes the
    texts, their packed lengths and the transformers reference results."""
    common.set_threads(args.threads, tf=True, torch=True)
    import keras
    import numpy as np
    import torch
    import transformers

    import bert_tf
    from bert_tf import corpora
    from bert_tf.tasks.ner import label_vocabulary, read_conll

    paths = _paths(args)
    source = corpora.minilm_path()
    texts = load_texts(args.dataset, args.max_examples)
    if args.dataset == "rt":
        labels = RT_LABELS
        hf_class = transformers.BertForSequenceClassification
    else:
        labels = label_vocabulary(read_conll(corpora.conll2003_path("test")))
        hf_class = transformers.BertForTokenClassification
    keras.utils.set_random_seed(args.seed)  # the random head
    clf = bert_tf.TaskModel.from_pretrained(source, task=TASKS[args.dataset], labels=labels,
                                            max_seq_length=args.max_seq_length)
    clf.save(paths["task"])
    clf.export(paths["exports"], MODEL_NAME)

    kernel, bias = clf.model.get_layer("logits").get_weights()  # [H, C], [C]
    hf_model = hf_class.from_pretrained(source, num_labels=len(labels),
                                        id2label=dict(enumerate(labels)),
                                        label2id={l: i for i, l in enumerate(labels)},
                                        dtype=torch.float32).eval()
    with torch.no_grad():
        hf_model.classifier.weight.copy_(torch.from_numpy(kernel.T))
        hf_model.classifier.bias.copy_(torch.from_numpy(bias))
    hf_model.save_pretrained(paths["hf"])
    hf_tokenizer = transformers.BertTokenizerFast.from_pretrained(
        source, model_max_length=args.max_seq_length)
    hf_tokenizer.save_pretrained(paths["hf"])

    # Reference: transformers' model called directly, batch by batch.
    reference = []
    with torch.inference_mode():
        for start in range(0, len(texts), args.batch_size):
            batch = texts[start:start + args.batch_size]
            encoded = hf_tokenizer(batch, truncation=True, padding=True, return_tensors="pt",
                                   return_offsets_mapping=args.dataset == "conll",
                                   return_special_tokens_mask=True)
            offsets = encoded.pop("offset_mapping", None)
            special = encoded.pop("special_tokens_mask").numpy().astype(bool)
            special |= encoded["attention_mask"].numpy() == 0
            logits = hf_model(**encoded).logits
            if args.dataset == "rt":
                for probs in torch.softmax(logits, -1).numpy():
                    reference.append({"label": labels[int(probs.argmax())],
                                      "probabilities": probs.tolist()})
                continue
            tag_ids = logits.argmax(-1).numpy()
            for row, text in enumerate(batch):
                kept = np.flatnonzero(~special[row])  # the text's pieces
                reference.append(tags_from_pieces(
                    text, offsets[row].numpy()[kept, 0].tolist(),
                    [labels[i] for i in tag_ids[row, kept]], "O"))
    task = clf.task
    lengths = task.raw_lengths(task.raw_inputs(task.examples_from(texts))).tolist()
    with open(paths["data"], "w", encoding="utf-8") as f:
        json.dump({"texts": texts, "labels": labels, "lengths": lengths,
                   "reference": reference}, f)
    common.emit_result({"engine": "prepare", "examples": len(texts),
                        "mean_length": statistics.mean(lengths), "max_length": max(lengths)})


# --- engines ------------------------------------------------------------------------------------
def _bert_tf_engine(args, data, bucket_by_length):
    """(run, results, batch order, detail) for in-process `TaskModel.predict`."""
    import numpy as np

    import bert_tf

    clf = bert_tf.load(_paths(args)["task"], config=bert_tf.TrainingConfig(
        eval_batch_size=args.batch_size, bucket_by_length=bucket_by_length))
    texts = data["texts"]

    def run():
        return clf.predict(texts)

    def results(predictions):
        if args.dataset == "rt":
            return [{"label": p["label"],
                     "probabilities": [p["probabilities"][l] for l in data["labels"]]}
                    for p in predictions]
        return predictions

    lengths = np.array(data["lengths"])
    order = (np.argsort(lengths, kind="stable") if bucket_by_length
             else np.arange(len(lengths)))
    detail = "TaskModel.predict, " + ("length-bucketed" if bucket_by_length else "input order")
    return run, results, order.tolist(), detail


def _savedmodel_engine(args, data):
    run, order, detail = common.savedmodel_runner(_paths(args)["saved_model"],
                                                  {"text": data["texts"]}, args.batch_size)

    def results(rows):
        if args.dataset == "rt":
            return [{"label": row["label"].decode(), "probabilities": row["probabilities"].tolist()}
                    for row in rows]
        return [[tag.decode() for tag in row["tags"][:len(text.split(" "))]]
                for row, text in zip(rows, data["texts"])]

    return run, results, order, detail


def _pipeline_engine(args, data):
    import torch
    import transformers

    kind = "text-classification" if args.dataset == "rt" else "token-classification"
    pipe = transformers.pipeline(kind, model=_paths(args)["hf"], device="cpu",
                                 dtype=torch.float32)
    options = ({"truncation": True, "top_k": None} if args.dataset == "rt"
               else {"ignore_labels": []})  # every piece's tag, "O" included

    def run():
        with torch.inference_mode():
            return pipe(data["texts"], batch_size=args.batch_size, **options)

    def results(outputs):
        if args.dataset == "rt":
            rows = []
            for scores in outputs:
                by_label = {s["label"]: s["score"] for s in scores}
                rows.append({"label": max(by_label, key=by_label.get),
                             "probabilities": [by_label[l] for l in data["labels"]]})
            return rows
        return [tags_from_pieces(text, [p["start"] for p in pieces],
                                 [p["entity"] for p in pieces], "O")
                for text, pieces in zip(data["texts"], outputs)]

    return (run, results, list(range(len(data["texts"]))),
            f"pipeline('{kind}'), torch {torch.__version__}")


def agreement(args, got, reference):
    """{agreement: fraction of examples whose label / every word tag equals the
    reference's, max_prob_diff (rt)}."""
    if args.dataset == "rt":
        same = [g["label"] == r["label"] for g, r in zip(got, reference)]
        diff = max(abs(a - b) for g, r in zip(got, reference)
                   for a, b in zip(g["probabilities"], r["probabilities"]))
        return {"agreement": sum(same) / len(same), "max_prob_diff": diff}
    same = [g == r for g, r in zip(got, reference)]
    return {"agreement": sum(same) / len(same), "max_prob_diff": None}


def run_engine(args):
    """Child: build one engine, check its results, warm up, serve timed passes."""
    is_torch = args.engine == PEER
    common.set_threads(args.threads, tf=not is_torch, torch=is_torch)
    with open(_paths(args)["data"], encoding="utf-8") as f:
        data = json.load(f)
    if args.engine in ("bert_tf", "bert_tf_unbucketed"):
        run, results, order, detail = _bert_tf_engine(args, data, args.engine == "bert_tf")
    elif args.engine == "savedmodel":
        run, results, order, detail = _savedmodel_engine(args, data)
    else:
        run, results, order, detail = _pipeline_engine(args, data)

    common.reset_peak_rss()  # the timed passes' memory, not the model loading's
    got = results(run())
    if len(got) != len(data["reference"]):
        raise SystemExit(f"{args.engine}: {len(got)} results for {len(data['reference'])} "
                         "examples")
    check = agreement(args, got, data["reference"])
    print(f"{args.dataset}/{args.engine}: agreement with transformers' model "
          f"{check['agreement']:.4f}" + (f", max |probability diff| {check['max_prob_diff']:.1e}"
                                        if check["max_prob_diff"] is not None else ""),
          flush=True)
    if check["agreement"] < MIN_AGREEMENT or (check["max_prob_diff"] or 0) > PROBABILITY_TOLERANCE:
        raise SystemExit(f"{args.engine} disagrees with the reference: {check}; timings would "
                         "not compare equal work")
    for _ in range(args.warmup):
        run()
    common.serve_reps(run, {"detail": detail, **check,
                            "padding": padding_fraction(data["lengths"], order,
                                                        args.batch_size)})


# --- parent --------------------------------------------------------------------------------------
def main(args):
    settings = {"batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
                "max_examples": args.max_examples or "all", "reps": args.reps,
                "warmup": args.warmup, "threads": args.threads, "seed": args.seed}
    print(common.header("bert_tf end to end: raw text -> predictions vs the transformers "
                        "pipeline (CPU, all-MiniLM-L6-v2 + random head)", PACKAGES, settings))
    env = common.thread_env(args.threads)
    env.setdefault("CUDA_VISIBLE_DEVICES", "")  # a CPU benchmark, also on a GPU machine
    passthrough = [f"--{k}={v}" for k, v in settings.items() if k != "max_examples"]
    passthrough.append(f"--max_examples={args.max_examples}")
    status = 0
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as workdir:
        for dataset in args.dataset_list:
            def argv(engine, dataset=dataset):
                return common.bench_argv("e2e", f"--engine={engine}", f"--dataset={dataset}",
                                         f"--workdir={workdir}", *passthrough)

            print(f"\n[{dataset}] saving the model, exporting it, computing the reference ...",
                  flush=True)
            prepared = common.run_child(argv("prepare"), env=env, name=f"{dataset}/prepare")
            print(f"[{dataset}] {prepared['examples']} examples, packed length mean "
                  f"{prepared['mean_length']:.1f}, max {prepared['max_length']}", flush=True)
            rows = common.run_interleaved(
                {engine: argv(engine) for engine in args.engine_list}, reps=args.reps,
                items=prepared["examples"], env=env,
                on_start=lambda engine, dataset=dataset: print(
                    f"[{dataset}] starting {engine} ...", flush=True))
            status |= report(dataset, rows)
    print("\n" + common.load_after_run_line())
    return status


def report(dataset, rows):
    """Prints one dataset's table and ratios; returns 1 if the >= 2x target is missed."""
    by_engine = {row["engine"]: row for row in rows}
    peer = by_engine.get(PEER)
    for row in rows:
        row["ratio"] = row["per_sec_median"] / peer["per_sec_median"] if peer else None
    print(f"\n[{dataset}] examples/s over {rows[0]['reps']} timed passes "
          "(ratio: median vs hf_pipeline's median)")
    print(common.format_table(rows, [
        ("engine", "engine", "{}"),
        ("per_sec_min", "ex/s min", "{:.1f}"),
        ("per_sec_median", "ex/s median", "{:.1f}"),
        ("per_sec_max", "ex/s max", "{:.1f}"),
        ("ratio", "vs pipeline", "{:.2f}x"),
        ("padding", "padding", "{:.1%}"),
        ("agreement", "agree", "{:.4f}"),
        ("cpu_sec_median", "CPU s/pass", "{:.1f}"),
        ("peak_rss_mib", "peak RSS MiB", "{:.0f}"),
        ("hwm_mib", "RSS HWM timed MiB", "{:.0f}"),
        ("detail", "how", "{}"),
    ]))
    missed = 0
    if peer:
        for name in ("bert_tf", "savedmodel"):
            if name in by_engine:
                ratio = by_engine[name]["ratio"]
                met = ratio >= 2.0
                missed |= not met
                print(f"  {name} / hf_pipeline: {ratio:.2f}x (target >= 2x: "
                      f"{'met' if met else 'NOT met'})")
    if "bert_tf" in by_engine and "bert_tf_unbucketed" in by_engine:
        bucketed, plain = by_engine["bert_tf"], by_engine["bert_tf_unbucketed"]
        print(f"  bucketing: {bucketed['per_sec_median'] / plain['per_sec_median']:.2f}x "
              f"bert_tf_unbucketed; padding {plain['padding']:.1%} -> "
              f"{bucketed['padding']:.1%}")
    return missed


if __name__ == "__main__":
    common.dispatch(parse_args(), run_engine, main, prepare)
