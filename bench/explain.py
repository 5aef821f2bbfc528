"""Cost of explanations on the real all-MiniLM-L6-v2: Integrated Gradients (32 steps)
on one 128-token sentence, the exported SavedModel's in-graph `explain` signature vs a
Python loop over the same 32 steps; and attention maps off vs on.

    python -m bench.explain --reps 7

Engines, in this one process, their calls interleaved (bench/harness.py):
  signature      the `explain` signature of `TaskModel.export`'s SavedModel: raw text
                 in, tokenization, the 32 path points as one batch of 34 rows (the path
                 and f(x), f(baseline)), the gradient, word scores out; one call.
  python_loop    the text tokenized once, then a Python loop of 32 calls of a
                 `tf.function` that runs the model at one path point (batch 1) and
                 returns the gradient w.r.t. the interpolation; the mean in numpy.
  encoder_off    the MiniLM encoder's forward at batch 8 x 128 (attention maps off:
                 the default).
  encoder_on     the same with `output_attentions=True`.

The classifier head is random (seeded): the cost does not depend on it. Both IG engines
are checked to give the same attributions (sum within 1e-3 relative) before timing.
"""
import os
import tempfile

import numpy as np

from bench import compute, harness, machine, peers

STEPS = 32
PACKAGES = ("tensorflow", "tensorflow-text", "keras", "numpy")


def parse_args(argv=None):
    p = harness.parser(__doc__, reps=7, warmup=2)
    p.add_argument("--seq_length", type=int, default=128, help="word pieces of the text")
    return harness.parse(p, argv, minimum={"reps": 5}, positive=("seq_length",))


def main(argv=None):
    args = parse_args(argv)
    env, _ = harness.start("explain: in-graph IG signature vs Python loop; attention maps",
                           PACKAGES, args)
    os.environ.update(env)  # this process runs the engines: before TF is imported
    machine.set_threads(args.threads, tf=True)
    import keras
    import tensorflow as tf

    import bert_tf
    from bert_tf.data import corpora
    from bert_tf.explain import attributions
    from bert_tf.model.encoder import find_encoder
    from bert_tf.tasks.base import model_features

    keras.utils.set_random_seed(0)
    clf = bert_tf.TextClassifier.from_pretrained(corpora.minilm_path(), labels=["a", "b"],
                                                 max_seq_length=args.seq_length)
    task, model = clf.task, clf.model
    text = peers.long_texts(lambda t: int(task.traced_raw_lengths({"text": [t]})[0]), 1,
                            args.seq_length - 1)[0]
    workdir = tempfile.mkdtemp(prefix="bench_explain_")
    signature = tf.saved_model.load(clf.export(workdir, "minilm")).signatures["explain"]

    def run_signature():
        out = signature(text=tf.constant([text]), label_id=tf.constant([-1]))
        return out["scores"].numpy()

    features = model_features(task.traced_preprocess({"text": tf.constant([text])}))
    baseline = attributions.baseline_word_ids(features["input_word_ids"],
                                              task.tokenizer.cls_id, task.tokenizer.sep_id,
                                              task.tokenizer.pad_id)
    label = int(tf.argmax(model(features, training=False)[0]))

    @tf.function
    def gradient_at(alpha):
        alpha = alpha * tf.ones_like(features["input_word_ids"], tf.float32)  # [1, S]
        with tf.GradientTape() as tape:
            tape.watch(alpha)
            with attributions.interpolated(model, alpha, baseline):
                score = model(features, training=False)[0, label]
        return tape.gradient(score, alpha)

    def run_loop():
        total = 0.0
        for k in range(STEPS):
            total = total + gradient_at(tf.constant((k + 0.5) / STEPS)).numpy()
        return total / STEPS

    in_graph, looped = run_signature().sum(), run_loop().sum()
    if not np.isclose(in_graph, looped, rtol=1e-3, atol=1e-6):
        raise SystemExit(f"the engines disagree: signature {in_graph} vs loop {looped}")
    print(f"check   : attributions sum to {in_graph:.6f} (signature) and {looped:.6f} "
          "(loop): equal")

    encoder = find_encoder(model)
    batch = compute.make_inputs(encoder.bert_config.vocab_size, 8, args.seq_length, seed=0)
    forward_off = tf.function(lambda f: encoder(f, training=False)["sequence_output"])
    forward_on = tf.function(lambda f: encoder(f, training=False, output_attentions=True)
                             ["sequence_output"])
    engines = {"signature": run_signature, "python_loop": run_loop,
               "encoder_off": lambda: forward_off(batch).numpy(),
               "encoder_on": lambda: forward_on(batch).numpy()}
    walls = {name: [] for name in engines}
    for fn in engines.values():
        for _ in range(args.warmup):
            fn()
    for _ in range(args.reps):
        for name, fn in engines.items():
            walls[name].append(harness.timed_call(fn)[0])
    rows = [{"engine": name, **harness.summarize(w, 1)} for name, w in walls.items()]
    print(harness.format_table(rows, [("engine", "engine", "{}")] + [
        (f"sec_{k}", f"{k} s", "{:.3f}") for k in ("min", "median", "max")]))
    ratios = harness.print_ratios(
        f"IG, {STEPS} steps, 1 x {args.seq_length} tokens, the signature must not be slower; "
        "attention maps off vs on (ratios of median calls/s):", rows,
        [("signature", "python_loop"), ("encoder_off", "encoder_on")], width=11)
    return 0 if ratios["signature", "python_loop"] >= 1.0 else 1


if __name__ == "__main__":
    status = main()
    print(machine.load_after_run_line())
    raise SystemExit(status)
