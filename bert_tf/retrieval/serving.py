"""Question answering over documents as one SavedModel for TF Serving: the question
encoder, the passage embeddings and texts of an index, and the QA reader in one graph.

    module = DocumentAnswerModule(encoder, reader, load_index("indexes/squad_dev"), k=5)
    out = module.serve({"question": tf.constant(["Which team won Super Bowl 50?"])})
    out["answer"]           # string [B] ("" for no answer)
    out["passage_id"], out["doc_id"]   # string [B] ("" for no answer)
    out["start"], out["end"]           # int32 [B]: character offsets in the source
                                       # document (-1 for no answer)
    out["score"], out["retrieval_score"], out["reader_score"]   # float32 [B]
    out["error"]            # string [B]: "" or why the row was not answered

The graph is `DocumentReader`'s (reader.py): the question embedded by the index's
model, exact top-k by inner product over the embeddings, each of the k passages read
by the QA task's own serving preprocess and postprocess (windows, spans), the answers
ranked by `combined_score`, no answer below `threshold`. The embeddings and texts are
constants of the graph (4 * N * H bytes and the texts: fine for 100k's of passages).
A question with nothing to tokenize gets no answer, NO_SCORE and its `error`; the rows
batched with it are served as usual. Signatures: `serving_default` (question [B]) and
`sequence_lengths` (each question's packed length, for bert-predict's sorting).
"""
import os

import tensorflow as tf

from bert_tf import task_model
from bert_tf.export import exporter
from bert_tf.export.serving_module import ERROR_OUTPUT, LENGTHS_SIGNATURE, TEXT_SIGNATURE
from bert_tf.retrieval.index import load_index, load_text_encoder
from bert_tf.retrieval.reader import (DEFAULT_RETRIEVAL_WEIGHT, NO_SCORE, check_reader,
                                      combined_score)
from bert_tf.retrieval.search import check_k

QUESTION_INPUT = "question"
TASK_NAME = "document_qa"  # export_config's task: what bert-predict shows
QUESTION_ERROR = ("question has no text to tokenize (empty, or only spaces or control / "
                  "zero-width characters)")


class DocumentAnswerModule(tf.Module):
    """Raw questions in, the best answer of the index's top-k passages out.

    Args:
        encoder: the `TextEncoder` that built `index` (checked).
        reader: a `QuestionAnswerer`.
        index: a `PassageIndex`.
        k, threshold, retrieval_weight: as `DocumentReader`'s.
        dtype: what both models compute in ("float32", "bfloat16"; see
            `exporter.serving_module`).
    """

    text_inputs = (QUESTION_INPUT,)

    def __init__(self, encoder, reader, index, k=5, threshold=None,
                 retrieval_weight=DEFAULT_RETRIEVAL_WEIGHT, dtype="float32", name=None):
        super().__init__(name=name)
        check_reader(reader)
        index.check_encoder(encoder)
        check_k(k, len(index.passages))
        self.encoder = exporter.serving_module(encoder.task, encoder.model, dtype=dtype)
        self.reader = exporter.serving_module(reader.task, reader.model, dtype=dtype)
        self.k, self.threshold = int(k), None if threshold is None else float(threshold)
        self.retrieval_weight = float(retrieval_weight)
        self.index_manifest = index.manifest
        self.embeddings = tf.constant(index.embeddings, tf.float32)  # [N, H]
        self.texts = tf.constant([p.text for p in index.passages])
        self.passage_ids = tf.constant([p.id for p in index.passages])
        self.doc_ids = tf.constant([p.doc_id for p in index.passages])
        self.passage_starts = tf.constant([p.start for p in index.passages], tf.int32)
        self.dtype = self.reader.dtype
        self.max_seq_length = self.reader.max_seq_length

    def serve(self, inputs):
        """`serving_default`: {"question": string [B]} -> the outputs of the module
        docstring."""
        questions = inputs[QUESTION_INPUT]
        encoded = self.encoder.serve_text({"text": questions})
        error = tf.where(tf.equal(encoded[ERROR_OUTPUT], ""), "", QUESTION_ERROR)
        retrieval, rows = tf.math.top_k(
            tf.matmul(encoded["embeddings"], self.embeddings, transpose_b=True), self.k)
        read = self.reader.serve_text({
            "question": tf.repeat(questions, self.k),
            "context": tf.reshape(tf.gather(self.texts, rows), [-1])})
        read = {name: tf.reshape(read[name], [-1, self.k])
                for name in ("answer_text", "answer_start", "answer_end", "score")}
        valid = (read["answer_start"] >= 0) & tf.equal(error, "")[:, None]  # [B, k]
        score = combined_score(retrieval, read["score"], self.retrieval_weight)
        best = tf.argmax(tf.where(valid, score, -float("inf")), axis=1, output_type=tf.int32)

        def of_best(values):
            return tf.gather(values, best, batch_dims=1)

        has_candidate = tf.reduce_any(valid, axis=1)
        scores = {name: tf.where(has_candidate, of_best(values), NO_SCORE)
                  for name, values in (("score", score), ("retrieval_score", retrieval),
                                       ("reader_score", read["score"]))}
        answered = has_candidate
        if self.threshold is not None:
            answered &= scores["score"] >= self.threshold
        row = of_best(rows)
        passage_start = tf.gather(self.passage_starts, row)

        def answered_or(values, empty):
            return tf.where(answered, values, empty)

        return {"answer": answered_or(of_best(read["answer_text"]), ""),
                "passage_id": answered_or(tf.gather(self.passage_ids, row), ""),
                "doc_id": answered_or(tf.gather(self.doc_ids, row), ""),
                "start": answered_or(passage_start + of_best(read["answer_start"]), -1),
                "end": answered_or(passage_start + of_best(read["answer_end"]), -1),
                **scores, ERROR_OUTPUT: error}

    def sequence_lengths(self, inputs):
        """`sequence_lengths`: each question's packed length for the encoder."""
        return self.encoder.sequence_lengths({"text": inputs[QUESTION_INPUT]})

    def endpoints(self):
        spec = [{QUESTION_INPUT: tf.TensorSpec([None], tf.string, name=QUESTION_INPUT)}]
        return {TEXT_SIGNATURE: (self.serve, spec),
                LENGTHS_SIGNATURE: (self.sequence_lengths, spec)}

    def signature_summary(self):
        return (f"serving_default: question (string [B]) -> answer, passage_id, doc_id, "
                f"start, end (in the document), score, retrieval_score, reader_score, error "
                f"(top-{self.k} of {self.embeddings.shape[0]} passages); sequence_lengths: "
                "question")

    def export_config(self):
        return {"dtype": self.dtype, "task": TASK_NAME, "text_inputs": [QUESTION_INPUT],
                "signatures": sorted(self.endpoints()), "max_seq_length": self.max_seq_length,
                "k": self.k, "threshold": self.threshold,
                "retrieval_weight": self.retrieval_weight, "index": self.index_manifest,
                "encoder": self.encoder.export_config(), "reader": self.reader.export_config()}


def export_document_reader(index_dir, reader_dir, export_base, model_name, k=5,
                           threshold=None, retrieval_weight=DEFAULT_RETRIEVAL_WEIGHT,
                           encoder_dir=None, dtype="float32", **options):
    """What `bert-export --index_dir --reader_dir` does: the `DocumentAnswerModule` of an
    index folder (its encoder the model its manifest names, or `encoder_dir`) and a
    saved QA reader, written as `export_base/model_name/VERSION`; the options are
    `exporter.export_module`'s. Returns the version's folder."""
    index = load_index(index_dir)
    check_k(k, len(index.passages))  # before seconds of loading models
    encoder_dir = encoder_dir or index.manifest.get("model")
    if not encoder_dir or not os.path.isdir(encoder_dir):
        raise FileNotFoundError(f"{index_dir} was built by {encoder_dir!r}, which is not a "
                                "folder here; give the text encoder's folder (--encoder_dir)")
    if not os.path.isdir(reader_dir):
        raise FileNotFoundError(f"Reader folder not found: {reader_dir}")
    module = DocumentAnswerModule(load_text_encoder(encoder_dir), task_model.load(reader_dir),
                                  index, k, threshold, retrieval_weight, dtype)
    return exporter.export_module(module, export_base, model_name, **options)
