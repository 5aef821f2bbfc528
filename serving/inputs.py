"""The request inputs that `bert-predict` and `bert-serving-client` take from their flags:
texts by --text / --text_b (a pair's second texts) / --input=NAME=TEXT (any signature
input by name, e.g. QA's question and context), int32 inputs by --int_input=NAME=INT (the
explain signature's target parts), and rows read from an --input_file (a text file, one
`text` per line, or .jsonl, one object of named texts per line).

Bad flag values raise `InputError` (a ValueError), which the binaries turn into a usage
error; a malformed input file raises ValueError naming its line.
"""
import json
import re

from absl import flags

_INT = re.compile(r"-?[0-9]+")


class InputError(ValueError):
    """Flag values that do not make a request; the message names the flag and value."""


def define_input_flags():
    """Defines --text, --text_b, --input and --int_input in absl's FLAGS."""
    flags.DEFINE_multi_string("text", None, "A text to send (repeat for a batch).")
    flags.DEFINE_multi_string("text_b", None, "Second texts of a pair task, one per --text.")
    flags.DEFINE_multi_string("input", None, "NAME=TEXT: a text for the signature input "
                              "NAME, repeated for a batch; for inputs other than text and "
                              "text_b, e.g. QA's --input=question=... --input=context=...")
    flags.DEFINE_multi_string("int_input", None, "NAME=INT: an int32 input, repeated for a "
                              "batch; the explain signature's target parts, e.g. "
                              "--signature=explain --int_input=label_id=-1 (-1: the "
                              "model's prediction; bert-predict gives -1 to those left out).")


def request_texts(text=None, text_b=None, named=None):
    """{input name: list of str} from --text, --text_b and --input=NAME=TEXT values;
    InputError naming the problem when one is malformed or the columns do not line up."""
    texts = {}
    for name, values in (("text", text), ("text_b", text_b)):
        if values:
            texts[name] = list(values)
    for item in named or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--input must be NAME=TEXT, got {item!r}")
        texts.setdefault(name, []).append(value)
    if not texts:
        raise InputError("Give the texts to send: --text (and --text_b) or --input=NAME=TEXT")
    sizes = {name: len(values) for name, values in texts.items()}
    if len(set(sizes.values())) != 1:
        raise InputError(f"Every input needs one text per row; got {sizes}")
    return texts


def int_inputs(items):
    """(name, int) pairs of --int_input=NAME=INT values; InputError naming a bad one."""
    pairs = []
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name or not _INT.fullmatch(value):
            raise InputError(f"--int_input must be NAME=INT, got {item!r}")
        pairs.append((name, int(value)))
    return pairs


def request_inputs(text=None, text_b=None, named=None, int_items=None, input_file=None):
    """{input name: list of values} of a request: the rows of `input_file` (if any), then
    those of --text / --text_b / --input (required when there is no file), then the
    --int_input values."""
    inputs = read_input_file(input_file) if input_file else {}
    if text or text_b or named or not inputs:
        for name, texts in request_texts(text, text_b, named).items():
            inputs.setdefault(name, []).extend(texts)
    for name, value in int_inputs(int_items):
        inputs.setdefault(name, []).append(value)
    return inputs


def read_input_file(path):
    """{input name: list of str} of a text file (the `text` column) or a .jsonl file of
    {name: text} objects; ValueError naming the line of a malformed row."""
    with open(path, "rb") as f:
        raw_lines = f.read().split(b"\n")
    lines = []
    for number, raw in enumerate(raw_lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}:{number}: not UTF-8 text (byte {raw[e.start]:#04x}); "
                             "save the file as UTF-8") from None
        if line.strip():
            lines.append((number, line.rstrip("\r")))
    if not path.endswith(".jsonl"):
        return {"text": [line for _, line in lines]}
    columns = {}
    for number, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not valid JSON: {e}") from e
        if not isinstance(row, dict) or not all(isinstance(v, str) for v in row.values()):
            raise ValueError(f"{path}:{number}: expected an object of named texts")
        if columns and sorted(row) != sorted(columns):
            raise ValueError(f"{path}:{number}: fields {sorted(row)}, but line 1 has "
                             f"{sorted(columns)}")
        for name, text in row.items():
            columns.setdefault(name, []).append(text)
    return columns
