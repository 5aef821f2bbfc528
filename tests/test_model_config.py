"""get_config / from_config round trips of every layer in bert_tf/model/: the config is
the same after the round trip, and the rebuilt layer, given the original's weights,
computes the same outputs. (.keras files and Keras' serialization rely on both.)

Each layer is built with non-default settings, so that a setting get_config drops or
from_config ignores changes the config or the outputs."""
import keras
import numpy as np
import pytest

from bert_tf.model.config import BertConfig
from bert_tf.model.embeddings import BertEmbeddings
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.heads import MaskedLMHead, NextSentenceHead
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.model.transformer import TransformerBlock

VOCAB, HIDDEN, HEADS, INTERMEDIATE, POSITIONS = 50, 16, 4, 24, 20
CONFIG = BertConfig.from_preset(
    "tiny", vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=2,
    num_attention_heads=HEADS, intermediate_size=INTERMEDIATE, hidden_act="gelu_new",
    hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3,
    max_position_embeddings=POSITIONS, type_vocab_size=3, initializer_range=0.5,
    layer_norm_eps=1e-6)


def features(batch=2, seq=9, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 5:] = 0
    types = np.zeros_like(ids)
    types[:, 4:] = 2
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def hidden_states(batch=2, seq=9, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, seq, HIDDEN)).astype(np.float32)


def assert_round_trip(layer, rebuild, call):
    """`rebuild(config)` from `layer.get_config()` gives the same config and, with the
    weights copied, the same outputs of `call(layer)` (inference mode: no dropout)."""
    keras.utils.set_random_seed(0)
    want = call(layer)
    config = layer.get_config()
    keras.utils.set_random_seed(1)  # other initial weights: the copy must set them all
    restored = rebuild(config)
    before_copy = call(restored)
    assert restored.get_config() == config
    assert len(restored.weights) == len(layer.weights)
    restored.set_weights(layer.get_weights())
    got = call(restored)
    for name in want:
        np.testing.assert_array_equal(np.asarray(got[name]), np.asarray(want[name]),
                                      err_msg=name)
    # The weights matter: before the copy the outputs differ.
    assert any(not np.array_equal(np.asarray(before_copy[name]), np.asarray(want[name]))
               for name in want)


def test_embeddings_round_trip():
    layer = BertEmbeddings(VOCAB, HIDDEN, POSITIONS, 3, initializer_range=0.5,
                           layer_norm_eps=1e-6, hidden_dropout_prob=0.2,
                           name="embeddings")
    f = features()

    def call(embeddings):
        return {"embeddings": embeddings(f["input_word_ids"], f["input_type_ids"],
                                         training=False)}

    assert_round_trip(layer, BertEmbeddings.from_config, call)
    assert layer.get_config()["max_position_embeddings"] == POSITIONS


@pytest.mark.parametrize("output_range", [None, 1])
def test_transformer_block_round_trip(output_range):
    layer = TransformerBlock(HIDDEN, HEADS, INTERMEDIATE, hidden_act="gelu_new",
                             hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.3,
                             initializer_range=0.5, layer_norm_eps=1e-6, name="block")
    x, mask = hidden_states(), features()["input_mask"]

    def call(block):
        output, probs = block(x, mask, training=False, output_range=output_range,
                              output_attentions=True)
        return {"output": output, "attention_probs": probs}

    assert_round_trip(layer, TransformerBlock.from_config, call)


@pytest.mark.parametrize("dtype", [None, "mixed_bfloat16"])
def test_encoder_round_trip(dtype):
    encoder = BertEncoder.from_bert_config(CONFIG, dtype=dtype, name="encoder")

    def call(model):
        out = model(features(), training=False)
        return {"sequence_output": out["sequence_output"],
                "pooled_output": out["pooled_output"],
                **{f"encoder_outputs_{i}": x for i, x in enumerate(out["encoder_outputs"])}}

    assert_round_trip(encoder, BertEncoder.from_config, call)
    restored = BertEncoder.from_config(encoder.get_config())
    assert restored.bert_config == CONFIG
    assert restored.dtype_policy.name == (dtype or "float32")
    # Keras' own serialization (the path of .keras files) rebuilds the same encoder.
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(encoder))
    assert isinstance(again, BertEncoder) and again.get_config() == encoder.get_config()


def test_masked_lm_head_round_trip():
    """The word-embedding table is shared, not owned: get_config leaves it out and whoever
    rebuilds the head passes one (here a new table, given the original's values by the
    weight copy: the logits then prove the head reads the table it was given)."""
    def embedding_table():
        table = keras.layers.Embedding(VOCAB, HIDDEN, name="word_embeddings")
        table.build()
        return table

    head = MaskedLMHead(embedding_table(), hidden_act="gelu_new", initializer_range=0.5,
                        layer_norm_eps=1e-6, name="masked_lm")
    sequence, positions = hidden_states(), np.array([[0, 3, 8], [2, 2, 4]], np.int32)
    assert "word_embeddings" not in head.get_config()

    def call(layer):
        return {"mlm_logits": layer(sequence, positions)}

    def rebuild(config):
        return MaskedLMHead.from_config({**config, "word_embeddings": embedding_table()})

    assert_round_trip(head, rebuild, call)
    assert call(head)["mlm_logits"].shape == (2, 3, VOCAB)


def test_next_sentence_head_round_trip():
    head = NextSentenceHead(initializer_range=0.5, name="next_sentence")
    pooled = hidden_states()[:, 0, :]

    def call(layer):
        return {"nsp_logits": layer(pooled)}

    assert_round_trip(head, NextSentenceHead.from_config, call)


@pytest.mark.parametrize("dtype", [None, "mixed_bfloat16"])
def test_pretraining_model_round_trip(dtype):
    model = BertPretrainingModel(BertEncoder.from_bert_config(CONFIG, dtype=dtype),
                                 name="pretrainer")
    # The heads compute in the encoder's policy.
    assert model.masked_lm.dtype_policy.name == (dtype or "float32")
    inputs = {**features(), "masked_lm_positions": np.array([[1, 2], [0, 3]], np.int32)}

    def call(layer):
        return dict(layer(inputs, training=False))

    assert_round_trip(model, BertPretrainingModel.from_config, call)
    restored = BertPretrainingModel.from_config(model.get_config())
    assert restored.encoder.bert_config == CONFIG
    # Still tied after the round trip: one word-embedding table.
    assert sum("word_embeddings" in v.path for v in restored.weights) == 1
