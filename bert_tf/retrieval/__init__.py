"""Retrieval over text embeddings (`bert_tf.TextEncoder`): a corpus to passages
(passages.py), an index on disk (index.py), exact search in TF and FAISS indexes
(search.py, approximate.py), question answering over the passages (reader.py,
`DocumentReader`) and its SavedModel (serving.py). What `bert-index`, `bert-search` and
`bert-export --index_dir` run.

    encoder = bert_tf.TextEncoder.from_pretrained(bert_tf.corpora.minilm_path())
    index = build_index(encoder, read_corpus("corpus/", window=128, stride=96), "idx")
    Searcher(encoder, index).search(["a warm, funny film"], k=10)
    DocumentReader(Searcher(encoder, index), bert_tf.load("runs/squad"), k=5).answer(
        ["Who directed it?"])
"""
from bert_tf.retrieval.index import PassageIndex, build_index, load_index, load_text_encoder
from bert_tf.retrieval.passages import Passage, read_corpus, split_document
from bert_tf.retrieval.reader import DocumentReader
from bert_tf.retrieval.search import Searcher, approximate_recall, recall_at_k
from bert_tf.retrieval.serving import DocumentAnswerModule, export_document_reader

__all__ = ["DocumentAnswerModule", "DocumentReader", "Passage", "PassageIndex", "Searcher",
           "approximate_recall", "build_index", "export_document_reader", "load_index",
           "load_text_encoder", "read_corpus", "recall_at_k", "split_document"]
