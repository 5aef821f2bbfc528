"""The official SQuAD v1.1 and v2.0 scores (EM / F1), as the official evaluation scripts
compute them, so that `pip install bert_tf` alone scores QA. Checked against the copies of
those scripts in tf-models-official (`official/nlp/tools/squad_evaluate_v1_1.py`,
`_v2_0.py`) in tests/test_task_qa.py.

The two versions differ in small ways, kept here: v2.0 drops gold answers that
normalize to nothing (an unanswerable question's only answer is ""), and scores an empty
prediction or gold answer 1 when both are empty; v1.1 scores any empty side 0.
"""
import collections
import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text):
    """Lower case, without punctuation, articles and extra whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _f1(gold, predicted, version_2):
    gold_tokens, predicted_tokens = normalize_answer(gold).split(), \
        normalize_answer(predicted).split()
    if version_2 and (not gold_tokens or not predicted_tokens):
        return float(gold_tokens == predicted_tokens)  # no-answer agrees or not
    same = sum((collections.Counter(gold_tokens) & collections.Counter(predicted_tokens))
               .values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def raw_scores(answers, predictions, version_2):
    """({id: exact 0/1}, {id: F1 in [0, 1]}): each prediction's best over its golds."""
    exact, f1 = {}, {}
    for qid, golds in answers.items():
        if version_2:
            golds = [gold for gold in golds if normalize_answer(gold)] or [""]
        predicted = predictions[qid]
        exact[qid] = max(float(normalize_answer(g) == normalize_answer(predicted))
                         for g in golds)
        f1[qid] = max(_f1(g, predicted, version_2) for g in golds)
    return exact, f1


def best_threshold(predictions, scores, null_odds, has_answer):
    """(best score in percent, its null-odds threshold): answering nothing for every
    question whose null odds exceed the threshold (v2.0's `find_best_thresh`)."""
    score = best = sum(not has for has in has_answer.values())
    threshold = 0.0
    for qid in sorted(null_odds, key=lambda k: null_odds[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            score += scores[qid]
        elif predictions[qid]:
            score -= 1
        if score > best:
            best, threshold = score, null_odds[qid]
    return 100.0 * best / len(scores), threshold


def score_v1(answers, predictions):
    """SQuAD v1.1: {"exact_match", "f1"} in percent."""
    exact, f1 = raw_scores(answers, predictions, version_2=False)
    return {"exact_match": 100.0 * sum(exact.values()) / len(exact),
            "f1": 100.0 * sum(f1.values()) / len(f1)}


def score_v2(answers, predictions, null_odds, span_predictions):
    """SQuAD v2.0: {"exact_match", "f1"} of `predictions` as they are, the same on the
    answerable ("HasAns_") and unanswerable ("NoAns_") questions present, and the best
    scores over null-odds thresholds of `span_predictions` ("best_exact", ...,
    "best_f1_thresh")."""
    has_answer = {qid: bool(golds) for qid, golds in answers.items()}
    exact, f1 = raw_scores(answers, predictions, version_2=True)
    results = {"exact_match": 100.0 * sum(exact.values()) / len(exact),
               "f1": 100.0 * sum(f1.values()) / len(f1)}
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [qid for qid, has in has_answer.items() if has == wanted]
        if ids:
            results[f"{prefix}_exact"] = 100.0 * sum(exact[q] for q in ids) / len(ids)
            results[f"{prefix}_f1"] = 100.0 * sum(f1[q] for q in ids) / len(ids)
    span_exact, span_f1 = raw_scores(answers, span_predictions, version_2=True)
    results["best_exact"], results["best_exact_thresh"] = best_threshold(
        span_predictions, span_exact, null_odds, has_answer)
    results["best_f1"], results["best_f1_thresh"] = best_threshold(
        span_predictions, span_f1, null_odds, has_answer)
    return results


def squad_metrics(answers, predictions, null_odds=None, span_predictions=None):
    """Official SQuAD scores, in percent (v1.1; v2.0 when `null_odds` is given), as the
    official evaluation scripts compute them (above).

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
        return score_v1(answers, predictions)
    if span_predictions is None:
        raise ValueError("SQuAD v2.0 scoring needs span_predictions with null_odds")
    return score_v2(answers, predictions, null_odds, span_predictions)
