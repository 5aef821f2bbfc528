"""Explaining a task model's outputs: one graph function from raw text to word scores
(shared by `TaskModel.explain` and the served `explain` signature), and the Python
loop that batches examples through it.

    results = explain(task, model, examples, method="integrated_gradients")
    results[0]["words"], results[0]["scores"], results[0]["spans"]  # per word
"""
import weakref

import numpy as np
import tensorflow as tf

from bert_tf.explain import attributions, words
from bert_tf.model.encoder import find_encoder
from bert_tf.tasks.base import model_features
from bert_tf.tasks.explain_target import ExplainTarget


def explain_fn(task, model, method="integrated_gradients", steps=attributions.DEFAULT_STEPS,
               attention=False):
    """Graph: (raw inputs [B], target {name: int32 [B]}) to the explanation tensors.

    Returns a function giving
        "words": ragged string [B, (words)], the words as they appear in the text;
        "word_start", "word_end": ragged int32 [B, (words)], their character offsets;
        "scores": ragged float32 [B, (words)], each word's summed piece attributions;
        "attributions": float32 [B, S] per sequence position;
        "score", "baseline_score": float32 [B], the target score at the input and at the
            baseline (IG's scores add up to their difference);
        "input_word_ids": int32 [B, S]; "target_<name>": int32 [B], the resolved target;
        with `attention`, "attention": float32 [B, L, N, S, S].
    """
    attributions.check_method(method, steps)
    tokenizer = task.tokenizer

    def run(raw, target):
        preprocessed = task.preprocess(raw)
        features = model_features(preprocessed)
        logits = model(features, training=False)
        target = task.resolve_target(logits, preprocessed, target)
        # One packed row per example (QA: the window holding the answer).
        features = {name: tf.gather(value, task.explain_rows(preprocessed, target))
                    for name, value in features.items()}
        baseline = attributions.baseline_word_ids(
            features["input_word_ids"], tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id)
        found = attributions.attribute(
            model, features, lambda logits, rows: task.target_score(logits, target, rows),
            baseline, method, steps)
        cut = task.explain_words(raw, preprocessed, target)
        starts, ends = cut["word_start"], cut["word_end"]
        scores = words.word_scores(found["attributions"], cut["piece_position"],
                                   cut["piece_word"], starts.row_lengths())
        text = tf.gather(cut["text"], starts.value_rowids())
        outputs = {
            "words": starts.with_flat_values(tf.strings.substr(
                text, tf.cast(starts.flat_values, tf.int32),
                tf.cast(ends.flat_values - starts.flat_values, tf.int32))),
            "word_start": words.char_offsets(cut["text"], starts),
            "word_end": words.char_offsets(cut["text"], ends),
            "scores": scores, "attributions": found["attributions"],
            "score": found["score"], "baseline_score": found["baseline_score"],
            "input_word_ids": features["input_word_ids"],
            "piece_position": cut["piece_position"], "piece_word": cut["piece_word"],
            **{f"target_{name}": value for name, value in target.items()}}
        if attention:
            maps = find_encoder(model)(features, training=False,
                                       output_attentions=True)["attention_probs"]
            outputs["attention"] = tf.stack(maps, axis=1)  # [B, L, N, S, S]
        return outputs

    return run


def explain(task, model, examples, targets=None, method="integrated_gradients",
            steps=attributions.DEFAULT_STEPS, attention=False, batch_size=8):
    """Explains each example's target; a list of dicts, one per example, in order.

    Args:
        task, model: a `bert_tf.tasks.Task` and its keras.Model.
        examples: the task's examples (`task.make_examples`).
        targets: None (each example's predicted target), one target for all, or a list
            with one per example (see the task's `parse_target`).
        method: "integrated_gradients" or "gradient_x_input".
        steps: IG's path points (each example runs steps + 2 rows at once).
        attention: also return the attention maps.
        batch_size: examples per graph call; results do not depend on it.
    Returns:
        [{"text": str, the text explained (the "text" input; NER: the words joined by
          spaces; QA: the context), "words": [str], "spans": [(start, end)] their
          character offsets in it, "scores": [float], "target": str, "score": float,
          "baseline_score": float,
          "tokens": [str] the word pieces of the model input, [CLS] and [SEP] included,
          "token_words": [int] each token's word (-1 for [CLS], [SEP]),
          and with `attention`, "attention": float32 array [L, N, T, T] over the tokens}].
    Raises:
        ValueError for an unknown method or target, a target word past the text, an
        example with nothing to explain (an empty text), or a task without explain
        hooks.
    """
    attributions.check_method(method, steps)
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(task, ExplainTarget):
        raise ValueError(f"The {task.name} task cannot explain its predictions: it is no "
                         "ExplainTarget (see bert_tf/tasks/explain_target.py)")
    spec = task.explain_target_spec()
    if not isinstance(targets, list):
        targets = [targets] * len(examples)
    if len(targets) != len(examples):
        raise ValueError(f"{len(examples)} inputs but {len(targets)} targets")
    parsed = [task.parse_target(target, example, i)
              for i, (example, target) in enumerate(zip(examples, targets))]
    function = _traced(task, model, method, int(steps), bool(attention), spec)
    results = []
    for begin in range(0, len(examples), int(batch_size)):
        chunk = examples[begin:begin + int(batch_size)]
        columns = task.raw_inputs(chunk)
        raw = {name: tf.constant(values) for name, values in columns.items()}
        target = {name: tf.constant([t[name] for t in parsed[begin:begin + len(chunk)]],
                                    tf.int32) for name in spec}
        outputs = function(raw, target)
        results.extend(_per_example(task, outputs, begin, columns[task.explain_text_input],
                                    attention))
    return results


# Tracing takes seconds: each (task, model, settings) is traced once per process.
_TRACED = weakref.WeakKeyDictionary()  # model -> {(id(task), settings): (task, function)}


def _traced(task, model, method, steps, attention, spec):
    functions = _TRACED.setdefault(model, {})
    key = (id(task), method, steps, attention)
    if key not in functions or functions[key][0] is not task:
        functions[key] = (task, tf.function(explain_fn(task, model, method, steps, attention),
                                            input_signature=[task.raw_input_spec(), spec]))
    return functions[key][1]


def _per_example(task, outputs, first_index, texts, attention):
    tokenizer = task.tokenizer
    lists = {name: outputs[name].to_list()
             for name in ("words", "word_start", "word_end", "scores", "piece_position",
                          "piece_word")}
    target_names = [name for name in outputs if name.startswith("target_")]
    ids = outputs["input_word_ids"].numpy()
    results = []
    for b, text in enumerate(texts):
        word_list = [w.decode("utf-8") for w in lists["words"][b]]
        if not word_list:
            raise ValueError(f"input {first_index + b}: the text is empty, nothing to "
                             "explain")
        target = {name[len("target_"):]: int(outputs[name][b]) for name in target_names}
        length = int(np.count_nonzero(ids[b] != tokenizer.pad_id)) or ids.shape[1]
        token_words = [-1] * length
        for position, word in zip(lists["piece_position"][b], lists["piece_word"][b]):
            if 0 <= position < length:
                token_words[position] = word
        result = {
            "text": text, "words": word_list,
            "spans": list(zip(lists["word_start"][b], lists["word_end"][b])),
            "scores": [float(s) for s in lists["scores"][b]],
            "target": task.describe_target(target, word_list),
            "score": float(outputs["score"][b]),
            "baseline_score": float(outputs["baseline_score"][b]),
            "tokens": [tokenizer.id_to_token(int(i)) for i in ids[b, :length]],
            "token_words": token_words,
        }
        if attention:
            result["attention"] = outputs["attention"][b, :, :, :length, :length].numpy()
        results.append(result)
    return results
