"""Attention maps: `output_attentions=True` returns each block's attention probabilities,
equal to Hugging Face's on the real MiniLM weights; off by default, changing nothing."""
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.model.config import BertConfig
from bert_tf.convert import checkpoint as checkpoint_io
from bert_tf.convert.weights import set_weights
from bert_tf.model.encoder import BertEncoder, encoder_inputs

# Probabilities lie in [0, 1]: fp32 max abs difference over real (unpadded) query rows.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tiny():
    return BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
        intermediate_size=64))


def _batch():
    ids = np.array([[101, 7, 8, 9, 102], [101, 5, 102, 0, 0]], np.int32)
    return {"input_word_ids": ids, "input_mask": (ids != 0).astype(np.int32),
            "input_type_ids": np.zeros_like(ids)}


def test_maps_have_one_row_per_query_that_sums_to_one(tiny):
    batch = _batch()
    outputs = tiny(batch, output_attentions=True)
    maps = outputs["attention_probs"]
    assert len(maps) == 2
    for probs in maps:
        assert probs.shape == (2, 4, 5, 5) and probs.dtype == tf.float32
        np.testing.assert_allclose(tf.reduce_sum(probs, -1).numpy(), 1.0, atol=1e-6)
        assert np.all(probs.numpy()[1, :, :, 3:] == 0)  # padding keys get none


def test_off_by_default_and_same_outputs_when_on(tiny):
    batch = _batch()
    plain = tiny(batch)
    assert "attention_probs" not in plain
    with_maps = tiny(batch, output_attentions=True)
    for name in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(plain[name].numpy(), with_maps[name].numpy())


def test_with_output_range_and_in_a_functional_model(tiny):
    batch = _batch()
    full = tiny(batch, output_attentions=True)["attention_probs"]
    ranged = tiny(batch, output_attentions=True, output_range=1)["attention_probs"]
    assert ranged[-1].shape == (2, 4, 1, 5)
    np.testing.assert_allclose(ranged[-1].numpy(), full[-1].numpy()[:, :, :1], atol=1e-6)
    import keras
    inputs = encoder_inputs()
    model = keras.Model(inputs, tiny(inputs, output_attentions=True)["attention_probs"])
    for ours, theirs in zip(model(batch), full):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)


def test_maps_equal_transformers_on_minilm(minilm_path, real_batch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    ckpt = checkpoint_io.read(minilm_path)
    encoder = BertEncoder.from_bert_config(ckpt.config)
    set_weights(encoder, ckpt.weights, minilm_path)
    batch = {k: v[:8] for k, v in real_batch.items()}
    assert batch["input_mask"].min() == 0, "the batch must contain padding"
    hf = transformers.BertModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    with torch.no_grad():
        theirs = hf(input_ids=torch.tensor(batch["input_word_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                    token_type_ids=torch.tensor(batch["input_type_ids"], dtype=torch.long),
                    output_attentions=True).attentions
    ours = encoder(batch, output_attentions=True)["attention_probs"]
    assert len(ours) == len(theirs) == ckpt.config.num_hidden_layers
    real = batch["input_mask"].astype(bool)  # padded query rows carry no meaning
    for layer, (mine, hers) in enumerate(zip(ours, theirs)):
        mine, hers = mine.numpy(), hers.numpy()
        assert mine.shape == hers.shape
        mine, hers = mine.transpose(0, 2, 1, 3)[real], hers.transpose(0, 2, 1, 3)[real]
        difference = np.abs(mine - hers).max()
        assert difference < TOLERANCE, f"layer {layer}: max abs difference {difference}"
