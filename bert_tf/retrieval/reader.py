"""Question answering over documents: retrieve the top-k passages of an index, read each
with an extractive QA model (`bert_tf.QuestionAnswerer`), rank the passages' answers by
one combined score, and give the best with its offsets in the source document.

    encoder = load_text_encoder(...); index = load_index("indexes/squad_dev")
    qa = DocumentReader(Searcher(encoder, index), bert_tf.load("runs/squad/export"), k=5)
    qa.answer(["Which team won Super Bowl 50?"])
    # [{"answer": "Denver Broncos", "passage_id", "doc_id", "start", "end", "score",
    #   "retrieval_score", "reader_score"}]

The score of a passage's answer (`combined_score`) is

    score = reader_score + retrieval_weight * retrieval_score

where reader_score is the reader's start + end logit of its best span in the passage
and retrieval_score the cosine of question and passage. The logits are unbounded and
the cosines lie in [-1, 1], so the weight says how many logits one unit of cosine is
worth. bench/qa_documents.py measures end-to-end EM for several weights: on 300 SQuAD
dev questions over all 2,067 dev paragraphs (all-MiniLM-L6-v2 retrieval, recall@1
0.650, @5 0.847; a MiniLM reader fine-tuned on 3,000 train questions, EM 8.7 with the
gold paragraph), weights 0 / 5 / 20 / 1000 gave EM 3.3 / 3.7 / 5.3 / 6.0: that reader's
logits rank passages worse than the cosine does, so DEFAULT_RETRIEVAL_WEIGHT (20) lets
retrieval lead. A stronger reader may want a smaller weight: rerun the bench with it.
A passage whose reader answers nothing (a SQuAD v2.0 reader whose null score wins) gives
no candidate. The question gets no answer ("" and offsets -1) when no passage gives
one, or when the best score is below `threshold` (None: always answer).

The exported SavedModel (serving.py) computes the same in one graph.
"""
import numpy as np

from bert_tf.retrieval.search import check_k

DEFAULT_RETRIEVAL_WEIGHT = 20.0  # bench/qa_documents.py; see the docstring
# The score of a question no passage answers: the lowest float32 (JSON has no -inf).
NO_SCORE = float(np.finfo(np.float32).min)
NO_ANSWER = {"answer": "", "passage_id": "", "doc_id": "", "start": -1, "end": -1}


def combined_score(retrieval_score, reader_score, retrieval_weight):
    """The ranking score of a passage's answer (see the module docstring); numbers,
    NumPy arrays or tensors alike."""
    return reader_score + retrieval_weight * retrieval_score


def check_reader(reader):
    """ValueError unless `reader` is a question-answering task model."""
    if getattr(getattr(reader, "task", None), "name", None) != "qa":
        kind = getattr(getattr(reader, "task", None), "name", type(reader).__name__)
        raise ValueError(f"the reader must be a QuestionAnswerer (a qa task model), got "
                         f"{kind}")


class DocumentReader:
    """Answers questions from the passages of an index.

    Args:
        searcher: a `Searcher` over the index (any backend).
        reader: a `QuestionAnswerer` (SQuAD v1.1 or v2.0).
        k: passages read per question, in [1, passages in the index].
        threshold: None, or the score below which a question gets no answer.
        retrieval_weight: the cosine's weight in the combined score.
    """

    def __init__(self, searcher, reader, k=5, threshold=None,
                 retrieval_weight=DEFAULT_RETRIEVAL_WEIGHT):
        check_reader(reader)
        check_k(k, len(searcher.index.passages))
        self.searcher, self.reader, self.k = searcher, reader, int(k)
        self.threshold = None if threshold is None else float(threshold)
        self.retrieval_weight = float(retrieval_weight)

    def read(self, questions, batch_size=None):
        """Per question, its k passages (the search's dicts), each with the reader's
        prediction as "reading" (text, start, end in the passage, score, ...)."""
        hits = self.searcher.search(questions, self.k, batch_size)  # checks the questions
        pairs = [{"question": question, "context": hit["text"]}
                 for question, question_hits in zip(questions, hits) for hit in question_hits]
        readings = iter(self.reader.predict(pairs, batch_size))
        return [[{**hit, "reading": next(readings)} for hit in question_hits]
                for question_hits in hits]

    def answer(self, questions, batch_size=None):
        """Per question: {"answer", "passage_id", "doc_id", "start", "end" (character
        offsets in the source document, -1 for no answer), "score", "retrieval_score",
        "reader_score"} of the best-scoring passage's answer; for no answer, the scores
        are the best candidate's (NO_SCORE when there is none)."""
        return [self.best(hits) for hits in self.read(questions, batch_size)]

    def best(self, hits):
        """The answer of one question's read passages (see `answer`)."""
        candidates = [(combined_score(hit["score"], hit["reading"]["score"],
                                      self.retrieval_weight), hit)
                      for hit in hits if hit["reading"]["start"] >= 0]
        if not candidates:
            return {**NO_ANSWER, "score": NO_SCORE, "retrieval_score": NO_SCORE,
                    "reader_score": NO_SCORE}
        score, hit = max(candidates, key=lambda candidate: candidate[0])  # first of ties
        scores = {"score": float(score), "retrieval_score": hit["score"],
                  "reader_score": hit["reading"]["score"]}
        if self.threshold is not None and score < self.threshold:
            return {**NO_ANSWER, **scores}
        reading = hit["reading"]
        return {"answer": reading["text"], "passage_id": hit["id"], "doc_id": hit["doc_id"],
                "start": hit["start"] + reading["start"], "end": hit["start"] + reading["end"],
                **scores}
