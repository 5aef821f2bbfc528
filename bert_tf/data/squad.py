"""SQuAD v1.1 / v2.0 JSON files: one example per question.

`{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas": [{"id",
"question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}`.
`answer_start` counts code points of the context (Python `str` indexes), and
`context[answer_start:answer_start + len(text)]` must be the answer text. v2.0 questions
with `"is_impossible": true` have no answer; they need `version_2_with_negative=True`.

    examples = read_squad("dev-v1.1.json")
"""
import dataclasses
import json
import os

from bert_tf.data import files


@dataclasses.dataclass(frozen=True)
class QaExample:
    """One question on a context.

    Attributes:
        id: the question's SQuAD id (unique in a file).
        question: str.
        context: str.
        answers: tuple of (text, char start) pairs; empty for an unanswerable v2.0
            question; None for unlabelled prediction input.
        source: "file: question <id>", for error messages.
    """
    id: str
    question: str
    context: str
    answers: tuple | None
    source: str = ""

    @property
    def is_labelled(self):
        return self.answers is not None

    @property
    def is_impossible(self):
        return self.answers == ()


def _require(value, kind, where, what):
    if not isinstance(value, kind):
        raise ValueError(f"{where}: {what} must be a {kind.__name__}, got "
                         f"{type(value).__name__}")
    return value


def read_squad(path, require_labels=True, version_2_with_negative=False):
    """Reads a SQuAD-format JSON file.

    Args:
        path: the file.
        require_labels: every question must have answers (or, with v2.0, be marked
            impossible). When False, questions without answers get `answers=None`.
        version_2_with_negative: allow unanswerable questions (`is_impossible`).
    Returns:
        list of QaExample, in file order.
    Raises:
        FileNotFoundError; ValueError naming the file and question for malformed JSON,
        missing fields, empty texts, answers that are not at `answer_start` in the
        context, duplicate ids, or an impossible question without v2.0.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"SQuAD file not found: {path}")
    try:
        document = json.loads(files.read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError(f"{path}: expected a SQuAD object with a 'data' list")
    examples, seen = [], set()
    for a, article in enumerate(document["data"]):
        paragraphs = _require(article, dict, f"{path}: data[{a}]", "an article").get(
            "paragraphs")
        for p, paragraph in enumerate(_require(paragraphs, list, f"{path}: data[{a}]",
                                               "'paragraphs'")):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = _require(_require(paragraph, dict, where, "a paragraph").get("context"),
                               str, where, "'context'")
            if not context.strip():
                raise ValueError(f"{where}: empty context")
            for qa in _require(paragraph.get("qas"), list, where, "'qas'"):
                examples.append(_read_question(qa, context, path, where, require_labels,
                                               version_2_with_negative))
                if examples[-1].id in seen:
                    raise ValueError(f"{where}: question id {examples[-1].id!r} appears twice")
                seen.add(examples[-1].id)
    if not examples:
        raise ValueError(f"{path} has no questions")
    return examples


def _read_question(qa, context, path, where, require_labels, version_2_with_negative):
    _require(qa, dict, where, "a question")
    qid = qa.get("id")
    if not isinstance(qid, (str, int)) or str(qid) == "":
        raise ValueError(f"{where}: a question has no 'id'")
    where = f"{path}: question {qid}"
    question = _require(qa.get("question"), str, where, "'question'")
    if not question.strip():
        raise ValueError(f"{where}: empty question")
    impossible = bool(qa.get("is_impossible", False))
    if impossible and not version_2_with_negative:
        raise ValueError(f"{where}: is_impossible is set, but the task is SQuAD v1.1; "
                         "use version_2_with_negative (--version_2_with_negative)")
    raw_answers = qa.get("answers")
    if raw_answers is None or (not raw_answers and not impossible):
        if require_labels:
            raise ValueError(f"{where}: no answers (and not is_impossible)")
        return QaExample(str(qid), question, context, None, where)
    answers = []
    for answer in [] if impossible else _require(raw_answers, list, where, "'answers'"):
        text = _require(_require(answer, dict, where, "an answer").get("text"), str, where,
                        "an answer's 'text'")
        start = answer.get("answer_start")
        if not isinstance(start, int) or context[start:start + len(text)] != text or not text:
            raise ValueError(f"{where}: answer {text!r} is not at answer_start {start!r} "
                             "of the context")
        answers.append((text, start))
    return QaExample(str(qid), question, context, tuple(answers), where)


@dataclasses.dataclass(frozen=True)
class SquadParagraph:
    """One context of a SQuAD file, as a document to retrieve: `id` is
    "<article title>/<paragraph number>"; `question_ids` are its questions'."""
    id: str
    title: str
    text: str
    question_ids: tuple


def read_squad_paragraphs(path):
    """The paragraphs of a SQuAD file (checked as `read_squad` checks them), in file
    order: the corpus of question answering over documents."""
    read_squad(path, require_labels=False, version_2_with_negative=True)  # the checks
    document = json.loads(files.read_text(path))
    paragraphs = []
    for a, article in enumerate(document["data"]):
        title = str(article.get("title") or f"article{a}")
        for p, paragraph in enumerate(article["paragraphs"]):
            ids = tuple(str(qa["id"]) for qa in paragraph["qas"])
            paragraphs.append(SquadParagraph(f"{title}/{p}", title, paragraph["context"], ids))
    return paragraphs
