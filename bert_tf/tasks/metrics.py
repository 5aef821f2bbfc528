"""Evaluation metrics of the fine-tuning tasks, on whole evaluation sets (NumPy / Python).

Classification: accuracy, macro-F1 and Matthews correlation, as scikit-learn defines them.
Tagging: entity-level precision / recall / F1 as conlleval (and seqeval's default mode)
defines them: an entity counts only if its type and both boundaries are right
(`bert_tf.data.conll.entity_spans`). SQuAD's EM / F1 are the QA task's (`qa/scoring.py`).
"""
import numpy as np

from bert_tf.data.conll import entity_spans


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


def classification_metrics(y_true, y_pred, probabilities=None):
    """Accuracy, macro-F1 and MCC of label ids (or labels), and with `probabilities` the
    loss (mean cross-entropy of the true label ids, as the training loss computes it).

    Macro-F1 averages the per-class F1 over the classes that occur in `y_true` or `y_pred`
    (a class with no true and no predicted example scores 0, as in sklearn with
    zero_division=0). MCC is the multi-class Matthews correlation (Gorodkin's R_K), 0 when
    undefined (a single class predicted or present).

    Args:
        y_true: [N] true labels.
        y_pred: [N] predicted labels.
        probabilities: None or [N, C], each row the predicted distribution over the
            label ids (then `y_true` are label ids).
    Returns:
        {"accuracy": float, "macro_f1": float, "mcc": float[, "loss": float]}.
    """
    matrix = _confusion_matrix(y_true, y_pred).astype(np.float64)
    correct = np.diag(matrix)
    true_counts, pred_counts = matrix.sum(axis=1), matrix.sum(axis=0)
    total = matrix.sum()
    denominator = true_counts + pred_counts  # F1 = 2 TP / (2 TP + FP + FN)
    f1 = np.divide(2 * correct, denominator, out=np.zeros_like(correct), where=denominator > 0)
    covariance = correct.sum() * total - true_counts @ pred_counts
    variance = (total ** 2 - pred_counts @ pred_counts) * (total ** 2 - true_counts @ true_counts)
    results = {"accuracy": float(correct.sum() / total), "macro_f1": float(f1.mean()),
               "mcc": float(covariance / np.sqrt(variance)) if variance > 0 else 0.0}
    if probabilities is not None:
        probabilities = np.asarray(probabilities, np.float64)
        true_probability = probabilities[np.arange(len(probabilities)), np.asarray(y_true)]
        # Clipped as float32 softmax outputs can round to 0 (sklearn's log_loss does too).
        results["loss"] = float(-np.log(np.clip(true_probability, 1e-12, 1.0)).mean())
    return results


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
