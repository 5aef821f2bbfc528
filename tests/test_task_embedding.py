"""The embedding task and `bert_tf.TextEncoder`: parity with sentence-transformers on the
real all-MiniLM-L6-v2 weights (its own pooling and normalisation, read from the folder),
the other pooling modes, the folder reader's errors, contrastive training on pairs, save /
load, and the exported `embed` signature."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.data import corpora
from bert_tf.tasks.embedding import pair_metrics, sentence_transformers_options

PARITY_ATOL = 1e-5
# Toy pairing for training: each word must find its description among the others.
WORDS = ["apple", "river", "piano", "winter", "doctor", "rocket", "coffee", "soccer"]
DESCRIPTIONS = ["a red fruit", "water flowing to the sea", "an instrument with keys",
                "the cold season", "works in a hospital", "flies to space",
                "a hot dark drink", "a game with a ball"]


@pytest.fixture(scope="module")
def minilm_encoder(minilm_path):
    return bert_tf.TextEncoder.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def sentence_transformer(minilm_path):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(minilm_path, device="cpu")


@pytest.fixture(scope="module")
def tiny_encoder(tiny_checkpoint):
    import keras
    keras.utils.set_random_seed(0)
    return bert_tf.TextEncoder.from_pretrained(tiny_checkpoint, max_seq_length=16)


def rt_test_texts(count=None):
    texts = [text for text, _ in corpora.rotten_tomatoes("test")]
    return texts[:count] if count else texts


def test_minilm_folder_options(minilm_encoder, minilm_path):
    # modules.json names Pooling (1_Pooling: mean) and Normalize; sentence_bert_config 256.
    assert sentence_transformers_options(minilm_path) == {
        "pooling": "mean", "normalize": True, "max_seq_length": 256}
    assert (minilm_encoder.task.pooling, minilm_encoder.task.normalize,
            minilm_encoder.task.max_seq_length) == ("mean", True, 256)


def test_parity_with_sentence_transformers(minilm_encoder, sentence_transformer):
    texts = rt_test_texts(64)
    ours = minilm_encoder.embed(texts, batch_size=16)
    reference = sentence_transformer.encode(texts, batch_size=16)
    assert ours.dtype == np.float32 and ours.shape == (64, 384)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=PARITY_ATOL)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_parity_with_sentence_transformers_all_rt_test_texts(minilm_encoder,
                                                             sentence_transformer):
    texts = rt_test_texts()
    assert len(texts) > 1000
    diff = np.abs(minilm_encoder.embed(texts) - sentence_transformer.encode(texts)).max()
    print(f"max abs diff over {len(texts)} RT test texts: {diff:.3g}")
    assert diff <= PARITY_ATOL


@pytest.mark.parametrize("pooling", ["cls", "max"])
def test_other_poolings_match_sentence_transformers(minilm_path, pooling):
    st = pytest.importorskip("sentence_transformers")
    transformer = st.models.Transformer(minilm_path, max_seq_length=128)
    reference_model = st.SentenceTransformer(
        modules=[transformer, st.models.Pooling(transformer.get_word_embedding_dimension(),
                                                pooling_mode=pooling)], device="cpu")
    encoder = bert_tf.TextEncoder.from_pretrained(minilm_path, pooling=pooling,
                                                  normalize=False, max_seq_length=128)
    texts = rt_test_texts(16)
    np.testing.assert_allclose(encoder.embed(texts), reference_model.encode(texts),
                               rtol=0, atol=PARITY_ATOL * 10)  # unnormalised: |v| ~ 1-10


def _st_folder(tmp_path, modules, pooling_config):
    folder = tmp_path / "st"
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
         for i, (kind, path) in enumerate(modules)]))
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))
    return str(folder)


def test_folder_reader(tmp_path):
    assert sentence_transformers_options(str(tmp_path)) == {}  # a plain checkpoint
    cls_only = _st_folder(tmp_path / "a", [("Transformer", ""), ("Pooling", "1_Pooling")],
                          {"pooling_mode_cls_token": True})
    assert sentence_transformers_options(cls_only) == {"pooling": "cls", "normalize": False}
    dense = _st_folder(tmp_path / "b", [("Transformer", ""), ("Pooling", "1_Pooling"),
                                        ("Dense", "2_Dense")], {"pooling_mode_mean_tokens": True})
    with pytest.raises(ValueError, match=r"modules.json: module .*Dense.* is not supported"):
        sentence_transformers_options(dense)
    sqrt = _st_folder(tmp_path / "c", [("Transformer", ""), ("Pooling", "1_Pooling")],
                      {"pooling_mode_mean_sqrt_len_tokens": True})
    with pytest.raises(ValueError, match=r"1_Pooling/config.json: .*mean_sqrt_len"):
        sentence_transformers_options(sqrt)


def test_bad_input(tiny_encoder, tiny_checkpoint):
    with pytest.raises(ValueError, match=r"input 1: expected a non-empty text, got ' '"):
        tiny_encoder.embed(["a film", " "])
    with pytest.raises(ValueError, match="no examples"):
        tiny_encoder.embed([])
    with pytest.raises(TypeError, match="list of texts"):
        tiny_encoder.embed("a film")
    with pytest.raises(ValueError, match="pooling must be one of"):
        bert_tf.TextEncoder.from_pretrained(tiny_checkpoint, pooling="sum")
    with pytest.raises(ValueError, match="input 0: no label"):
        tiny_encoder.evaluate([WORDS[0]])
    with pytest.raises(ValueError, match=r"input 0: expected a non-empty text, got \('a', 'b', 'c'\)"):
        tiny_encoder.evaluate([("a", "b", "c")])
    pairs = tiny_encoder.task.make_examples([("a film", "a movie")])
    assert (pairs[0].text, pairs[0].text_b) == ("a film", "a movie")


def test_pair_metrics():
    anchors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    positives = np.array([[3.0, -0.1], [1.0, -1.0], [1.0, 1.2]])
    metrics = pair_metrics(anchors, positives)
    # Row 1's nearest positive is row 2's ([1, 1.2]), not its own [1, -1].
    assert metrics["recall_at_1"] == pytest.approx(2 / 3)
    cosine = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert metrics["mean_pair_cosine"] == pytest.approx(
        np.mean([cosine(a, b) for a, b in zip(anchors, positives)]), rel=1e-6)


def test_fit_learns_toy_pairing_and_saves(tiny_checkpoint, tmp_path):
    import keras
    keras.utils.set_random_seed(0)
    encoder = bert_tf.TextEncoder.from_pretrained(tiny_checkpoint, max_seq_length=16)
    before = encoder.evaluate(WORDS, DESCRIPTIONS)["recall_at_1"]
    encoder.fit(WORDS, DESCRIPTIONS, epochs=8, batch_size=8, learning_rate=5e-3,
                warmup_proportion=0.0)
    after = encoder.evaluate(WORDS, DESCRIPTIONS)["recall_at_1"]
    assert before <= 0.5 and after == 1.0, (before, after)
    loaded = bert_tf.load(encoder.save(str(tmp_path / "saved")))
    assert isinstance(loaded, bert_tf.TextEncoder)
    np.testing.assert_allclose(loaded.embed(WORDS), encoder.embed(WORDS), atol=1e-6)


def test_export_has_embed_signature(tiny_encoder, tmp_path):
    path = tiny_encoder.export(str(tmp_path / "exports"), "embedder")
    loaded = tf.saved_model.load(path)
    assert {"embed", "serving_default", "serve_ids"} <= set(loaded.signatures)
    texts = ["a fine film", "dull"]
    served = loaded.signatures["embed"](text=tf.constant(texts))
    np.testing.assert_allclose(served["embeddings"].numpy(), tiny_encoder.embed(texts),
                               atol=1e-5)
    assert served["error"].numpy().tolist() == [b"", b""]
