"""BERT's schedule, weight-decay exclusions and gradient accumulation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import BertEncoder
from bert_tf.train import optimization
from bert_tf.train.optimization import WarmupPolynomialDecay, make_optimizer


def test_schedule_values_at_key_steps():
    schedule = WarmupPolynomialDecay(1e-3, num_train_steps=110, num_warmup_steps=10)
    values = {step: float(schedule(step)) for step in (0, 5, 10, 60, 110, 200)}
    assert values[0] == 0.0
    np.testing.assert_allclose(values[5], 5e-4, rtol=1e-6)    # half-way through warmup
    np.testing.assert_allclose(values[10], 1e-3, rtol=1e-6)   # peak
    np.testing.assert_allclose(values[60], 5e-4, rtol=1e-6)   # half-way through decay
    assert values[110] == 0.0 and values[200] == 0.0          # stays at the end value


def test_schedule_power_end_rate_and_accumulation():
    schedule = WarmupPolynomialDecay(1.0, num_train_steps=10, end_learning_rate=0.1, power=2.0,
                                     steps_per_update=4)
    # Micro-batch 20 is update 5: (1 - 0.1) * 0.5**2 + 0.1.
    np.testing.assert_allclose(float(schedule(20)), 0.325, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(23)), 0.325, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(40)), 0.1, rtol=1e-6)


def test_schedule_serializes():
    schedule = WarmupPolynomialDecay(2e-5, 1000, 100, power=1.5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, WarmupPolynomialDecay)
    assert restored.get_config() == schedule.get_config()
    # And inside an optimizer's config (a .keras file saves it that way).
    optimizer = keras.optimizers.deserialize(
        keras.optimizers.serialize(make_optimizer("adamw", 1e-4, 100, 10)))
    assert isinstance(optimizer._learning_rate, WarmupPolynomialDecay)
    assert optimizer._learning_rate.num_warmup_steps == 10


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_train_steps=0), "num_train_steps"),
    (dict(num_train_steps=10, num_warmup_steps=11), "num_warmup_steps"),
])
def test_schedule_rejects_bad_steps(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupPolynomialDecay(1e-3, **kwargs)


def test_unknown_optimizer_is_an_error():
    with pytest.raises(ValueError, match="sgd"):
        make_optimizer("sgd", 1e-3, 10)


@pytest.mark.parametrize("name", optimization.OPTIMIZERS)
def test_no_weight_decay_on_layer_norm_and_bias(name):
    encoder = BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", vocab_size=50, num_hidden_layers=1, hidden_size=16, num_attention_heads=2,
        intermediate_size=32))
    optimizer = make_optimizer(name, 1e-3, 10, weight_decay=0.5)
    optimizer.build(encoder.trainable_variables)
    decayed = {v.path for v in encoder.trainable_variables if optimizer._use_weight_decay(v)}
    excluded = {v.path for v in encoder.trainable_variables} - decayed
    assert "embeddings/layer_norm/gamma" in excluded
    assert "transformer_layer_0/output_layer_norm/beta" in excluded
    assert "transformer_layer_0/query/bias" in excluded
    assert "pooler/bias" in excluded
    assert all("layer_norm" in p or p.endswith("bias") for p in excluded)
    assert "transformer_layer_0/query/kernel" in decayed
    assert "embeddings/word_embeddings/embeddings" in decayed
    assert "embeddings/position_embeddings" in decayed

    # And in an actual update with zero gradients only decayed variables move.
    before = {v.path: v.numpy().copy() for v in encoder.trainable_variables}
    zeros = [np.zeros(v.shape, "float32") for v in encoder.trainable_variables]
    for _ in range(3):
        optimizer.apply(zeros, encoder.trainable_variables)
    for v in encoder.trainable_variables:
        moved = not np.allclose(v.numpy(), before[v.path])
        assert moved == (v.path in decayed and np.abs(before[v.path]).max() > 0), v.path


@pytest.mark.parametrize("name", optimization.OPTIMIZERS)
def test_gradient_accumulation_matches_a_large_batch(name):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(8, 5)).astype("float32")
    targets = rng.normal(size=(8, 3)).astype("float32")

    def make_model():
        keras.utils.set_random_seed(1)
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])

    def grads(model, x, y):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(model(x) - y))
        return tape.gradient(loss, model.trainable_variables)

    # Two updates each: one batch of 4 per update vs. two accumulated micro-batches of 2.
    large = make_model()
    large_optimizer = make_optimizer(name, 1e-2, 2, weight_decay=0.1)
    for update in range(2):
        x, y = features[4 * update:4 * update + 4], targets[4 * update:4 * update + 4]
        large_optimizer.apply(grads(large, x, y), large.trainable_variables)

    small = make_model()
    small_optimizer = make_optimizer(name, 1e-2, 2, weight_decay=0.1, grad_accum_steps=2)
    for micro in range(4):
        x, y = features[2 * micro:2 * micro + 2], targets[2 * micro:2 * micro + 2]
        small_optimizer.apply(grads(small, x, y), small.trainable_variables)

    assert int(small_optimizer.iterations) == int(large_optimizer.iterations) == 2
    initial = make_model().trainable_variables
    for start, a, b in zip(initial, large.trainable_variables, small.trainable_variables):
        assert not np.allclose(a.numpy(), start.numpy())  # the updates did something
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_fused_adamw_is_keras_adamw():
    """FusedAdamW's two-kernel update gives Keras AdamW's variables and slots, with the
    schedule, weight decay and its exclusions, clipping and an embedding's sparse gradient.
    (Under Mirrored and MultiWorkerMirrored strategies: tests/test_pretrain.py.)"""
    def run(optimizer_class):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(20, 6),
                                  keras.layers.Flatten(), keras.layers.Dense(3),
                                  keras.layers.LayerNormalization()])
        optimizer = optimizer_class(learning_rate=WarmupPolynomialDecay(5e-2, 10, 2),
                                    weight_decay=0.1, epsilon=1e-6, global_clipnorm=1.0)
        optimizer.exclude_from_weight_decay(var_names=list(optimization.NO_WEIGHT_DECAY_NAMES))
        model.compile(optimizer, "mse")
        rng = np.random.default_rng(0)
        x = rng.integers(0, 20, size=(8, 4)).astype("int32")
        y = rng.normal(size=(8, 3)).astype("float32")
        model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
        return [v.numpy() for v in model.trainable_variables + optimizer.variables]

    expected, actual = run(keras.optimizers.AdamW), run(optimization.FusedAdamW)
    assert len(expected) == len(actual)
    # TF's kernel takes 1 - beta_2 in float32 (0.00099998713, not 0.001): v differs by
    # 1.3e-5 relative, which Adam's early, sign-like steps carry into the weights. A wrong
    # formula is off by far more: one step of weight decay here is 5e-3 x the weight.
    for want, got in zip(expected, actual):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert isinstance(make_optimizer("adamw", 1e-3, 10), optimization.FusedAdamW)
