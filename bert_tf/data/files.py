"""Input files as the data tools take them: globs (a list or one comma-separated str),
and text read as UTF-8 with errors that name the file and line."""
import os

import tensorflow as tf


def read_text(path, what="data file"):
    """The UTF-8 text of a file.

    Raises:
        FileNotFoundError naming the file; ValueError naming the file and line of the
        first byte that is not UTF-8.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not UTF-8 text (byte {raw[e.start]:#04x} at offset "
                         f"{e.start}); save the file as UTF-8") from None


def match_files(patterns, what="input"):
    """Sorted, de-duplicated files matching `patterns` (local or any `tf.io.gfile` scheme).

    Local files come back as absolute paths: a pretraining checkpoint records its data
    position by file name, and must find the same files when the run resumes from
    another working directory.

    Args:
        patterns: list of globs, or one str of comma-separated globs.
        what: str, what the files are, for the error message.
    Raises:
        FileNotFoundError naming the first pattern that matches no file.
    """
    if isinstance(patterns, str):
        patterns = patterns.split(",")
    patterns = [p.strip() for p in patterns if p.strip()]
    if not patterns:
        raise FileNotFoundError(f"No {what} files given")
    files = set()
    for pattern in patterns:
        matches = [path for path in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(path)]
        if not matches:
            raise FileNotFoundError(f"No {what} file matches {pattern!r}")
        files.update(matches if "://" in pattern else map(os.path.abspath, matches))
    return sorted(files)
