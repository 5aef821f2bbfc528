import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel

TINY = BertConfig.from_preset("tiny", vocab_size=100, hidden_size=32, num_attention_heads=4,
                              intermediate_size=64, max_position_embeddings=64)


def make_inputs(batch=3, seq=12, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, TINY.vocab_size, (batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1:, 7:] = 0
    mask[2:, 3:] = 0
    types = np.zeros_like(ids)
    types[:, 5:] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


@pytest.fixture(scope="module")
def encoder():
    return BertEncoder.from_bert_config(TINY)


def test_output_shapes(encoder):
    out = encoder(make_inputs())
    assert out["sequence_output"].shape == (3, 12, 32)
    assert out["pooled_output"].shape == (3, 32)
    assert len(out["encoder_outputs"]) == TINY.num_hidden_layers
    np.testing.assert_array_equal(out["encoder_outputs"][-1], out["sequence_output"])


def test_padding_mask_is_honoured(encoder):
    inputs = make_inputs()
    changed = {k: v.copy() for k, v in inputs.items()}
    padding = inputs["input_mask"] == 0
    changed["input_word_ids"][padding] = 7  # what sits under padding must not matter
    changed["input_type_ids"][padding] = 0
    a = encoder(inputs)["sequence_output"].numpy()
    b = encoder(changed)["sequence_output"].numpy()
    np.testing.assert_allclose(a[~padding], b[~padding], atol=1e-6)
    # A short row alone gives the same outputs as inside a padded batch.
    alone = encoder({k: v[2:3, :3] for k, v in inputs.items()})["sequence_output"].numpy()
    np.testing.assert_allclose(alone[0], a[2, :3], atol=1e-5)


def test_output_range_computes_the_first_positions_only(encoder):
    """`output_range=T` gives the full pass's first T positions of the last block and
    the same pooled output; the earlier blocks are untouched, and so are gradients of
    the pooled output (what a classifier trains on)."""
    inputs = make_inputs()
    full = encoder(inputs)
    for t in (1, 4):
        cut = encoder(inputs, output_range=t)
        assert cut["sequence_output"].shape == (3, t, 32)
        np.testing.assert_allclose(cut["sequence_output"], full["sequence_output"][:, :t],
                                   atol=1e-5)
        np.testing.assert_allclose(cut["pooled_output"], full["pooled_output"], atol=1e-5)
        np.testing.assert_array_equal(cut["encoder_outputs"][0], full["encoder_outputs"][0])

    def pooled_gradients(**kwargs):
        with tf.GradientTape() as tape:
            pooled = encoder(inputs, **kwargs)["pooled_output"]
            loss = tf.reduce_sum(pooled * tf.range(32, dtype=pooled.dtype))
        return tape.gradient(loss, encoder.trainable_variables)

    for cut, whole in zip(pooled_gradients(output_range=1), pooled_gradients()):
        np.testing.assert_allclose(tf.convert_to_tensor(cut), tf.convert_to_tensor(whole),
                                   rtol=1e-5, atol=1e-5)


def test_output_range_in_a_functional_model_round_trips(encoder, tmp_path):
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in make_inputs()}
    pooled = encoder(inputs, output_range=1)["pooled_output"]
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(pooled))
    features = make_inputs()
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(features), model(features), atol=1e-6)
    np.testing.assert_allclose(
        model(features), model.get_layer("logits")(encoder(features)["pooled_output"]),
        atol=1e-5)


def test_tf_function_xla_and_distribute_scope_agree(encoder):
    inputs = make_inputs()
    eager = encoder(inputs)["sequence_output"].numpy()
    graph = tf.function(lambda x: encoder(x)["sequence_output"])(inputs).numpy()
    xla = tf.function(lambda x: encoder(x)["sequence_output"], jit_compile=True)(inputs).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-5)
    np.testing.assert_allclose(xla, eager, atol=1e-4)

    strategy = tf.distribute.MirroredStrategy(["CPU:0"])
    with strategy.scope():
        replica = BertEncoder.from_bert_config(TINY)
    replica.set_weights(encoder.get_weights())
    step = tf.function(lambda x: strategy.run(lambda y: replica(y)["sequence_output"], (x,)))
    distributed = strategy.gather(step(inputs), axis=0).numpy()
    np.testing.assert_allclose(distributed, eager, atol=1e-5)


def test_variable_sequence_length_up_to_max_positions(encoder):
    inputs = make_inputs(batch=1, seq=TINY.max_position_embeddings)
    assert encoder(inputs)["sequence_output"].shape == (1, 64, 32)
    with pytest.raises(Exception):  # more positions than the table holds
        encoder(make_inputs(batch=1, seq=TINY.max_position_embeddings + 1))


def test_keras_file_and_config_round_trip(encoder, tmp_path):
    restored = BertEncoder.from_config(encoder.get_config())
    assert restored.bert_config == TINY
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BertEncoder)
    inputs = make_inputs()
    np.testing.assert_allclose(loaded(inputs)["pooled_output"],
                               encoder(inputs)["pooled_output"], atol=1e-6)


def test_pretraining_model_round_trip_keeps_tied_weights(tmp_path):
    model = BertPretrainingModel(BertEncoder.from_bert_config(TINY))
    inputs = {**make_inputs(), "masked_lm_positions": np.array([[1, 2], [0, 3], [1, 1]],
                                                               dtype=np.int32)}
    out = model(inputs)
    assert out["mlm_logits"].shape == (3, 2, TINY.vocab_size)
    assert out["nsp_logits"].shape == (3, 2)
    # Tied: the MLM output projection is the word-embedding table, not a copy.
    assert sum("word_embeddings" in v.path for v in model.weights) == 1
    path = str(tmp_path / "pretrainer.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(inputs)["mlm_logits"], out["mlm_logits"], atol=1e-5)


def test_mixed_bfloat16_runs_close_to_float32(encoder):
    bf16 = BertEncoder.from_bert_config(TINY, dtype="mixed_bfloat16")
    bf16.set_weights(encoder.get_weights())
    inputs = make_inputs()
    out = bf16(inputs)["sequence_output"]
    assert out.dtype == tf.bfloat16
    assert all(w.dtype == "float32" for w in bf16.weights)
    np.testing.assert_allclose(tf.cast(out, tf.float32), encoder(inputs)["sequence_output"],
                               atol=0.1)


def test_dropout_only_in_training(encoder):
    inputs = make_inputs()
    a = encoder(inputs, training=False)["sequence_output"]
    b = encoder(inputs, training=False)["sequence_output"]
    c = encoder(inputs, training=True)["sequence_output"]
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_exact_gelu_matches_tf_and_its_gradient():
    """The feed-forward GELU keeps only its input for the backward pass; value and
    gradient equal tf.nn.gelu's (erf form) in float32 and bfloat16."""
    import tensorflow as tf

    from bert_tf.model.transformer import activation_fn

    x = tf.constant(np.random.default_rng(0).normal(0, 3, 4096), tf.float32)
    for dtype, atol in ((tf.float32, 1e-6), (tf.bfloat16, 2e-2)):
        xd = tf.cast(x, dtype)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xd)
            ours, reference = activation_fn("gelu")(xd), tf.nn.gelu(xd, approximate=False)
        assert ours.dtype == dtype
        np.testing.assert_allclose(tf.cast(ours, tf.float32), tf.cast(reference, tf.float32),
                                   atol=atol, rtol=atol)
        np.testing.assert_allclose(tf.cast(tape.gradient(ours, xd), tf.float32),
                                   tf.cast(tape.gradient(reference, xd), tf.float32),
                                   atol=atol, rtol=atol)


def test_embeddings_saved_with_the_old_dropout_name_still_load():
    from bert_tf.model.embeddings import BertEmbeddings
    layer = BertEmbeddings(vocab_size=10, hidden_size=4, max_position_embeddings=8,
                           type_vocab_size=2, hidden_dropout_prob=0.3)
    config = layer.get_config()
    config["dropout_rate"] = config.pop("hidden_dropout_prob")  # as files saved before
    assert BertEmbeddings.from_config(config).get_config() == layer.get_config()
