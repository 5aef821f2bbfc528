"""Retrieval with all-MiniLM-L6-v2 on real text, bert_tf against sentence-transformers:
embedding parity, top-10 agreement of bert_tf's exact search with
`sentence_transformers.util.semantic_search`, and FAISS flat / HNSW recall@10 against
exact search. The passages are the Rotten Tomatoes train snippets, the queries the test
snippets (bert_tf.corpora.rotten_tomatoes).

    python -m bench.retrieval                          # ~8.5k passages, 1,248 queries
    python -m bench.retrieval --num_passages 2000 --num_queries 200   # a quick check

Prints each figure on its own line: max |bert_tf - sentence-transformers| over all
embeddings, the share of queries whose top-10 ids (in order, and as a set) are
semantic_search's, each FAISS index's recall@10 and build time, and the embedding and
search times of both.
"""
import argparse
import time

import numpy as np

K = 10


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num_passages", type=int, default=0, help="0: all RT train snippets")
    p.add_argument("--num_queries", type=int, default=0, help="0: all RT test snippets")
    p.add_argument("--batch_size", type=int, default=64)
    return p.parse_args(argv)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    return fn(*args, **kwargs), time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    import sentence_transformers
    import torch
    from sentence_transformers import util

    import bert_tf
    from bert_tf.data import corpora
    from bert_tf.retrieval import Passage, PassageIndex, Searcher, recall_at_k
    from bert_tf.retrieval.index import model_manifest

    passages = [text for text, _ in corpora.rotten_tomatoes("train")]
    queries = [text for text, _ in corpora.rotten_tomatoes("test")]
    passages = passages[:args.num_passages or None]
    queries = queries[:args.num_queries or None]
    print(f"{len(passages)} passages (RT train), {len(queries)} queries (RT test), "
          f"all-MiniLM-L6-v2, top-{K}")

    encoder = bert_tf.TextEncoder.from_pretrained(corpora.minilm_path())
    reference = sentence_transformers.SentenceTransformer(corpora.minilm_path(), device="cpu")
    ours_p, ours_time = timed(encoder.embed, passages, args.batch_size)
    ours_q = encoder.embed(queries, args.batch_size)
    ref_p, ref_time = timed(reference.encode, passages, batch_size=args.batch_size)
    ref_q = reference.encode(queries, batch_size=args.batch_size)
    diff = max(np.abs(ours_p - ref_p).max(), np.abs(ours_q - ref_q).max())
    print(f"embedding max abs diff vs sentence-transformers: {diff:.3g} "
          f"({len(passages) + len(queries)} texts)")
    print(f"embedding {len(passages)} passages: bert_tf {ours_time:.1f} s, "
          f"sentence-transformers {ref_time:.1f} s")

    index = PassageIndex([Passage(str(i), str(i), 0, len(t), t) for i, t in enumerate(passages)],
                         ours_p, model_manifest(encoder))
    exact_searcher = Searcher(encoder, index)
    (_, exact), exact_time = timed(exact_searcher.top_k, ours_q, K)
    hits, st_time = timed(util.semantic_search, torch.from_numpy(ref_q),
                          torch.from_numpy(ref_p), top_k=K)
    st_rows = np.array([[hit["corpus_id"] for hit in query_hits] for query_hits in hits])
    in_order = np.mean(np.all(st_rows == exact, axis=1))
    as_set = np.mean([set(a) == set(b) for a, b in zip(st_rows, exact)])
    print(f"top-{K} identical to semantic_search: {in_order:.2%} of queries in order, "
          f"{as_set:.2%} as sets (search: bert_tf exact {exact_time * 1e3:.0f} ms, "
          f"semantic_search {st_time * 1e3:.0f} ms)")
    for backend in ("flat", "hnsw"):
        searcher, build_time = timed(Searcher, encoder, index, backend)
        (_, rows), search_time = timed(searcher.top_k, ours_q, K)
        print(f"faiss {backend}: recall@{K} vs exact {recall_at_k(rows, exact):.4f} "
              f"(build {build_time:.2f} s, search {search_time * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
