"""File patterns as the data tools take them: globs, as a list or one comma-separated str."""
import tensorflow as tf


def match_files(patterns, what="input"):
    """Sorted, de-duplicated files matching `patterns` (local or any `tf.io.gfile` scheme).

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
        files.update(matches)
    return sorted(files)
