"""A passage index on disk: the passages, their embeddings and a manifest saying which
model made them, so that queries are embedded by the same model (vocabulary and
embedding size are checked on load and on search).

    index = build_index(encoder, read_corpus("corpus/"), "indexes/rt")
    index = load_index("indexes/rt")

    folder/manifest.json     format, model folder, vocab_sha256, embedding_size, pooling,
                             normalize, max_seq_length, num_passages, window, stride
    folder/embeddings.npy    float32 [N, H], row i the embedding of passage i
    folder/passages.jsonl    one passage a line: id, doc_id, start, end, text, source
    folder/hnsw.faiss        the FAISS HNSW index, when built with faiss_index="hnsw"

A sharded index (format 2, what the Beam pipeline writes: bert_tf/retrieval/beam.py)
holds `embeddings-SSSSS-of-NNNNN.npy` and `passages-SSSSS-of-NNNNN.jsonl` instead,
listed in the manifest's "shards" in row order; `load_index` reads both layouts.
"""
import dataclasses
import hashlib
import json
import os
import re

import numpy as np

from bert_tf import task_model
from bert_tf.retrieval import approximate
from bert_tf.tasks.saving import TASK_CONFIG_FILE
from bert_tf.retrieval.passages import Passage

MANIFEST_FILE = "manifest.json"
EMBEDDINGS_FILE = "embeddings.npy"
PASSAGES_FILE = "passages.jsonl"
INDEX_FILES = (MANIFEST_FILE, EMBEDDINGS_FILE, PASSAGES_FILE, approximate.HNSW_FILE)
FORMAT = 1          # embeddings.npy + passages.jsonl
SHARDED_FORMAT = 2  # the manifest's "shards", each an embeddings and a passages file
_SHARD_FILE = re.compile(r"^(embeddings|passages)-\d{5}-of-\d{5}\.(npy|jsonl)$")


def shard_files(shard, num_shards):
    """(embeddings file, passages file) names of shard `shard` of `num_shards`."""
    suffix = f"{shard:05d}-of-{num_shards:05d}"
    return f"embeddings-{suffix}.npy", f"passages-{suffix}.jsonl"


def is_index_file(name):
    """Whether a file name is one an index writes (either layout)."""
    return name in INDEX_FILES or bool(_SHARD_FILE.match(name))


def load_text_encoder(path):
    """The `TextEncoder` of a folder: a saved one (`TextEncoder.save`, bert-finetune
    --task=embedding), else a pretrained checkpoint (a sentence-transformers folder brings
    its pooling)."""
    if not os.path.isfile(os.path.join(path, TASK_CONFIG_FILE)):
        return task_model.TextEncoder.from_pretrained(path)
    encoder = task_model.load(path)
    if not isinstance(encoder, task_model.TextEncoder):
        raise ValueError(f"{path} holds a {encoder.task.name} model, not an embedding one")
    return encoder


def vocab_sha256(tokenizer):
    """The sha256 of the tokenizer's vocabulary (one token a line) and casing."""
    text = "".join(token + "\n" for token in tokenizer.vocab) + f"lower_case={tokenizer.lower_case}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def model_manifest(encoder):
    """What an index records of the `TextEncoder` that embedded it."""
    task = encoder.task
    return {"vocab_sha256": vocab_sha256(task.tokenizer),
            "embedding_size": int(encoder.model.output.shape[-1]),
            "pooling": task.pooling, "normalize": task.normalize,
            "max_seq_length": task.max_seq_length}


@dataclasses.dataclass
class PassageIndex:
    """Passages [N], their embeddings float32 [N, H], the manifest and its folder."""
    passages: list
    embeddings: np.ndarray
    manifest: dict
    folder: str = ""

    def check_encoder(self, encoder):
        """ValueError unless `encoder` embeds as the index's model did (vocabulary,
        embedding size, pooling, normalisation)."""
        want, got = self.manifest, model_manifest(encoder)
        for key, what in (("vocab_sha256", "vocabulary"), ("embedding_size", "embedding size"),
                          ("pooling", "pooling"), ("normalize", "normalisation")):
            if want[key] != got[key]:
                shown = ("a different vocab.txt" if key == "vocab_sha256"
                         else f"{got[key]!r}, the index {want[key]!r}")
                raise ValueError(f"{self.folder or 'the index'} was built by a model with "
                                 f"another {what} (this encoder: {shown}); search it with "
                                 f"the model that built it ({want.get('model')})")


def check_writable(folder, overwrite=False):
    """FileExistsError if `folder` holds an index (any of its files) and not
    `overwrite`: checked before any work, so nothing is half-written."""
    existing = sorted(name for name in (os.listdir(folder) if os.path.isdir(folder) else ())
                      if is_index_file(name))
    if existing and not overwrite:
        raise FileExistsError(f"{folder} already holds an index ({', '.join(existing)}); "
                              "choose another folder or pass --overwrite (overwrite=True)")


def build_index(encoder, passages, folder, overwrite=False, batch_size=None,
                faiss_index=None, window=None, stride=None, model_path=None):
    """Embeds the passages with `encoder` and writes the index to `folder`; returns the
    `PassageIndex`. `faiss_index`: None, or "hnsw" to build and save an HNSW index too.

    Raises:
        FileExistsError: `folder` holds an index and not `overwrite`.
        ValueError: no passages, or duplicate passage ids.
    """
    check_writable(folder, overwrite)
    if faiss_index not in (None, "hnsw"):
        raise ValueError(f"faiss_index must be None or 'hnsw', got {faiss_index!r}")
    if not passages:
        raise ValueError("no passages to index")
    seen = {}
    for passage in passages:
        if passage.id in seen:
            raise ValueError(f"{passage.source}: duplicate passage id {passage.id!r} (first "
                             f"at {seen[passage.id]})")
        seen[passage.id] = passage.source
    embeddings = encoder.embed([p.text for p in passages], batch_size)
    manifest = index_manifest(encoder, len(passages), window, stride, model_path,
                              faiss_index=faiss_index)
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # an overwritten index leaves none of its old files
        if is_index_file(name):
            os.remove(os.path.join(folder, name))
    np.save(os.path.join(folder, EMBEDDINGS_FILE), embeddings)
    with open(os.path.join(folder, PASSAGES_FILE), "w", encoding="utf-8") as f:
        for passage in passages:
            f.write(json.dumps(dataclasses.asdict(passage), ensure_ascii=False) + "\n")
    if faiss_index == "hnsw":
        approximate.save(approximate.hnsw_index(embeddings), folder)
    # The manifest last: a folder with one is a complete index.
    with open(os.path.join(folder, MANIFEST_FILE), "w", encoding="utf-8") as f:
        f.write(manifest_json(manifest))
    return PassageIndex(passages, embeddings, manifest, folder)


def index_manifest(encoder, num_passages, window, stride, model_path, **fields):
    """The manifest of an index of `num_passages` embedded by `encoder` (format 1; the
    sharded layout passes format and shards in `fields`)."""
    return {"format": FORMAT, "model": model_path, **model_manifest(encoder),
            "num_passages": num_passages, "window": window, "stride": stride, **fields}


def manifest_json(manifest):
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def _read_passages(path):
    with open(path, encoding="utf-8") as f:
        return [Passage(**json.loads(line)) for line in f if line.strip()]


def _read_shards(folder, manifest):
    """(embeddings [N, H], passages [N]) of a sharded index, its shards in row order."""
    embeddings, passages = [], []
    for shard in manifest["shards"]:
        shard_embeddings = np.load(os.path.join(folder, shard["embeddings"]))
        shard_passages = _read_passages(os.path.join(folder, shard["passages"]))
        if not len(shard_embeddings) == len(shard_passages) == shard["num_passages"]:
            raise ValueError(f"{folder}: shard {shard['passages']} holds "
                             f"{len(shard_passages)} passages and {len(shard_embeddings)} "
                             f"embeddings, the manifest says {shard['num_passages']}; "
                             "rebuild the index")
        embeddings.append(shard_embeddings)
        passages.extend(shard_passages)
    return np.concatenate(embeddings), passages


def load_index(folder):
    """The `PassageIndex` in `folder`; FileNotFoundError / ValueError naming the file
    that is missing or does not agree with the manifest."""
    path = os.path.join(folder, MANIFEST_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} has no {MANIFEST_FILE}: not an index (see "
                                "bert-index)")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") not in (FORMAT, SHARDED_FORMAT):
        raise ValueError(f"{path}: index format {manifest.get('format')!r}, this bert_tf "
                         f"reads {FORMAT} and {SHARDED_FORMAT}; rebuild the index")
    if manifest["format"] == SHARDED_FORMAT:
        embeddings, passages = _read_shards(folder, manifest)
    else:
        embeddings = np.load(os.path.join(folder, EMBEDDINGS_FILE))
        passages = _read_passages(os.path.join(folder, PASSAGES_FILE))
    expected = (manifest["num_passages"], manifest["embedding_size"])
    if embeddings.shape != expected or len(passages) != expected[0]:
        raise ValueError(f"{folder}: {len(passages)} passages and embeddings "
                         f"{embeddings.shape}, but the manifest says {expected}; rebuild it")
    return PassageIndex(passages, embeddings, manifest, folder)
