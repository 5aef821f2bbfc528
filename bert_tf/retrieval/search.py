"""Search an index with queries: the queries are embedded by the index's model and
scored against every passage by inner product (cosine for normalised embeddings).

    searcher = Searcher(encoder, load_index("indexes/rt"))          # exact, in TF
    searcher.search(["a warm, funny film"], k=10)
    # [[{"id", "doc_id", "start", "end", "text", "score"}, ... 10], ...]
    Searcher(encoder, index, backend="hnsw")    # FAISS HNSW (approximate), or "flat"

Exact search is one matmul and `tf.math.top_k` in a tf.function, for collections whose
embeddings fit in memory (4 * N * H bytes: 10M x 384 is 15 GB); beyond that, FAISS.
`recall_at_k` measures an approximate backend against exact search.
"""
import numpy as np
import tensorflow as tf

from bert_tf.retrieval import approximate

BACKENDS = ("exact", "flat", "hnsw")
_QUERY_ROWS = 1024  # queries scored at a time: bounds the [Q, N] score matrix


def check_k(k, size):
    """ValueError unless 1 <= k <= size, the index's passage count."""
    if isinstance(k, bool) or not 1 <= int(k) <= size:
        raise ValueError(f"k must be in [1, {size}] (the index holds {size} passages), "
                         f"got {k}")


class Searcher:
    """Top-k passages of an index for queries.

    Args:
        encoder: the `TextEncoder` that built the index (checked: vocabulary, size,
            pooling, normalisation).
        index: a `PassageIndex`.
        backend: "exact" (TF, in memory), "flat" (FAISS exact) or "hnsw" (FAISS
            approximate; the index's saved HNSW, else built now).
    """

    def __init__(self, encoder, index, backend="exact"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        index.check_encoder(encoder)
        self.encoder, self.index, self.backend = encoder, index, backend
        if backend == "exact":
            self._embeddings = tf.constant(index.embeddings, tf.float32)
            self._top_k = tf.function(self._exact_top_k, input_signature=[
                tf.TensorSpec([None, index.embeddings.shape[1]], tf.float32),
                tf.TensorSpec([], tf.int32)])
        elif backend == "flat":
            self._faiss = approximate.flat_index(index.embeddings)
        else:
            self._faiss = (approximate.load_hnsw(index.folder) if index.folder else None) \
                or approximate.hnsw_index(index.embeddings)

    def _exact_top_k(self, queries, k):
        scores = tf.matmul(queries, self._embeddings, transpose_b=True)  # [Q, N]
        return tf.math.top_k(scores, k)

    def top_k(self, query_embeddings, k):
        """(scores float32 [Q, k], passage rows int64 [Q, k]), best first."""
        check_k(k, len(self.index.passages))
        if self.backend != "exact":
            return approximate.search(self._faiss, query_embeddings, int(k))
        scores, rows = [], []
        for start in range(0, len(query_embeddings), _QUERY_ROWS):
            result = self._top_k(query_embeddings[start:start + _QUERY_ROWS], int(k))
            scores.append(result.values.numpy())
            rows.append(result.indices.numpy().astype(np.int64))
        return np.concatenate(scores), np.concatenate(rows)

    def embed_queries(self, queries, batch_size=None):
        if isinstance(queries, str):
            raise TypeError("search takes a list of queries, got one str")
        if not queries:
            raise ValueError("no queries to search")
        for i, query in enumerate(queries):
            if not isinstance(query, str) or not query.strip():
                raise ValueError(f"query {i} is empty ({query!r}): give each query some text")
        return self.encoder.embed(list(queries), batch_size)

    def search(self, queries, k=10, batch_size=None):
        """For each query, its k best passages as dicts (id, doc_id, start, end, text,
        score), best first."""
        scores, rows = self.top_k(self.embed_queries(queries, batch_size), k)
        passages = self.index.passages
        return [[{"id": passages[row].id, "doc_id": passages[row].doc_id,
                  "start": passages[row].start, "end": passages[row].end,
                  "text": passages[row].text, "score": float(score)}
                 for score, row in zip(query_scores, query_rows)]
                for query_scores, query_rows in zip(scores, rows)]


def recall_at_k(found_rows, exact_rows):
    """The mean share of each query's exact top-k rows that `found_rows` [Q, k] holds."""
    return float(np.mean([len(set(found) & set(exact)) / len(exact)
                          for found, exact in zip(found_rows, exact_rows)]))


def approximate_recall(encoder, index, backend="hnsw", k=10, num_queries=1000, seed=0):
    """recall@k of `backend` against exact search, the queries a random sample of up to
    `num_queries` of the index's own passage embeddings (k capped at the index size)."""
    rows = np.random.default_rng(seed).permutation(len(index.passages))[:num_queries]
    queries = index.embeddings[np.sort(rows)]
    k = min(k, len(index.passages))
    _, exact = Searcher(encoder, index).top_k(queries, k)
    _, found = Searcher(encoder, index, backend).top_k(queries, k)
    return recall_at_k(found, exact)
