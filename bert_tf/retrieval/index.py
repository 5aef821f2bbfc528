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
"""
import dataclasses
import hashlib
import json
import os

import numpy as np

from bert_tf import task_model
from bert_tf.retrieval import approximate
from bert_tf.tasks.saving import TASK_CONFIG_FILE
from bert_tf.retrieval.passages import Passage

MANIFEST_FILE = "manifest.json"
EMBEDDINGS_FILE = "embeddings.npy"
PASSAGES_FILE = "passages.jsonl"
INDEX_FILES = (MANIFEST_FILE, EMBEDDINGS_FILE, PASSAGES_FILE, approximate.HNSW_FILE)
FORMAT = 1


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
    existing = [name for name in INDEX_FILES if os.path.exists(os.path.join(folder, name))]
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
    manifest = {"format": FORMAT, "model": model_path, **model_manifest(encoder),
                "num_passages": len(passages), "window": window, "stride": stride,
                "faiss_index": faiss_index}
    os.makedirs(folder, exist_ok=True)
    for name in INDEX_FILES:  # an overwritten index leaves none of its old files
        if os.path.exists(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    np.save(os.path.join(folder, EMBEDDINGS_FILE), embeddings)
    with open(os.path.join(folder, PASSAGES_FILE), "w", encoding="utf-8") as f:
        for passage in passages:
            f.write(json.dumps(dataclasses.asdict(passage), ensure_ascii=False) + "\n")
    if faiss_index == "hnsw":
        approximate.save(approximate.hnsw_index(embeddings), folder)
    # The manifest last: a folder with one is a complete index.
    with open(os.path.join(folder, MANIFEST_FILE), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    return PassageIndex(passages, embeddings, manifest, folder)


def load_index(folder):
    """The `PassageIndex` in `folder`; FileNotFoundError / ValueError naming the file
    that is missing or does not agree with the manifest."""
    path = os.path.join(folder, MANIFEST_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} has no {MANIFEST_FILE}: not an index (see "
                                "bert-index)")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path}: index format {manifest.get('format')!r}, this bert_tf "
                         f"reads {FORMAT}; rebuild the index")
    embeddings = np.load(os.path.join(folder, EMBEDDINGS_FILE))
    with open(os.path.join(folder, PASSAGES_FILE), encoding="utf-8") as f:
        passages = [Passage(**json.loads(line)) for line in f if line.strip()]
    expected = (manifest["num_passages"], manifest["embedding_size"])
    if embeddings.shape != expected or len(passages) != expected[0]:
        raise ValueError(f"{folder}: {len(passages)} passages and embeddings "
                         f"{embeddings.shape}, but the manifest says {expected}; rebuild it")
    return PassageIndex(passages, embeddings, manifest, folder)
