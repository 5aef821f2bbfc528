"""LoRA fine-tuning (bert_tf/train/lora.py): what trains, that the base stays as it was,
that it learns, and that save / load, export and adapter files keep the predictions."""
import os

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.data import corpora
from bert_tf.model.encoder import find_encoder
from bert_tf.train import lora

RT = corpora.rotten_tomatoes("train")[:64]
TEXTS = [text for text, _ in RT]
LABELS = [label for _, label in RT]
RANK = 4


def new_classifier(checkpoint):
    return bert_tf.TextClassifier.from_pretrained(checkpoint, labels=["fresh", "rotten"],
                                                  max_seq_length=32)


def probabilities(clf, texts=TEXTS[:16]):
    return np.array([p["probabilities"]["fresh"] for p in clf.predict(texts)])


@pytest.fixture(scope="module")
def lora_fitted(tiny_checkpoint, tmp_path_factory):
    """(classifier fitted 3 epochs with rank-4 adapters on attention, its encoder's
    weights before, the History); validation data, so the best epoch is reloaded."""
    clf = new_classifier(tiny_checkpoint)
    before = {v.path: v.numpy() for v in find_encoder(clf.model).weights}
    model_dir = tmp_path_factory.mktemp("lora_run")
    history = clf.fit(TEXTS, LABELS, validation_data=(TEXTS[:16], LABELS[:16]), epochs=3,
                      batch_size=16, learning_rate=1e-2, lora_rank=RANK, lora_alpha=8,
                      model_dir=str(model_dir), keep_epoch="best")
    assert (model_dir / "best.adapters.h5").exists()
    return clf, before, history


def test_trainable_parameters_are_the_adapters_pooler_and_head(lora_fitted):
    clf, _, _ = lora_fitted
    config = find_encoder(clf.model).bert_config
    hidden, layers, labels = config.hidden_size, config.num_hidden_layers, 2
    adapters = layers * 4 * (hidden * RANK + RANK * hidden)  # q, k, v, attention output
    pooler, head = hidden * hidden + hidden, hidden * labels + labels
    assert lora.trainable_count(clf.model) == adapters + pooler + head
    assert lora.settings(clf.model) == (RANK, 8.0, "attention")


def test_fit_trains_the_adapters_and_leaves_the_base_as_it_was(lora_fitted):
    clf, before, history = lora_fitted
    assert history.history["loss"][-1] < history.history["loss"][0]
    encoder = find_encoder(clf.model)
    changed = {v.path for v in encoder.weights if not np.array_equal(v.numpy(),
                                                                      before.get(v.path))}
    adapters = {v.path for _, _, layer in lora.adapted_layers(clf.model)
                for v in (layer.lora_kernel_a, layer.lora_kernel_b)}
    pooler = {v.path for v in encoder.pooler.weights}
    # B starts at zero, and A only moves once B does: both trained, the rest untouched.
    assert adapters <= changed <= adapters | pooler


def test_best_epoch_is_kept_as_an_adapter_file(lora_fitted):
    clf, _, _ = lora_fitted
    # What the trainer reloaded at the end: adapters not zeroed (Keras' weight files
    # would have merged them into the kernels and zeroed them).
    for _, _, layer in lora.adapted_layers(clf.model):
        assert np.abs(layer.lora_kernel_b.numpy()).max() > 0


def test_saved_lora_model_loads_merged_and_predicts_the_same(lora_fitted, tmp_path):
    clf, _, _ = lora_fitted
    loaded = bert_tf.load(clf.save(str(tmp_path / "saved")))
    assert not lora.has_adapters(loaded.model)
    np.testing.assert_allclose(probabilities(loaded), probabilities(clf), atol=1e-5)
    # The merged model has a full fine-tuning's variables.
    assert len(loaded.model.weights) == len(lora.plain_weights(clf.model))


def test_export_merges_the_adapters(lora_fitted, tiny_classifier_export, tmp_path):
    clf, _, _ = lora_fitted
    path = clf.export(str(tmp_path / "exports"), "rt_lora")
    loaded, plain = tf.saved_model.load(path), tf.saved_model.load(tiny_classifier_export)
    shapes = sorted((tuple(v.shape), v.dtype.name) for v in loaded.variables)
    assert shapes == sorted((tuple(v.shape), v.dtype.name) for v in plain.variables)
    served = loaded.signatures["serving_default"](text=tf.constant(TEXTS[:16]))
    library = np.array([p["probabilities"]["fresh"] for p in clf.predict(TEXTS[:16])])
    np.testing.assert_allclose(served["probabilities"].numpy()[:, 0], library, atol=1e-5)


def test_adapter_file_round_trip_onto_the_same_base(lora_fitted, tiny_checkpoint, tmp_path):
    clf, _, _ = lora_fitted
    path = clf.save_adapters(str(tmp_path / "rt.adapters.h5"))
    assert os.path.getsize(path) < 200_000  # the adapters and head, not the model
    other = new_classifier(tiny_checkpoint).load_adapters(path)
    np.testing.assert_allclose(probabilities(other), probabilities(clf), atol=1e-6)


def test_adapter_file_refuses_another_base_or_head(lora_fitted, tiny_checkpoint, tmp_path):
    clf, _, _ = lora_fitted
    path = clf.save_adapters(str(tmp_path / "rt.adapters.h5"))
    merged = bert_tf.load(clf.save(str(tmp_path / "merged")))  # another base now
    with pytest.raises(ValueError, match="another base checkpoint"):
        merged.load_adapters(path)
    three = bert_tf.TextClassifier.from_pretrained(tiny_checkpoint, labels=["a", "b", "c"],
                                                   max_seq_length=32)
    with pytest.raises(ValueError, match="another task model"):
        three.load_adapters(path)


def test_attention_ffn_adapts_the_feed_forward_too(tiny_checkpoint):
    clf = new_classifier(tiny_checkpoint)
    clf.fit(TEXTS[:16], LABELS[:16], epochs=1, batch_size=16, lora_rank=2,
            lora_targets="attention_ffn")
    names = {name for _, name, _ in lora.adapted_layers(clf.model)}
    assert names == set(lora.TARGETS["attention_ffn"])
    clf.fit(TEXTS[:16], LABELS[:16], epochs=1, batch_size=16)  # fit's settings: LoRA again
    with pytest.raises(ValueError, match="lora_rank set to theirs"):
        clf.fit(TEXTS[:16], LABELS[:16], epochs=1, batch_size=16, lora_rank=0)
    with pytest.raises(ValueError, match="fit it with those"):
        clf.fit(TEXTS[:16], LABELS[:16], epochs=1, batch_size=16, lora_rank=4,
                lora_targets="attention_ffn")


def test_config_checks_the_lora_settings():
    with pytest.raises(ValueError, match="lora_rank must be a whole number >= 0"):
        bert_tf.TrainingConfig(lora_rank=-1)
    with pytest.raises(ValueError, match="lora_targets must be one of"):
        bert_tf.TrainingConfig(lora_rank=8, lora_targets="everything")
    with pytest.raises(ValueError, match="lora_alpha must be > 0"):
        bert_tf.TrainingConfig(lora_alpha=0)
