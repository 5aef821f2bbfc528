"""A corpus to passages: the records of JSONL, CSV or plain-text files (one file, or
every such file under a folder), each document cut into passages of `window` words
every `stride` words, each passage keeping its document's id and its character offsets
in the document's text.

    passages = read_corpus("corpus/", window=128, stride=96)
    passages[0]   # Passage(id="doc1", doc_id="doc1", start=0, end=412, text=..., source=...)

Records: a JSONL object or a CSV row (with a header) has a `text` field and may have an
`id`; a plain-text file holds one record per non-empty line. A record without an id is
named "<file>:<line>" (the file relative to the corpus folder). A document that fits in
one window is one passage with the document's id; a longer one gives passages
"<id>#0", "<id>#1", ... Duplicate ids and empty texts are errors naming file and line.
"""
import csv
import dataclasses
import io
import json
import os
import re

from bert_tf.data import files

CORPUS_FORMATS = (".jsonl", ".csv", ".txt")
DEFAULT_WINDOW, DEFAULT_STRIDE = 128, 96  # words; 128 words fit MiniLM's 256 pieces
_WORD = re.compile(r"\S+")


@dataclasses.dataclass(frozen=True)
class Passage:
    """A piece of a document: `text` is document_text[start:end] (character offsets)."""
    id: str
    doc_id: str
    start: int
    end: int
    text: str
    source: str = ""  # "file:line" of its document


def _records(path, name):
    """(line, id or None, text) of one corpus file; `name` is how ids refer to it."""
    extension = os.path.splitext(path)[1].lower()
    content = files.read_text(path)
    if extension == ".txt":
        for line_number, line in enumerate(content.splitlines(), 1):
            if line.strip():
                yield line_number, None, line
        return
    if extension == ".jsonl":
        rows = []
        for line_number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{line_number}: not valid JSON: {e}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{line_number}: expected a JSON object")
            rows.append((line_number, row))
    else:
        reader = csv.DictReader(io.StringIO(content, newline=""))
        rows = [(reader.line_num, row) for row in reader]
    for line_number, row in rows:
        if "text" not in row:
            raise ValueError(f"{path}:{line_number}: no 'text' field")
        record_id = row.get("id")
        yield line_number, None if record_id in (None, "") else str(record_id), str(row["text"])


def corpus_files(path):
    """[(file path, name in ids)]: the file itself, or the corpus files under a folder
    (sorted, recursively)."""
    if os.path.isfile(path):
        return [(path, os.path.basename(path))]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Corpus not found: {path}")
    found = sorted(os.path.join(root, name) for root, _, names in os.walk(path)
                   for name in names if os.path.splitext(name)[1].lower() in CORPUS_FORMATS)
    if not found:
        raise ValueError(f"{path} holds no corpus file ({', '.join(CORPUS_FORMATS)})")
    return [(file, os.path.relpath(file, path)) for file in found]


def split_document(doc_id, text, window=DEFAULT_WINDOW, stride=DEFAULT_STRIDE, source=""):
    """Passages of `window` words starting every `stride` words (the last one ends at the
    document's last word), with character offsets into `text`."""
    words = [match.span() for match in _WORD.finditer(text)]
    starts = list(range(0, max(len(words) - window, 0) + 1, stride))
    if starts[-1] + window < len(words):  # the stride skipped the tail: one more window
        starts.append(len(words) - window)
    passages = []
    for number, first in enumerate(starts):
        start, end = words[first][0], words[min(first + window, len(words)) - 1][1]
        passage_id = doc_id if len(starts) == 1 else f"{doc_id}#{number}"
        passages.append(Passage(passage_id, doc_id, start, end, text[start:end], source))
    return passages


def check_window(window, stride):
    if window < 1 or not 1 <= stride <= window:
        raise ValueError(f"need window >= 1 and 1 <= stride <= window (words), got "
                         f"window={window}, stride={stride}")


def file_passages(file, name, window=DEFAULT_WINDOW, stride=DEFAULT_STRIDE):
    """The passages of one corpus file, in order; `name` is how ids refer to the file.
    What `read_corpus` reads for each file, and a Beam worker for its share of them
    (bert_tf/retrieval/beam.py).

    Raises:
        ValueError naming file:line for an unknown format, a record without text or an
        empty text.
    """
    if os.path.splitext(file)[1].lower() not in CORPUS_FORMATS:
        raise ValueError(f"{file}: unknown corpus format; use one of {CORPUS_FORMATS}")
    for line_number, doc_id, text in _records(file, name):
        where = f"{file}:{line_number}"
        if not text.strip():
            raise ValueError(f"{where}: the text is empty")
        yield from split_document(doc_id or f"{name}:{line_number}", text, window, stride,
                                  where)


def read_corpus(path, window=DEFAULT_WINDOW, stride=DEFAULT_STRIDE):
    """The passages of a corpus file or folder (see the module docstring).

    Raises:
        ValueError naming file:line for a record without text, an empty text or an id
        seen before (and where), or a corpus with no record.
    """
    check_window(window, stride)
    passages, seen = [], {}
    for file, name in corpus_files(path):
        for passage in file_passages(file, name, window, stride):
            if passage.id in seen:
                raise ValueError(f"{passage.source}: duplicate id {passage.id!r} (first at "
                                 f"{seen[passage.id]}); ids must be unique")
            seen[passage.id] = passage.source
            passages.append(passage)
    if not passages:
        raise ValueError(f"{path} has no records")
    return passages
