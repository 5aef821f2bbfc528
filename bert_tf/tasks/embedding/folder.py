"""The embedding options a sentence-transformers model folder carries: which pooling
(`1_Pooling/config.json`), whether vectors are L2-normalised (a `Normalize` module in
`modules.json`) and the longest input (`sentence_bert_config.json`). A plain BERT
checkpoint has none of these files: then the options are the task's defaults or what
the user sets.

    sentence_transformers_options("all-MiniLM-L6-v2/")
    # {"pooling": "mean", "normalize": True, "max_seq_length": 256}
"""
import json
import os

MODULES_FILE = "modules.json"
_MODULE_PREFIX = "sentence_transformers.models."
# Modules bert_tf reproduces; any other (Dense, LayerNorm, ...) changes the vectors.
_TRANSFORMER, _POOLING, _NORMALIZE = "Transformer", "Pooling", "Normalize"
_POOLING_KEYS = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens",
                 "max": "pooling_mode_max_tokens"}
_UNSUPPORTED_POOLING = ("pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                        "pooling_mode_lasttoken")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None


def sentence_transformers_options(folder):
    """{"pooling", "normalize"[, "max_seq_length"]} of a sentence-transformers folder,
    or {} for a folder without `modules.json`.

    Raises:
        ValueError naming the file for a module or pooling mode bert_tf does not
        reproduce (the embeddings would differ from sentence-transformers').
    """
    modules_path = os.path.join(folder, MODULES_FILE)
    if not os.path.isfile(modules_path):
        return {}
    modules = _read_json(modules_path)
    kinds = {}
    for module in modules:
        kind = str(module.get("type", "")).removeprefix(_MODULE_PREFIX)
        if kind not in (_TRANSFORMER, _POOLING, _NORMALIZE):
            raise ValueError(f"{modules_path}: module {module.get('type')!r} is not supported "
                             f"(bert_tf reproduces {_TRANSFORMER}, {_POOLING}, {_NORMALIZE})")
        kinds[kind] = module
    if _POOLING not in kinds:
        raise ValueError(f"{modules_path}: no {_MODULE_PREFIX}{_POOLING} module")
    pooling_path = os.path.join(folder, kinds[_POOLING].get("path", ""), "config.json")
    pooling_config = _read_json(pooling_path)
    modes = [mode for mode, key in _POOLING_KEYS.items() if pooling_config.get(key)]
    unsupported = [key for key in _UNSUPPORTED_POOLING if pooling_config.get(key)]
    if unsupported or len(modes) != 1:
        raise ValueError(f"{pooling_path}: bert_tf pools with exactly one of "
                         f"{sorted(_POOLING_KEYS.values())}; this folder sets "
                         f"{unsupported + [_POOLING_KEYS[m] for m in modes] or 'none'}")
    options = {"pooling": modes[0], "normalize": _NORMALIZE in kinds}
    config_path = os.path.join(folder, "sentence_bert_config.json")
    if os.path.isfile(config_path):
        max_seq_length = _read_json(config_path).get("max_seq_length")
        if max_seq_length:
            options["max_seq_length"] = int(max_seq_length)
    return options

