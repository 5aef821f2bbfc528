"""Checkpoint folders in the two published layouts, read and written whole.

    google: bert_config.json, bert_model.ckpt.{index,data-*}, vocab.txt
    hf:     config.json, model.safetensors (or pytorch_model.bin), vocab.txt,
            tokenizer_config.json

A folder is written next to its destination and renamed into place at the end, so a
failure never leaves a half-written checkpoint, and an existing folder is not replaced.
"""
import dataclasses
import json
import os
import shutil
import tempfile

from bert_tf.model.config import BertConfig
from bert_tf.convert import google, hf

FORMATS = ("google", "hf")


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint read into memory: weights by Google name, in Google's layout."""
    config: BertConfig
    weights: dict
    vocab_path: str | None = None
    lower_case: bool | None = None  # None: not recorded; infer it from the vocab.


def checkpoint_folder(path):
    """The folder of a checkpoint folder or TF1 prefix; FileNotFoundError saying that
    the folder does not exist, NotADirectoryError that `path` is some other file
    (rather than what its folder lacks)."""
    if os.path.isdir(path):
        return path
    if not os.path.exists(path) and not os.path.isfile(path + ".index"):
        raise FileNotFoundError(f"Checkpoint folder {path} does not exist (nor a TF "
                                f"checkpoint {path}.index)")
    try:
        google.checkpoint_prefix(path)
    except FileNotFoundError:
        raise NotADirectoryError(
            f"Checkpoint {path} is a file, not a checkpoint folder: give the folder that "
            "holds config.json (Hugging Face layout) or bert_config.json (Google layout), "
            "or a TF checkpoint prefix such as bert_model.ckpt") from None
    return os.path.dirname(path)  # a TF1 prefix or one of its files


def detect_format(path):
    checkpoint_folder(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")):
            return "hf"
        if os.path.isfile(os.path.join(path, "bert_config.json")):
            return "google"
        raise FileNotFoundError(
            f"{path} is not a BERT checkpoint folder: it has neither config.json (Hugging "
            "Face layout) nor bert_config.json (Google layout)")
    google.checkpoint_prefix(path)  # raises if there is no TF checkpoint at `path`
    return "google"


def read(path, checkpoint_format="auto"):
    """Reads a checkpoint folder (or a Google `bert_model.ckpt` prefix) of either layout.

    Args:
        path: folder, or a TF1 checkpoint prefix whose folder holds bert_config.json.
        checkpoint_format: "google", "hf" or "auto".
    The weights are not checked against a model here: `weights.set_weights` does that.
    """
    if checkpoint_format == "auto":
        checkpoint_format = detect_format(path)
    if checkpoint_format not in FORMATS:
        raise ValueError(f"Checkpoint format must be one of {FORMATS} or 'auto', got "
                         f"{checkpoint_format!r}")
    folder = checkpoint_folder(path)
    vocab_path = os.path.join(folder, "vocab.txt")
    vocab_path = vocab_path if os.path.isfile(vocab_path) else None
    if checkpoint_format == "google":
        config = BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
        return Checkpoint(config, google.read_checkpoint(path), vocab_path)

    config = BertConfig.from_json_file(os.path.join(folder, "config.json"))
    weights = hf.from_hf(hf.read_weights(folder))
    return Checkpoint(config, weights, vocab_path, recorded_lower_case(folder))


def recorded_lower_case(folder):
    path = os.path.join(folder, "tokenizer_config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("do_lower_case")


def write(checkpoint, folder, checkpoint_format):
    """Writes `checkpoint` as a new folder in `checkpoint_format`; refuses to replace
    one."""
    if checkpoint_format not in FORMATS:
        raise ValueError(f"Checkpoint format must be one of {FORMATS}, got {checkpoint_format!r}")
    if os.path.exists(folder):
        raise FileExistsError(f"{folder} already exists; choose a new output folder")
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.partial-", dir=parent)
    try:
        if checkpoint_format == "google":
            checkpoint.config.to_json_file(os.path.join(staging, "bert_config.json"), "google")
            google.write_checkpoint(checkpoint.weights, os.path.join(staging, "bert_model.ckpt"))
        else:
            checkpoint.config.to_json_file(os.path.join(staging, "config.json"), "hf")
            hf.write_weights(checkpoint.weights, staging)
            if checkpoint.lower_case is not None:
                with open(os.path.join(staging, "tokenizer_config.json"), "w") as f:
                    json.dump({"do_lower_case": checkpoint.lower_case,
                               "tokenizer_class": "BertTokenizer"}, f, indent=2)
        if checkpoint.vocab_path:
            shutil.copyfile(checkpoint.vocab_path, os.path.join(staging, "vocab.txt"))
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
