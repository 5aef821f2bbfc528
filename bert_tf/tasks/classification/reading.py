"""Classification data files: CSV (with a header), TSV (GLUE style: tab-separated, no
quoting) or JSON lines, one `TextExample` a row.

Columns are named (`text_column="sentence"`) or, for headerless files such as GLUE's
CoLA, given as 0-based indexes (`text_column="3"`): a file read with index columns has no
header row. Labels are strings ("1", "positive"). A data file with an empty text field
is rejected (it is a broken row, named in the error).
"""
import csv
import dataclasses
import io
import json
import os

from bert_tf.data import files

READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}


@dataclasses.dataclass(frozen=True)
class TextExample:
    """One text (or text pair) and its label.

    Attributes:
        text: the first (or only) text.
        text_b: the second text of a pair task, else None.
        label: the label string, or None for unlabelled prediction input.
        source: "file:line", for error messages.
    """
    text: str
    text_b: str | None = None
    label: str | None = None
    source: str = ""

    @property
    def is_labelled(self):
        return self.label is not None


def _rows(path, headerless):
    """Yields (line number, row) from a CSV / TSV / JSONL file; rows are dicts, or lists
    for headerless CSV / TSV."""
    kind = READERS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise ValueError(f"{path}: unknown data format; use one of {sorted(READERS)}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Data file not found: {path}")
    # Lines as csv reads a file opened with newline="": \r\n stays inside quoted fields.
    with io.StringIO(files.read_text(path), newline="") as f:
        if kind == "jsonl":
            for line_number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{line_number}: not valid JSON: {e}") from e
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{line_number}: expected a JSON object")
                yield line_number, row
            return
        # GLUE's TSVs are not quoted: quotes are text.
        options = ({"delimiter": "\t", "quoting": csv.QUOTE_NONE} if kind == "tsv" else {})
        reader = csv.reader(f, **options)
        header = None if headerless else next(reader, None)
        for fields in reader:
            if not fields:
                continue
            if header is None:
                yield reader.line_num, fields
            elif len(fields) != len(header):
                raise ValueError(f"{path}:{reader.line_num}: {len(fields)} fields, but the "
                                 f"header has {len(header)}")
            else:
                yield reader.line_num, dict(zip(header, fields))


def _field(row, column):
    """The row's value of a named or indexed column, or None when the row lacks it."""
    if isinstance(row, list):
        index = int(column)
        return row[index] if index < len(row) else None
    value = row.get(column)
    return None if value is None else str(value)


def read_examples(path, text_column="text", text_b_column=None, label_column="label",
                  require_labels=True):
    """Reads a classification file.

    Args:
        path: .csv, .tsv or .jsonl / .json (one object per line) file.
        text_column: name, or 0-based index for a headerless CSV/TSV, of the text.
        text_b_column: same for the second text of pair tasks; None for single texts.
        label_column: same for the label.
        require_labels: a row without a label is an error (training / evaluation); when
            False a missing label (or label column) gives `label=None`.
    Returns:
        list of TextExample.
    Raises:
        ValueError naming file:line for a missing column or an empty text.
    """
    columns = [c for c in (text_column, text_b_column, label_column) if c is not None]
    headerless = all(str(c).isdigit() for c in columns)
    if not headerless and any(str(c).isdigit() for c in columns):
        raise ValueError(f"Columns {columns} mix names and indexes; use one or the other")
    rows = ((f"{path}:{line_number}", row) for line_number, row in _rows(path, headerless))
    return examples_from_rows(rows, path, text_column, text_b_column, label_column,
                              require_labels)


def examples_from_rows(rows, name, text_column="text", text_b_column=None,
                       label_column="label", require_labels=True):
    """TextExamples of `(where, row)` pairs (rows: dicts by column name, or lists for
    index columns), as `read_examples` reads a file's; `name` names the data in the
    error for none."""
    examples = []
    for where, row in rows:
        texts = []
        for column in (text_column, text_b_column):
            if column is None:
                texts.append(None)
                continue
            value = _field(row, column)
            if value is None:
                raise ValueError(f"{where}: no text column {column!r}")
            if not value.strip():
                raise ValueError(f"{where}: text column {column!r} is empty")
            texts.append(value)
        label = _field(row, label_column)
        if label is None and require_labels:
            raise ValueError(f"{where}: no label column {label_column!r}")
        examples.append(TextExample(texts[0], texts[1], label, where))
    if not examples:
        raise ValueError(f"{name} has no examples")
    return examples


def label_vocabulary(examples):
    """The sorted distinct labels of labelled examples."""
    labels = sorted({ex.label for ex in examples if ex.label is not None})
    if len(labels) < 2:
        raise ValueError(f"Classification needs at least 2 labels in the data, found {labels}")
    return labels
