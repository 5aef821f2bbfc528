"""Token attributions w.r.t. the word-piece embeddings, in the TF graph.

Integrated Gradients (Sundararajan et al., 2017) attributes a scalar output f (the
task's target score, e.g. one class's logit) to the input tokens: with e(alpha) the
embeddings on the straight path from a baseline e' (alpha 0) to the input e (alpha 1),

    IG_t = (e_t - e'_t) . integral_0^1 df/de_t(e(alpha)) d alpha,

and the attributions add up to f(e) - f(e') (completeness). The baseline is the [PAD]
embedding at every position except [CLS] and [SEP], which keep theirs (positions and
segments are unchanged), so the special tokens get 0. `BertEmbeddings` interpolates
each position with its own alpha_t (`interpolated`); dF/d alpha_t along the path is the
integrand above, summed over the hidden dimension. The integral is the midpoint rule
over `steps` points, all of them one batch of B * (steps + 2) rows (the two extra rows
are alpha 1 and 0: f(x) and f(baseline), to check completeness).

Gradient x input is the one-point version: (e_t - e'_t) . df/de_t at the input.
"""
import contextlib

import tensorflow as tf

from bert_tf.model.encoder import find_encoder

METHODS = ("integrated_gradients", "gradient_x_input")
DEFAULT_STEPS = 32


@contextlib.contextmanager
def interpolated(model, alpha, baseline_word_ids):
    """While in the block, calls of `model` (a task model or encoder) embed each word
    piece at `baseline + alpha * (word - baseline)`. Meant for tracing a graph (or one
    eager call) at a time: the setting is the layer's, not per thread.

    Args:
        model: keras.Model holding one BertEncoder.
        alpha: float [B, S].
        baseline_word_ids: int32 [B, S].
    """
    embeddings = find_encoder(model).embeddings
    embeddings.interpolation = (alpha, baseline_word_ids)
    try:
        yield
    finally:
        embeddings.interpolation = None


def baseline_word_ids(input_word_ids, cls_id, sep_id, pad_id):
    """int32 [B, S]: [PAD] everywhere except at [CLS] and [SEP]."""
    keep = (input_word_ids == cls_id) | (input_word_ids == sep_id)
    return tf.where(keep, input_word_ids, tf.cast(pad_id, input_word_ids.dtype))


def check_method(method, steps):
    if method not in METHODS:
        raise ValueError(f"Unknown explanation method {method!r}; use one of {METHODS}")
    if method == "integrated_gradients" and (isinstance(steps, bool) or int(steps) < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")


def attribute(model, features, score_fn, baseline_ids, method="integrated_gradients",
              steps=DEFAULT_STEPS):
    """Attributions of every position of every row (graph-compatible).

    Args:
        model: the task's keras.Model (features in, logits out).
        features: the three int32 [B, S] features.
        score_fn: callable(logits of R rows, row index int32 [R] into the batch) ->
            float [R], the target score of each row.
        baseline_ids: int32 [B, S], see `baseline_word_ids`.
        method: one of METHODS.
        steps: int, points of the IG path integral.
    Returns:
        {"attributions": float32 [B, S] (0 at [CLS], [SEP] and padding),
         "score": float32 [B] f(input), "baseline_score": float32 [B] f(baseline)}.
    """
    check_method(method, steps)
    steps = int(steps) if method == "integrated_gradients" else 1
    if method == "integrated_gradients":
        path = (tf.range(steps, dtype=tf.float32) + 0.5) / steps  # midpoints
    else:
        path = tf.ones([1])
    alphas = tf.concat([path, [1.0, 0.0]], 0)  # [P], P = steps + 2
    points = steps + 2
    batch, seq = tf.shape(features["input_word_ids"])[0], tf.shape(features["input_word_ids"])[1]

    def repeat(x):  # [B, ...] -> [B * P, ...], each example's rows together
        return tf.repeat(x, points, axis=0)

    rows = {name: repeat(value) for name, value in features.items()}
    alpha = tf.tile(alphas, [batch])[:, None] * tf.ones([1, seq])  # [B * P, S]
    row_example = tf.repeat(tf.range(batch), points)
    with tf.GradientTape() as tape:
        tape.watch(alpha)
        with interpolated(model, alpha, repeat(baseline_ids)):
            logits = model(rows, training=False)
        scores = tf.cast(score_fn(logits, row_example), tf.float32)  # [B * P]
    # Rows are independent: the gradient of the sum is each row's own.
    grads = tf.reshape(tape.gradient(scores, alpha), [batch, points, seq])
    scores = tf.reshape(scores, [batch, points])
    return {"attributions": tf.reduce_mean(grads[:, :steps], axis=1),
            "score": scores[:, steps], "baseline_score": scores[:, steps + 1]}
