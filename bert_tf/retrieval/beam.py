"""A passage index built by an Apache Beam pipeline, for corpora beyond one process: the
same passages as `read_corpus` (same ids, text, offsets, order), embedded by workers
that each load the exported SavedModel once and run its `embed` signature under
`RunInference`, written as a sharded index that `load_index` reads
(bert_tf/retrieval/index.py; stages in beam_stages.py). What `bert-index-beam` runs.

    encoder = load_text_encoder("all-MiniLM-L6-v2")
    saved_model = encoder.export("exports", "minilm")
    build_index_pipeline(encoder, saved_model, "corpus/", "indexes/big", num_shards=8,
                         pipeline_options=["--runner=DirectRunner", "--direct_num_workers=2",
                                           "--direct_running_mode=multi_processing"])
    load_index("indexes/big")

Any Beam runner runs it (Dataflow, Flink, Spark: their flags in `pipeline_options`);
the corpus is listed here, by the launcher, and read by the workers, and the output
goes through Beam's file systems (a local folder, gs://...). The launcher writes the
manifest last, after checking the pipeline's report: duplicate ids are an error naming
both places (the shards are then removed), and the first passage's embedding must be
the encoder's own (the SavedModel is an export of the index's model).
"""
import io
import json

import numpy as np

from bert_tf.export.saved_model import EXPORT_CONFIG_FILE
from bert_tf.retrieval import index as index_lib
from bert_tf.retrieval.passages import DEFAULT_STRIDE, DEFAULT_WINDOW, check_window, corpus_files

SUMMARY_FILE = "beam-summary.json"  # the pipeline's report to the launcher, then removed
DEFAULT_NUM_SHARDS = 4
DEFAULT_BATCH_SIZE = 32
# The first passage embedded by the SavedModel and by the encoder: bfloat16 exports
# differ by ~1e-2, another model's vectors are far apart.
_SAME_MODEL_COSINE = 0.99


def beam_module():
    """The apache_beam module; ImportError saying how to install it."""
    try:
        import apache_beam
    except ImportError:
        raise ImportError("The Beam index pipeline needs Apache Beam: pip install apache-beam "
                          "(or bert_tf[beam]); bert-index builds an index without it") from None
    return apache_beam


def _filesystems():
    beam_module()
    from apache_beam.io.filesystems import FileSystems
    return FileSystems


def _read(path):
    with _filesystems().open(path) as f:
        return f.read()


def check_saved_model(saved_model, encoder):
    """FileNotFoundError / ValueError unless `saved_model` is an embedding export with
    the `embed` signature that pools, normalises and truncates as `encoder` does."""
    path = _filesystems().join(saved_model, EXPORT_CONFIG_FILE)
    if not _filesystems().exists(path):
        raise FileNotFoundError(f"{saved_model} has no {EXPORT_CONFIG_FILE}: not a bert_tf "
                                "export (make one with TextEncoder.export or bert-export)")
    config = json.loads(_read(path).decode("utf-8"))
    if config.get("task") != "embedding" or "embed" not in config.get("signatures", ()):
        raise ValueError(f"{saved_model} is an export of a {config.get('task')} model "
                         "without an embed signature; export the embedding model")
    exported = {**config.get("task_config", {}), "max_seq_length": config["max_seq_length"]}
    for key in ("pooling", "normalize", "max_seq_length"):
        if exported.get(key) != getattr(encoder.task, key):
            raise ValueError(f"{saved_model} embeds with {key}={exported.get(key)!r} but the "
                             f"encoder with {getattr(encoder.task, key)!r}; export the "
                             "encoder that the index is for")


def clear_output(output_dir, overwrite):
    """FileExistsError if `output_dir` holds index files and not `overwrite`; with it,
    removes them. Creates the folder."""
    filesystems = _filesystems()
    if not filesystems.exists(output_dir):
        filesystems.mkdirs(output_dir)
        return
    found = filesystems.match([filesystems.join(output_dir, "*")])[0].metadata_list
    existing = sorted(meta.path for meta in found if index_lib.is_index_file(
        filesystems.split(meta.path)[1]) or meta.path.endswith(SUMMARY_FILE))
    if existing and not overwrite:
        raise FileExistsError(f"{output_dir} already holds an index ({len(existing)} files, "
                              f"{existing[0]}, ...); choose another folder or pass "
                              "--overwrite (overwrite=True)")
    if existing:
        filesystems.delete(existing)


def build_index_pipeline(encoder, saved_model, corpus, output_dir, window=DEFAULT_WINDOW,
                         stride=DEFAULT_STRIDE, num_shards=DEFAULT_NUM_SHARDS,
                         pipeline_options=None, batch_size=DEFAULT_BATCH_SIZE,
                         overwrite=False, model_path=None):
    """Runs the index pipeline and writes the manifest; returns the manifest.

    Args:
        encoder: the `TextEncoder` the index is for (its manifest: vocabulary, size,
            pooling); `saved_model` is its export, what the workers run.
        corpus: a corpus file or folder (as `read_corpus` takes).
        output_dir: where the shards and the manifest go (a Beam file system path).
        num_shards: the number of contiguous shards of rows (fewer if fewer passages).
        pipeline_options: `PipelineOptions`, or their flags as a list of strings
            (None: the DirectRunner in this process).
        model_path: recorded as the manifest's model, for `bert-search`.

    Raises:
        FileExistsError: `output_dir` holds an index and not `overwrite`.
        ValueError: bad window / stride / num_shards, a SavedModel that is not the
            encoder's export, a corpus without records, duplicate passage ids.
    """
    beam = beam_module()
    from apache_beam.options.pipeline_options import PipelineOptions

    from bert_tf.retrieval import beam_stages
    check_window(window, stride)
    if isinstance(num_shards, bool) or int(num_shards) < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards!r}")
    check_saved_model(saved_model, encoder)
    listed = [(number, file, name) for number, (file, name) in enumerate(corpus_files(corpus))]
    clear_output(output_dir, overwrite)
    if not isinstance(pipeline_options, PipelineOptions):
        pipeline_options = PipelineOptions(list(pipeline_options or ()))
    summary_path = _filesystems().join(output_dir, SUMMARY_FILE)
    with beam.Pipeline(options=pipeline_options) as pipeline:
        beam_stages.add_index_stages(pipeline, listed, saved_model, output_dir, summary_path,
                                     window, stride, int(num_shards), batch_size)
    return finalize(encoder, corpus, output_dir, saved_model, window, stride, model_path)


def finalize(encoder, corpus, output_dir, saved_model, window, stride, model_path):
    """Checks the pipeline's report and writes the manifest (see the module docstring)."""
    filesystems = _filesystems()
    summary_path = filesystems.join(output_dir, SUMMARY_FILE)
    summary = json.loads(_read(summary_path).decode("utf-8"))
    filesystems.delete([summary_path])
    shards = summary["shards"]
    problem = None
    if summary["duplicates"]:
        passage_id, sources = summary["duplicates"][0]
        problem = (f"{sources[1]}: duplicate passage id {passage_id!r} (also at {sources[0]}; "
                   f"{len(summary['duplicates'])} duplicate ids in all); ids must be unique")
    elif not summary["num_passages"]:
        problem = f"{corpus} has no records"
    else:
        problem = _check_same_model(encoder, output_dir, saved_model, shards[0])
    if problem:  # the shards are no index: remove them
        filesystems.delete([filesystems.join(output_dir, shard[kind]) for shard in shards
                            for kind in ("embeddings", "passages")])
        raise ValueError(problem)
    manifest = index_lib.index_manifest(
        encoder, summary["num_passages"], window, stride, model_path,
        format=index_lib.SHARDED_FORMAT, saved_model=saved_model, faiss_index=None,
        shards=[{key: shard[key] for key in ("embeddings", "passages", "num_passages")}
                for shard in shards])
    with filesystems.create(filesystems.join(output_dir, index_lib.MANIFEST_FILE)) as f:
        f.write(index_lib.manifest_json(manifest).encode("utf-8"))
    return manifest


def _check_same_model(encoder, output_dir, saved_model, first_shard):
    """None if the SavedModel embedded the first passage as `encoder` does, else why not."""
    join = _filesystems().join
    size = index_lib.model_manifest(encoder)["embedding_size"]
    if first_shard["embedding_size"] != size:
        return (f"{saved_model} gives {first_shard['embedding_size']}-d embeddings, the "
                f"encoder {size}-d; export the encoder that the index is for")
    served = np.load(io.BytesIO(_read(join(output_dir, first_shard["embeddings"]))))[0]
    line = _read(join(output_dir, first_shard["passages"])).decode("utf-8").split("\n", 1)[0]
    own = encoder.embed([json.loads(line)["text"]])[0]
    cosine = float(served @ own / max(np.linalg.norm(served) * np.linalg.norm(own), 1e-12))
    if cosine < _SAME_MODEL_COSINE:
        return (f"{saved_model} embeds the first passage unlike the encoder (cosine "
                f"{cosine:.3f}); export the encoder that the index is for")
    return None
