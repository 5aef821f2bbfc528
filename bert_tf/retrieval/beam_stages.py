"""The stages of the Beam index pipeline (bert_tf/retrieval/beam.py builds them into
one): read each corpus file's passages, embed them with the exported SavedModel's
`embed` signature under `RunInference`, give each passage its row (the order
`read_corpus` reads them in), and write contiguous shards of rows. Imports Apache
Beam at the top: beam.py imports this module only when a pipeline is built.

Elements: a passage travels as ((file number, position in file), Passage); after
embedding as (row, Passage, float32 [H]).
"""
import dataclasses
import json

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, \
    RunInference

from bert_tf.retrieval.index import shard_files
from bert_tf.retrieval.passages import file_passages

EMBED_SIGNATURE = "embed"
_BATCHES_PER_CALL = 8  # RunInference hands over up to this many model batches at once


class SavedModelEmbedder(ModelHandler):
    """RunInference's handler of an exported embedding SavedModel: texts in, their
    float32 embeddings out. The model is loaded once per worker (`load_model`). Each
    batch RunInference hands over is sorted by length and run in model batches of
    `batch_size`, so that texts of similar length are padded together (as
    `TextEncoder.embed` buckets them)."""

    def __init__(self, saved_model, batch_size=32):
        super().__init__(min_batch_size=1, max_batch_size=batch_size * _BATCHES_PER_CALL)
        self.saved_model, self.batch_size = saved_model, batch_size

    def load_model(self):
        import tensorflow as tf
        return tf.saved_model.load(self.saved_model).signatures[EMBED_SIGNATURE]

    def run_inference(self, batch, model, inference_args=None):
        import tensorflow as tf
        texts = list(batch)
        order = np.argsort([len(text) for text in texts], kind="stable")
        embeddings = [None] * len(texts)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start:start + self.batch_size]
            served = model(text=tf.constant([texts[row] for row in rows]))
            errors = [error for error in served["error"].numpy() if error]
            if errors:
                raise ValueError(f"{self.saved_model} refused a passage: "
                                 f"{errors[0].decode()}")
            for row, embedding in zip(rows, served["embeddings"].numpy()):
                embeddings[row] = embedding
        return [PredictionResult(text, embedding) for text, embedding in zip(texts, embeddings)]


def read_file(listed, window, stride):
    """((file number, position), Passage) of one listed corpus file."""
    number, file, name = listed
    for position, passage in enumerate(file_passages(file, name, window, stride)):
        yield (number, position), passage


def row_offsets(file_counts):
    """{"starts": {file number: its first row}, "total": rows} of [(file number, count)]."""
    starts, total = {}, 0
    for number, count in sorted(file_counts):
        starts[number], total = total, total + count
    return {"starts": starts, "total": total}


def to_shard(embedded, offsets, num_shards):
    """(shard, (row, Passage, embedding)): rows cut into `num_shards` contiguous runs."""
    ((number, position), passage), prediction = embedded
    row = offsets["starts"][number] + position
    return row * num_shards // offsets["total"], (row, passage, prediction.inference)


def write_shard(shard_rows, output_dir, num_shards):
    """Writes one shard's embeddings and passages (in row order); returns its listing
    for the manifest."""
    shard, rows = shard_rows
    rows = sorted(rows, key=lambda item: item[0])
    embeddings_name, passages_name = shard_files(shard, num_shards)
    embeddings = np.stack([embedding for _, _, embedding in rows]).astype(np.float32)
    with FileSystems.create(FileSystems.join(output_dir, embeddings_name)) as f:
        np.save(f, embeddings)
    with FileSystems.create(FileSystems.join(output_dir, passages_name)) as f:
        for _, passage, _ in rows:
            f.write((json.dumps(dataclasses.asdict(passage), ensure_ascii=False)
                     + "\n").encode("utf-8"))
    return {"first_row": rows[0][0], "num_passages": len(rows), "embeddings": embeddings_name,
            "passages": passages_name, "embedding_size": int(embeddings.shape[1])}


def duplicates(id_sources):
    """(id, its sources) of an id that more than one passage has."""
    passage_id, sources = id_sources
    sources = sorted(sources)
    if len(sources) > 1:
        yield passage_id, sources


def write_summary(shards, offsets, duplicate_ids, path):
    """The pipeline's report to its launcher (beam.py's `finalize`), one JSON file."""
    summary = {"num_passages": offsets["total"], "duplicates": sorted(duplicate_ids),
               "shards": sorted(shards, key=lambda shard: shard["first_row"])}
    with FileSystems.create(path) as f:
        f.write(json.dumps(summary).encode("utf-8"))


def add_index_stages(pipeline, listed_files, saved_model, output_dir, summary_path, window,
                     stride, num_shards, batch_size):
    """Adds the index stages to `pipeline` (see the module docstring)."""
    passages = (pipeline
                | "ListFiles" >> beam.Create(listed_files)
                | "ReadPassages" >> beam.FlatMap(read_file, window, stride)
                # One big file would keep every passage on the worker that read it.
                | "Spread" >> beam.Reshuffle())
    offsets = beam.pvalue.AsSingleton(
        passages
        | "FileNumber" >> beam.Map(lambda item: item[0][0])
        | "CountPerFile" >> beam.combiners.Count.PerElement()
        | "AllCounts" >> beam.combiners.ToList()
        | "RowOffsets" >> beam.Map(row_offsets))
    duplicate_ids = beam.pvalue.AsList(
        passages
        | "IdSource" >> beam.Map(lambda item: (item[1].id, item[1].source))
        | "GroupById" >> beam.GroupByKey()
        | "Duplicates" >> beam.FlatMap(duplicates))
    shards = (passages
              | "Texts" >> beam.Map(lambda item: (item, item[1].text))
              | "Embed" >> RunInference(KeyedModelHandler(SavedModelEmbedder(saved_model,
                                                                             batch_size)))
              | "ToShard" >> beam.Map(to_shard, offsets, num_shards)
              | "GroupByShard" >> beam.GroupByKey()
              | "WriteShard" >> beam.Map(write_shard, output_dir, num_shards))
    return (shards
            | "AllShards" >> beam.combiners.ToList()
            | "WriteSummary" >> beam.Map(write_summary, offsets, duplicate_ids, summary_path))
