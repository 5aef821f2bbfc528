"""Evaluation metrics of the fine-tuning tasks, on whole evaluation sets (NumPy / Python).

Classification: accuracy, macro-F1 and Matthews correlation, as scikit-learn defines them.
Tagging: entity-level precision / recall / F1 as conlleval (and seqeval's default mode)
defines them: an entity counts only if its type and both boundaries are right.
"""
import numpy as np

from bert_tf.tasks import squad_scoring


def _confusion_matrix(y_true, y_pred):
    """Confusion matrix [K, K] over the labels present in either array (rows: true)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be vectors of one length, got shapes "
                         f"{y_true.shape} and {y_pred.shape}")
    if not y_true.size:
        raise ValueError("no examples to score")
    labels, indices = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    true_index, pred_index = indices[:y_true.size], indices[y_true.size:]
    matrix = np.zeros((labels.size, labels.size), np.int64)
    np.add.at(matrix, (true_index, pred_index), 1)
    return matrix


def classification_metrics(y_true, y_pred):
    """Accuracy, macro-F1 and MCC of label ids (or labels).

    Macro-F1 averages the per-class F1 over the classes that occur in `y_true` or `y_pred`
    (a class with no true and no predicted example scores 0, as in sklearn with
    zero_division=0). MCC is the multi-class Matthews correlation (Gorodkin's R_K), 0 when
    undefined (a single class predicted or present).

    Args:
        y_true: [N] true labels.
        y_pred: [N] predicted labels.
    Returns:
        {"accuracy": float, "macro_f1": float, "mcc": float}.
    """
    matrix = _confusion_matrix(y_true, y_pred).astype(np.float64)
    correct = np.diag(matrix)
    true_counts, pred_counts = matrix.sum(axis=1), matrix.sum(axis=0)
    total = matrix.sum()
    denominator = true_counts + pred_counts  # F1 = 2 TP / (2 TP + FP + FN)
    f1 = np.divide(2 * correct, denominator, out=np.zeros_like(correct), where=denominator > 0)
    covariance = correct.sum() * total - true_counts @ pred_counts
    variance = (total ** 2 - pred_counts @ pred_counts) * (total ** 2 - true_counts @ true_counts)
    return {"accuracy": float(correct.sum() / total), "macro_f1": float(f1.mean()),
            "mcc": float(covariance / np.sqrt(variance)) if variance > 0 else 0.0}


def _split_tag(tag):
    """("B", "PER") from "B-PER"; ("O", "") from "O"."""
    if tag == "O":
        return "O", ""
    prefix, _, entity_type = tag.partition("-")
    return prefix, entity_type


def _chunk_ends(prev_prefix, prefix, prev_type, entity_type):
    """conlleval's endOfChunk: does the chunk open before this tag end here?"""
    return (prev_prefix in ("E", "S")
            or (prev_prefix in ("B", "I") and prefix in ("B", "S", "O"))
            or (prev_prefix != "O" and prev_type != entity_type))


def _chunk_starts(prev_prefix, prefix, prev_type, entity_type):
    """conlleval's startOfChunk: does a chunk start at this tag?"""
    return (prefix in ("B", "S")
            or (prev_prefix in ("E", "S", "O") and prefix in ("E", "I"))
            or (prefix != "O" and prev_type != entity_type))


def entity_spans(tags):
    """The entities in one tag sequence, as conlleval reads them.

    Works for IOB1, IOB2 and BIOES alike: an I- after O or after another type starts an
    entity (IOB1), B-/S- always start one, E-/S- end one.

    Args:
        tags: list of str, e.g. ["B-PER", "I-PER", "O", "I-LOC"].
    Returns:
        list of (type, start, end_inclusive).
    """
    spans = []
    prev_prefix, prev_type, start = "O", "", None
    for i, tag in enumerate([*tags, "O"]):  # the sentinel closes a trailing entity
        prefix, entity_type = _split_tag(tag)
        if prefix not in ("B", "I", "E", "S", "O") or (prefix != "O" and not entity_type):
            raise ValueError(f"Tag {tag!r} at position {i} is not O or B-/I-/E-/S-<TYPE>")
        if start is not None and _chunk_ends(prev_prefix, prefix, prev_type, entity_type):
            spans.append((prev_type, start, i - 1))
            start = None
        if _chunk_starts(prev_prefix, prefix, prev_type, entity_type):
            start = i
        prev_prefix, prev_type = prefix, entity_type
    return spans


def entity_metrics(true_sequences, pred_sequences):
    """Micro-averaged entity precision, recall and F1 over sentences (conlleval).

    Args:
        true_sequences: list of tag lists, one per sentence.
        pred_sequences: list of tag lists, the same lengths.
    Returns:
        {"precision": float, "recall": float, "f1": float}, 0 where undefined.
    """
    if len(true_sequences) != len(pred_sequences):
        raise ValueError(f"{len(true_sequences)} true sentences but {len(pred_sequences)} "
                         "predicted")
    num_true = num_pred = num_correct = 0
    for i, (true_tags, pred_tags) in enumerate(zip(true_sequences, pred_sequences)):
        if len(true_tags) != len(pred_tags):
            raise ValueError(f"Sentence {i} has {len(true_tags)} true tags but "
                             f"{len(pred_tags)} predicted")
        true_spans, pred_spans = set(entity_spans(true_tags)), set(entity_spans(pred_tags))
        num_true += len(true_spans)
        num_pred += len(pred_spans)
        num_correct += len(true_spans & pred_spans)
    precision = num_correct / num_pred if num_pred else 0.0
    recall = num_correct / num_true if num_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def squad_metrics(answers, predictions, null_odds=None, span_predictions=None):
    """Official SQuAD scores, in percent (v1.1; v2.0 when `null_odds` is given), as the
    official evaluation scripts compute them (`squad_scoring.py`).

    Args:
        answers: {question id: list of gold answer texts}; an empty list marks an
            unanswerable (v2.0) question.
        predictions: {question id: predicted text}, "" for no answer.
        null_odds: None for SQuAD v1.1; for v2.0, {question id: null score - best span
            score}.
        span_predictions: v2.0: {question id: best non-empty span}, from which the
            null-odds threshold that would have scored best is found.
    Returns:
        v1.1: {"exact_match", "f1"}; v2.0: {"exact_match", "f1", "HasAns_exact",
        "HasAns_f1", "NoAns_exact", "NoAns_f1" (the splits present), "best_exact",
        "best_exact_thresh", "best_f1", "best_f1_thresh"}. `exact_match` and `f1` score
        `predictions` as they are (the script's own cut at null odds > 1 is not applied).
    """
    missing = sorted(set(answers) - set(predictions))
    if missing:
        raise ValueError(f"no prediction for {len(missing)} questions, e.g. {missing[:3]}")
    if null_odds is None:
        if any(not texts for texts in answers.values()):
            raise ValueError("unanswerable questions need SQuAD v2.0 scoring (null_odds)")
        return squad_scoring.score_v1(answers, predictions)
    if span_predictions is None:
        raise ValueError("SQuAD v2.0 scoring needs span_predictions with null_odds")
    return squad_scoring.score_v2(answers, predictions, null_odds, span_predictions)
