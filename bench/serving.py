"""Serving cost of the exported raw-text SavedModel vs its ids-only signature fed by a
host-side HF fast tokenizer vs the `transformers` PyTorch pipeline, all with the same
real weights (all-MiniLM-L6-v2), in one run: latency p50/p99 at batch 1 (from every
call) and throughput at --batch_size (the median), every text filling `--seq_length`
word pieces (real test snippets joined, `peers.long_texts`).

    python -m bench.serving --latency_reps 100 --throughput_reps 8

Engines: `savedmodel_text`, the `bert-export --task=encoder` SavedModel's
`serving_default` (raw strings in, tokenized in the graph); `savedmodel_ids`, its
`serve_ids` fed ids from `transformers.BertTokenizerFast` in the timed call;
`torch_pipeline`, `transformers.pipeline("feature-extraction")` on the same folder. Each
call returns the last-layer vectors as host arrays, checked against transformers'
`BertModel` (max abs diff <= 1e-4) before timing.
"""
import argparse
import itertools
import json
import os
import time

import numpy as np

from bench import harness, machine, peers

ENGINES = ("savedmodel_text", "savedmodel_ids", "torch_pipeline")
PACKAGES = ("tensorflow", "tensorflow-text", "keras", "torch", "transformers", "tokenizers",
            "numpy")
TOLERANCE = 1e-4
MODEL_NAME = "minilm"


def parse_args(argv=None):
    p = harness.parser(__doc__, ENGINES, workdir=True, warmup=3, batch_size=32)
    p.add_argument("--seq_length", type=int, default=128, help="word pieces per text")
    p.add_argument("--latency_reps", type=int, default=100, help="timed batch-1 calls")
    p.add_argument("--throughput_reps", type=int, default=8, help="timed batch calls")
    p.add_argument("--mode", default=None, choices=("latency", "throughput"),
                   help=argparse.SUPPRESS)  # a child's
    return harness.parse(p, argv, positive=("seq_length", "latency_reps", "throughput_reps"))


# --- texts, export, reference (the `prepare` child) ----------------------------------------
def prepare(args):
    """Exports the SavedModel, writes the texts and the transformers reference output."""
    machine.set_threads(args.threads, tf=True, torch=True)
    import torch
    import transformers

    from bert_tf.data import corpora
    from bert_tf_tools import export as export_tool

    folder = corpora.minilm_path()
    export_tool.export(folder, os.path.join(args.workdir, "exports"), MODEL_NAME,
                       task="encoder", max_seq_length=args.seq_length)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(folder)
    texts = peers.long_texts(lambda text: len(tokenizer(text)["input_ids"]),
                             2 * args.batch_size, args.seq_length)
    model = transformers.BertModel.from_pretrained(folder).eval()
    batch = tokenizer(texts[:args.batch_size], padding=True, truncation=True,
                      max_length=args.seq_length, return_tensors="pt")
    with torch.inference_mode():
        reference = model(**batch).last_hidden_state.numpy()
    with open(os.path.join(args.workdir, "texts.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f)
    np.save(os.path.join(args.workdir, "reference.npy"), reference)
    harness.emit_result({"engine": "prepare", "texts": len(texts),
                        "reference_shape": list(reference.shape)})


# --- one engine per child ----------------------------------------------------------------
def _build_savedmodel(args, raw_text):
    """A function texts -> sequence_output (np.ndarray [B, S, H]) on the SavedModel."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops the SavedModel's graph uses)

    version_dir = os.path.join(args.workdir, "exports", MODEL_NAME, "1")
    signatures = tf.saved_model.load(version_dir).signatures
    if raw_text:
        serve = signatures["serving_default"]
        return (lambda texts: serve(text=tf.constant(texts))["sequence_output"].numpy(),
                "serving_default, in-graph tokenization")

    import transformers
    from bert_tf.data import corpora
    tokenizer = transformers.BertTokenizerFast.from_pretrained(corpora.minilm_path())
    serve = signatures["serve_ids"]

    def run(texts):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=args.seq_length,
                          return_tensors="np")
        return serve(input_word_ids=tf.constant(batch["input_ids"], tf.int32),
                     input_mask=tf.constant(batch["attention_mask"], tf.int32),
                     input_type_ids=tf.constant(batch["token_type_ids"], tf.int32),
                     )["sequence_output"].numpy()

    return run, "serve_ids + BertTokenizerFast on the host"


def _build_pipeline(args):
    import torch
    import transformers
    from bert_tf.data import corpora

    pipe = transformers.pipeline("feature-extraction", model=corpora.minilm_path(),
                                 device="cpu", dtype=torch.float32)
    options = {"tokenize_kwargs": {"truncation": True, "max_length": args.seq_length},
               "return_tensors": True}

    def run(texts):
        with torch.inference_mode():
            if len(texts) == 1:  # a single text goes in as a str, the pipeline's own path
                outputs = [pipe(texts[0], **options)]
            else:
                outputs = pipe(texts, batch_size=len(texts), **options)
        # One [1, S_i, H] tensor per text; pad to the longest like the other engines.
        length = max(o.shape[1] for o in outputs)
        return np.stack([np.pad(o[0].numpy(), ((0, length - o.shape[1]), (0, 0)))
                         for o in outputs])

    return run, f"pipeline('feature-extraction'), torch {torch.__version__}"


def run_engine(args):
    """Child: build one engine, check it against the reference, serve timed calls."""
    is_torch = args.engine == "torch_pipeline"
    machine.set_threads(args.threads, tf=not is_torch, torch=is_torch)
    with open(os.path.join(args.workdir, "texts.json"), encoding="utf-8") as f:
        texts = json.load(f)
    reference = np.load(os.path.join(args.workdir, "reference.npy"))
    if is_torch:
        run, detail = _build_pipeline(args)
    else:
        run, detail = _build_savedmodel(args, raw_text=args.engine == "savedmodel_text")

    harness.reset_peak_rss()
    got = run(texts[:args.batch_size])
    if got.shape != reference.shape:
        raise SystemExit(f"{args.engine}: output shape {got.shape} != reference "
                         f"{reference.shape}: the texts were not packed alike")
    diff = float(np.max(np.abs(got - reference)))  # every row is full: no padding
    print(f"{args.engine}: max |sequence_output - transformers BertModel| = {diff:.1e}",
          flush=True)
    if not diff <= TOLERANCE:
        raise SystemExit(f"{args.engine} differs from the reference by {diff:.2e} > "
                         f"{TOLERANCE}; timings would not compare equal work")

    batch = 1 if args.mode == "latency" else args.batch_size
    batches = [texts[i:i + batch] for i in range(0, len(texts) - batch + 1, batch)]
    calls, latencies = itertools.count(), []

    def step():
        start = time.perf_counter()
        run(batches[next(calls) % len(batches)])
        latencies.append(1e3 * (time.perf_counter() - start))

    for _ in range(args.warmup):
        step()
    latencies.clear()
    harness.serve_reps(step, {"detail": detail, "max_abs_diff": diff}, lambda: {
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99))})  # from every timed call


# --- parent --------------------------------------------------------------------------------
def main(args):
    env, _ = harness.start("bert_tf serving: raw-text SavedModel vs host tokenizer vs "
                           "PyTorch pipeline (CPU, all-MiniLM-L6-v2)", PACKAGES, args)
    with harness.workdir(None, "serving") as workdir:
        def argv(engine, mode=None):
            return harness.child_argv("serving", args, engine, f"--workdir={workdir}",
                                      *([f"--mode={mode}"] if mode else []))

        print("exporting the SavedModel and computing the reference ...", flush=True)
        harness.run_child(argv("prepare"), env=env, name="prepare")
        latency, rows = [harness.interleave(lambda e, mode=mode: argv(e, mode),
                                            args.engine_list, reps, items, env,
                                            prefix=f"({mode}) ")
                         for mode, reps, items in (
                             ("latency", args.latency_reps, 1),
                             ("throughput", args.throughput_reps, args.batch_size))]
    for row, latency_row in zip(rows, latency):
        row.update(p50_ms=latency_row["p50_ms"], p99_ms=latency_row["p99_ms"])
    print("\n" + harness.format_table(rows, [
        ("engine", "engine", "{}"), ("p50_ms", "b=1 p50 ms", "{:.1f}"),
        ("p99_ms", "b=1 p99 ms", "{:.1f}"),
        ("per_sec_median", f"b={args.batch_size} texts/s median", "{:.1f}"),
        ("per_sec_max", "texts/s max", "{:.1f}"), ("cpu_sec_median", "CPU s/batch", "{:.2f}"),
        ("peak_rss_mib", "peak RSS MiB", "{:.0f}"), ("detail", "how", "{}")]))
    p50 = {row["engine"]: row["p50_ms"] for row in rows}
    for peer, target in (("torch_pipeline", 1.0), ("savedmodel_ids", None)):
        if "savedmodel_text" in p50 and peer in p50:
            harness.print_ratios("", rows, [("savedmodel_text", peer, (
                f"throughput; p50 latency {p50['savedmodel_text']:.1f} vs {p50[peer]:.1f} ms"))],
                target=target, width=15)
    return 0


if __name__ == "__main__":
    harness.dispatch(parse_args(), run_engine, main, prepare)
