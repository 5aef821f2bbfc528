"""Hugging Face BERT weights (`model.safetensors`, sharded or not, or `pytorch_model.bin`),
read into and written from Google-named arrays.

HF names follow Google's with dots, `weight` for kernels/gammas (torch Linear weights are
[out, in], so kernels are transposed), and `bias` for betas; `BertModel` files have no
`bert.` prefix, `BertForPreTraining` files do and add the `cls.` heads.
"""
import json
import os
import re

import numpy as np

# Google name (after the "bert/" prefix) -> HF name, for the non-layer weights.
_EMBEDDINGS = {
    "embeddings/word_embeddings": "embeddings.word_embeddings.weight",
    "embeddings/position_embeddings": "embeddings.position_embeddings.weight",
    "embeddings/token_type_embeddings": "embeddings.token_type_embeddings.weight",
}
_HEADS = {
    "cls/predictions/output_bias": "cls.predictions.bias",
    "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
    "cls/seq_relationship/output_bias": "cls.seq_relationship.bias",
}
_SUFFIX = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
# HF buffers and tied copies that carry no weights of their own.
_HF_DERIVED = re.compile(r"(position_ids$|cls\.predictions\.decoder\.(weight|bias)$)")

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def hf_name(google_name, prefixed):
    """The HF name of a Google-named weight; `prefixed` adds `bert.` (BertForPreTraining)."""
    if google_name in _HEADS:
        return _HEADS[google_name]
    name = google_name.removeprefix("bert/")
    if name in _EMBEDDINGS:
        name = _EMBEDDINGS[name]
    else:
        path, leaf = name.rsplit("/", 1)
        path = re.sub(r"layer_(\d+)", r"layer.\1", path)
        name = f"{path.replace('/', '.')}.{_SUFFIX[leaf]}"
    if google_name.startswith("cls/"):
        return name
    return f"bert.{name}" if prefixed else name


def _is_kernel(google_name):
    return google_name.endswith("/kernel")


def to_hf(weights):
    """{google_name: array} -> {hf_name: array}; prefixed with `bert.` when heads are in."""
    prefixed = any(n.startswith("cls/") for n in weights)
    return {hf_name(n, prefixed): (np.ascontiguousarray(v.T) if _is_kernel(n) else v)
            for n, v in weights.items()}


def google_name(hf_name):
    """The Google name of a HF weight (with or without `bert.`, old or new LayerNorm names).

    Names that are not BERT's come out as some other name, which `weights.set_weights`
    then reports as a weight the model does not have.
    """
    name = re.sub(r"^bert\.", "", hf_name)
    for google, hf_form in _HEADS.items():
        if name == hf_form:
            return google
    for google, hf_form in _EMBEDDINGS.items():
        if name == hf_form:
            return f"bert/{google}"
    path, _, leaf = name.rpartition(".")
    is_layer_norm = path.endswith("LayerNorm")
    leaf = {"weight": "gamma" if is_layer_norm else "kernel",
            "bias": "beta" if is_layer_norm else "bias"}.get(leaf, leaf)
    path = re.sub(r"layer\.(\d+)", r"layer_\1", path).replace(".", "/")
    return f"{path}/{leaf}" if path.startswith("cls/") else f"bert/{path}/{leaf}"


def from_hf(hf_weights):
    """{hf_name: array} -> {google_name: array}, dropping HF buffers and tied copies."""
    weights = {}
    for name, value in hf_weights.items():
        if _HF_DERIVED.search(name):
            continue
        google = google_name(name)
        weights[google] = np.ascontiguousarray(value.T) if _is_kernel(google) else value
    return weights


def weights_file(folder):
    for name in WEIGHT_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"No HF weights in {folder}: expected one of {WEIGHT_FILES}")


def read_weights(folder):
    """{hf_name: float32 numpy array} from a HF folder's weight file(s)."""
    path = weights_file(folder)
    if path.endswith(".bin"):
        return _read_torch_bin(path)
    if path.endswith(".index.json"):
        with open(path, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        weights = {}
        for shard in shards:
            weights.update(_read_safetensors(os.path.join(folder, shard)))
        return weights
    return _read_safetensors(path)


def _read_safetensors(path):
    from safetensors import safe_open
    from safetensors import SafetensorError
    try:
        with safe_open(path, framework="np") as f:
            return {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise ValueError(f"Cannot read safetensors file {path}: {e}") from e


def _read_torch_bin(path):
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"Reading {path} needs PyTorch (pip install torch); "
                          "safetensors files need no torch.") from e
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float().numpy() for k, v in state.items()}


def write_weights(weights, folder):
    """Writes {google_name: array} as `model.safetensors` in HF layout in `folder`."""
    from safetensors.numpy import save_file
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in to_hf(weights).items()}
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
