"""bert_tf.retrieval: corpus files to passages (window, stride, offsets), the index
folder and its checks, exact search against FAISS flat / HNSW, top-10 agreement with
sentence-transformers' `util.semantic_search` on real MiniLM embeddings, and the
bert-index / bert-search binaries."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bert_tf
from bert_tf.data import corpora
from bert_tf.retrieval import (Passage, Searcher, approximate_recall, build_index, load_index,
                               read_corpus, recall_at_k, split_document)
from bert_tf.retrieval import approximate

TEXTS = ["a warm and funny film", "a dull and tedious sequel", "the cast is wonderful",
         "nothing happens for two hours", "a thriller with real suspense",
         "the jokes fall flat", "a moving portrait of a family", "beautifully shot"]


@pytest.fixture(scope="module")
def tiny_index(tiny_encoder, tmp_path_factory):
    passages = [Passage(f"p{i}", f"p{i}", 0, len(t), t, f"input {i}") for i, t in enumerate(TEXTS)]
    return build_index(tiny_encoder, passages, str(tmp_path_factory.mktemp("index") / "idx"))


def test_split_document_offsets_window_and_stride():
    text = "  one two  three four five six seven\n"
    passages = split_document("d", text, window=3, stride=2)
    assert [p.text for p in passages] == ["one two  three", "three four five", "five six seven"]
    assert [p.id for p in passages] == ["d#0", "d#1", "d#2"]
    assert all(text[p.start:p.end] == p.text for p in passages)
    # The tail a stride would skip gets a last window ending at the last word.
    assert [p.text for p in split_document("d", "a b c d e", 3, 3)] == ["a b c", "c d e"]
    assert split_document("d", "short text", 3, 2)[0].id == "d"  # one window: the doc's id


def test_read_corpus_formats_and_errors(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.jsonl").write_text('{"id": "x", "text": "first doc"}\n\n{"text": "second"}\n')
    (corpus / "b.csv").write_text('id,text\ny,"a, quoted text"\n')
    (corpus / "sub" / "c.txt").write_text("line one\n\nline three\n")
    (corpus / "ignored.md").write_text("not a corpus file")
    passages = read_corpus(str(corpus), window=8, stride=4)
    assert [(p.id, p.text) for p in passages] == [
        ("x", "first doc"), ("a.jsonl:3", "second"), ("y", "a, quoted text"),
        ("sub/c.txt:1", "line one"), ("sub/c.txt:3", "line three")]
    (corpus / "d.jsonl").write_text('{"id": "x", "text": "again"}\n')
    with pytest.raises(ValueError, match=r"d.jsonl:1: duplicate id 'x' \(first at .*a.jsonl:1\)"):
        read_corpus(str(corpus))
    (corpus / "d.jsonl").write_text('{"id": "z", "text": "  "}\n')
    with pytest.raises(ValueError, match=r"d.jsonl:1: the text is empty"):
        read_corpus(str(corpus))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty holds no corpus file"):
        read_corpus(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=r"stride <= window"):
        read_corpus(str(corpus), window=2, stride=3)


def test_search_exact_results(tiny_encoder, tiny_index):
    searcher = Searcher(tiny_encoder, load_index(tiny_index.folder))
    results = searcher.search(TEXTS[:3], k=3)
    embeddings = tiny_encoder.embed(TEXTS)
    for query, hits in enumerate(results):
        want = np.argsort(-(embeddings[query] @ embeddings.T), kind="stable")[:3]
        assert [hit["id"] for hit in hits] == [f"p{i}" for i in want]
        assert hits[0]["text"] == TEXTS[query]  # a passage is its own nearest
        scores = [hit["score"] for hit in hits]
        np.testing.assert_allclose(scores, (embeddings[query] @ embeddings.T)[want], atol=1e-5)


def test_bad_input(tiny_encoder, tiny_index, tiny_checkpoint, tmp_path):
    searcher = Searcher(tiny_encoder, tiny_index)
    with pytest.raises(ValueError, match=r"k must be in \[1, 8\] \(the index holds 8 passages\), got 9"):
        searcher.search(["a film"], k=9)
    with pytest.raises(ValueError, match=r"query 1 is empty"):
        searcher.search(["a film", ""], k=2)
    with pytest.raises(ValueError, match="no queries"):
        searcher.search([], k=2)
    # Nothing of an existing index is replaced without overwrite.
    before = {name: os.path.getmtime(os.path.join(tiny_index.folder, name))
              for name in os.listdir(tiny_index.folder)}
    with pytest.raises(FileExistsError, match=r"already holds an index .*overwrite"):
        build_index(tiny_encoder, tiny_index.passages, tiny_index.folder)
    assert before == {name: os.path.getmtime(os.path.join(tiny_index.folder, name))
                      for name in os.listdir(tiny_index.folder)}
    duplicated = tiny_index.passages[:2] + tiny_index.passages[:1]
    with pytest.raises(ValueError, match=r"duplicate passage id 'p0'"):
        build_index(tiny_encoder, duplicated, str(tmp_path / "dup"))
    other_pooling = bert_tf.TextEncoder.from_pretrained(tiny_checkpoint, pooling="cls")
    with pytest.raises(ValueError, match=r"another pooling \(this encoder: 'cls', the index 'mean'\)"):
        Searcher(other_pooling, tiny_index)


def _other_checkpoint(folder, minilm_path, hidden_size=32, vocab_rows=None):
    import keras
    from bert_tf.convert.pretrained import save_pretrained
    from bert_tf.model.config import BertConfig
    from bert_tf.model.encoder import BertEncoder
    vocab = os.path.join(minilm_path, "vocab.txt")
    if vocab_rows:  # the same tokens but the last ones: another vocabulary
        with open(vocab, encoding="utf-8") as f:
            tokens = f.read().splitlines()[:vocab_rows]
        vocab = os.path.join(os.path.dirname(folder), "vocab_small.txt")
        with open(vocab, "w", encoding="utf-8") as f:
            f.write("\n".join(tokens) + "\n")
    keras.utils.set_random_seed(0)
    encoder = BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", num_hidden_layers=1, hidden_size=hidden_size, num_attention_heads=2,
        intermediate_size=64, vocab_size=vocab_rows or 30522))
    save_pretrained(encoder, folder, checkpoint_format="hf", vocab_path=vocab, lower_case=True)
    return bert_tf.TextEncoder.from_pretrained(folder)


def test_index_of_another_model_is_refused(tiny_index, minilm_path, tmp_path):
    wider = _other_checkpoint(str(tmp_path / "wide"), minilm_path, hidden_size=64)
    with pytest.raises(ValueError, match=r"another embedding size \(this encoder: 64, the index 32\)"):
        Searcher(wider, tiny_index)
    other_vocab = _other_checkpoint(str(tmp_path / "vocab"), minilm_path, vocab_rows=2000)
    with pytest.raises(ValueError, match=r"another vocabulary \(this encoder: a different vocab.txt\)"):
        Searcher(other_vocab, tiny_index)


def test_faiss_backends_against_exact(tiny_encoder, tmp_path):
    texts = [text for text, _ in corpora.rotten_tomatoes("test")][:300]
    passages = [Passage(f"rt{i}", f"rt{i}", 0, len(t), t) for i, t in enumerate(texts)]
    index = build_index(tiny_encoder, passages, str(tmp_path / "idx"), faiss_index="hnsw")
    assert os.path.isfile(os.path.join(index.folder, approximate.HNSW_FILE))
    queries = index.embeddings[:50]
    _, exact = Searcher(tiny_encoder, index).top_k(queries, 10)
    _, flat = Searcher(tiny_encoder, index, "flat").top_k(queries, 10)
    assert recall_at_k(flat, exact) == 1.0
    assert approximate_recall(tiny_encoder, load_index(index.folder), "hnsw") >= 0.95


def test_faiss_missing_is_a_clear_error(monkeypatch, tiny_encoder, tiny_index):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss raises ImportError
    with pytest.raises(ImportError, match=r"pip install faiss-cpu .*exact search needs nothing"):
        Searcher(tiny_encoder, tiny_index, "hnsw")
    Searcher(tiny_encoder, tiny_index)  # exact search does not need it


def _semantic_search_agreement(num_passages, num_queries):
    """Share of queries whose top-10 passage ids (in order) are those of
    sentence-transformers' semantic_search on the same MiniLM folder."""
    st = pytest.importorskip("sentence_transformers")
    passages = [text for text, _ in corpora.rotten_tomatoes("test")][:num_passages]
    queries = [text for text, _ in corpora.rotten_tomatoes("validation")][:num_queries]
    model = st.SentenceTransformer(corpora.minilm_path(), device="cpu")
    reference = st.util.semantic_search(model.encode(queries, convert_to_tensor=True),
                                        model.encode(passages, convert_to_tensor=True), top_k=10)
    encoder = bert_tf.TextEncoder.from_pretrained(corpora.minilm_path())
    index = bert_tf.retrieval.PassageIndex(
        [Passage(str(i), str(i), 0, len(t), t) for i, t in enumerate(passages)],
        encoder.embed(passages), {"pooling": "mean", "normalize": True, "embedding_size": 384,
                                  "vocab_sha256": bert_tf.retrieval.index.vocab_sha256(
                                      encoder.task.tokenizer)})
    ours = Searcher(encoder, index).search(queries, k=10)
    return np.mean([[hit["id"] for hit in hits] == [str(h["corpus_id"]) for h in ref]
                    for hits, ref in zip(ours, reference)])


def test_top10_agrees_with_semantic_search():
    assert _semantic_search_agreement(num_passages=128, num_queries=16) >= 0.99


@pytest.mark.slow
def test_top10_agrees_with_semantic_search_all_rt_test_texts():
    agreement = _semantic_search_agreement(num_passages=2000, num_queries=500)
    print(f"top-10 identical to semantic_search for {agreement:.2%} of queries")
    assert agreement >= 0.99


def _tool(name, *args):
    return subprocess.run([sys.executable, "-m", f"bert_tf_tools.{name}", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_index_and_search_binaries(tiny_checkpoint, tmp_path):
    """~15-40 s: three subprocesses (TF start-up dominates)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n")
    output = str(tmp_path / "idx")
    built = _tool("index", f"--model={tiny_checkpoint}", f"--corpus={corpus}",
                  f"--output_dir={output}", "--window=4", "--stride=3")
    assert built.returncode == 0, built.stderr
    assert f"Indexed 13 passages of 8 documents (32-d, mean pooling) in {output}" in built.stdout
    again = _tool("index", f"--model={tiny_checkpoint}", f"--corpus={corpus}",
                  f"--output_dir={output}")
    assert again.returncode == 2 and "error: " in again.stderr
    assert "already holds an index" in again.stderr.strip().splitlines()[-1]
    found = _tool("search", f"--index={output}", f"--query={TEXTS[1]}", "--k=2")
    assert found.returncode == 0, found.stderr
    line = json.loads(found.stdout.strip())
    assert line["query"] == TEXTS[1] and len(line["results"]) == 2
    assert line["results"][0]["doc_id"] == "corpus.txt:2"
