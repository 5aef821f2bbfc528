"""FAISS indexes over an index's embeddings, for collections beyond exact search in
memory: a flat (exact, inner product) index and HNSW (approximate graph search). FAISS
is optional (`pip install faiss-cpu`, or bert_tf[search]): it is imported only here,
when one of these is asked for.

Scores are inner products, cosines for normalised embeddings (the search's own scores).
"""
import os

import numpy as np

HNSW_FILE = "hnsw.faiss"
HNSW_NEIGHBOURS = 32        # graph degree M: recall vs memory
HNSW_EF_CONSTRUCTION = 200  # candidates while building: recall vs build time
HNSW_EF_SEARCH = 128        # candidates per query: recall vs query time


def faiss_module():
    """The faiss module; ImportError saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise ImportError("FAISS indexes need the faiss package: pip install faiss-cpu "
                          "(or bert_tf[search]); exact search needs nothing more") from None
    return faiss


def flat_index(embeddings):
    """faiss.IndexFlatIP over float32 [N, H]: exact inner-product search."""
    index = faiss_module().IndexFlatIP(embeddings.shape[1])
    index.add(np.ascontiguousarray(embeddings, np.float32))
    return index


def hnsw_index(embeddings, neighbours=HNSW_NEIGHBOURS):
    """faiss.IndexHNSWFlat (inner product) over float32 [N, H]."""
    faiss = faiss_module()
    index = faiss.IndexHNSWFlat(embeddings.shape[1], neighbours, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(np.ascontiguousarray(embeddings, np.float32))
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def save(index, folder):
    faiss_module().write_index(index, os.path.join(folder, HNSW_FILE))


def load_hnsw(folder):
    """The saved HNSW index of an index folder, or None if it has none."""
    path = os.path.join(folder, HNSW_FILE)
    if not os.path.isfile(path):
        return None
    index = faiss_module().read_index(path)
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index, queries, k):
    """(scores float32 [Q, k], rows int64 [Q, k]) of a FAISS index."""
    return index.search(np.ascontiguousarray(queries, np.float32), k)
