"""Checkpoint import/export: parity with Hugging Face on the real MiniLM weights, the TF1
round trip, and clear errors that leave nothing half-written."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.model.config import BertConfig
from bert_tf.convert import checkpoint as checkpoint_io
from bert_tf.convert import google
from bert_tf.convert.weights import get_weights, set_weights
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-4  # fp32 max abs difference, as the issue asks


@pytest.fixture(scope="module")
def minilm(minilm_path):
    ckpt = checkpoint_io.read(minilm_path)
    encoder = BertEncoder.from_bert_config(ckpt.config)
    set_weights(encoder, ckpt.weights, minilm_path)
    return ckpt, encoder


@pytest.fixture(scope="module")
def hf_minilm(minilm_path):
    return transformers.BertModel.from_pretrained(minilm_path).eval()


def hf_outputs(model, batch):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(batch["input_word_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                    token_type_ids=torch.tensor(batch["input_type_ids"], dtype=torch.long))
    return out.last_hidden_state.numpy(), out.pooler_output.numpy()


def assert_same_outputs(encoder, batch, sequence, pooled, atol=TOLERANCE):
    ours = encoder(batch, training=False)
    real = batch["input_mask"].astype(bool)  # padded positions carry no meaning
    np.testing.assert_allclose(ours["sequence_output"].numpy()[real], sequence[real], atol=atol,
                               rtol=0)
    np.testing.assert_allclose(ours["pooled_output"].numpy(), pooled, atol=atol, rtol=0)


def test_hf_import_matches_transformers(minilm, hf_minilm, real_batch):
    _, encoder = minilm
    assert real_batch["input_mask"].min() == 0, "the batch must contain padding"
    assert_same_outputs(encoder, real_batch, *hf_outputs(hf_minilm, real_batch))


def test_tf1_round_trip_reproduces_outputs(minilm, real_batch, tmp_path):
    ckpt, encoder = minilm
    folder = tmp_path / "google"
    checkpoint_io.write(ckpt, str(folder), "google")
    assert sorted(os.listdir(folder)) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index",
        "checkpoint", "vocab.txt"]
    names = dict(tf.train.list_variables(str(folder / "bert_model.ckpt")))
    # Google's original names and shapes (kernels [in, out]).
    assert names["bert/encoder/layer_0/attention/self/query/kernel"] == [384, 384]
    assert names["bert/encoder/layer_5/intermediate/dense/kernel"] == [384, 1536]
    assert names["bert/embeddings/LayerNorm/gamma"] == [384]
    assert names["bert/pooler/dense/bias"] == [384]

    reread = checkpoint_io.read(str(folder / "bert_model.ckpt"))
    assert reread.config == ckpt.config
    restored = BertEncoder.from_bert_config(reread.config)
    set_weights(restored, reread.weights, "tf1")
    reference = encoder(real_batch, training=False)
    assert_same_outputs(restored, real_batch, reference["sequence_output"].numpy(),
                        reference["pooled_output"].numpy(), atol=0)


def test_tf1_checkpoint_with_optimizer_slots_loads(minilm, tmp_path):
    ckpt, _ = minilm
    weights = dict(ckpt.weights)
    weights["bert/pooler/dense/kernel/adam_m"] = np.zeros((384, 384), np.float32)
    weights["global_step"] = np.zeros((), np.float32)
    prefix = google.write_checkpoint(weights, str(tmp_path / "bert_model.ckpt"))
    encoder = BertEncoder.from_bert_config(ckpt.config)
    assert set_weights(encoder, google.read_checkpoint(prefix)) == []


def test_pretraining_heads_match_transformers_both_directions(tmp_path, real_batch):
    """Random heads + encoder exported to HF: BertForPreTraining gives our MLM/NSP logits,
    and importing its own save gives them back."""
    config = BertConfig.from_preset("tiny", vocab_size=30522, hidden_act="gelu")
    model = BertPretrainingModel(BertEncoder.from_bert_config(config))
    rng = np.random.default_rng(0)
    for var in model.weights:  # non-zero biases so every head weight matters
        var.assign(var.numpy() + rng.normal(0, 0.02, var.shape).astype(np.float32))
    folder = tmp_path / "hf"
    checkpoint_io.write(checkpoint_io.Checkpoint(config, get_weights(model)), str(folder), "hf")

    hf_model, info = transformers.BertForPreTraining.from_pretrained(
        folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    batch = {k: v[:4, :24] for k, v in real_batch.items()}
    positions = np.array([[1, 3, 5]] * 4, dtype=np.int32)
    ours = model({**batch, "masked_lm_positions": positions}, training=False)
    with torch.no_grad():
        out = hf_model.eval()(input_ids=torch.tensor(batch["input_word_ids"], dtype=torch.long),
                              attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                              token_type_ids=torch.tensor(batch["input_type_ids"],
                                                          dtype=torch.long))
    hf_mlm = np.take_along_axis(out.prediction_logits.numpy(), positions[..., None], axis=1)
    np.testing.assert_allclose(ours["mlm_logits"], hf_mlm, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(ours["nsp_logits"], out.seq_relationship_logits.numpy(),
                               atol=TOLERANCE, rtol=0)

    # HF's own save_pretrained (prefixed names, tied decoder) imports back exactly.
    hf_model.save_pretrained(tmp_path / "hf_saved")
    reread = checkpoint_io.read(str(tmp_path / "hf_saved"))
    again = BertPretrainingModel(BertEncoder.from_bert_config(reread.config))
    assert set_weights(again, reread.weights) == []
    for name, value in get_weights(model).items():
        np.testing.assert_array_equal(get_weights(again)[name], value, err_msg=name)


def test_google_to_hf_export_runs_in_transformers(minilm, hf_minilm, real_batch, tmp_path):
    ckpt, _ = minilm
    checkpoint_io.write(ckpt, str(tmp_path / "google"), "google")
    google_ckpt = checkpoint_io.read(str(tmp_path / "google"))
    checkpoint_io.write(google_ckpt, str(tmp_path / "hf"), "hf")
    model = transformers.BertModel.from_pretrained(tmp_path / "hf").eval()
    ours_seq, ours_pooled = hf_outputs(model, real_batch)
    ref_seq, ref_pooled = hf_outputs(hf_minilm, real_batch)
    np.testing.assert_array_equal(ours_seq, ref_seq)
    np.testing.assert_array_equal(ours_pooled, ref_pooled)


# --- errors -------------------------------------------------------------------------------

def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither config.json"):
        checkpoint_io.read(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="bert_model.ckpt does not exist"):
        checkpoint_io.read(str(tmp_path / "bert_model.ckpt"))
    for missing in ("missing/dir", str(tmp_path / "missing")):
        with pytest.raises(FileNotFoundError, match=f"Checkpoint folder {missing} does not"):
            bert_tf.from_pretrained(missing)
        with pytest.raises(FileNotFoundError, match=f"Checkpoint folder {missing} does not"):
            bert_tf.load_tokenizer(missing)
    (tmp_path / "config.json").write_text(json.dumps(BertConfig().to_dict("hf")))
    with pytest.raises(FileNotFoundError, match="No HF weights"):
        checkpoint_io.read(str(tmp_path))


def test_shape_mismatch_and_unknown_weights_leave_model_untouched(minilm):
    ckpt, _ = minilm
    wrong = BertEncoder.from_bert_config(
        BertConfig.from_preset("tiny", hidden_size=384, num_attention_heads=12,
                               intermediate_size=1000, num_hidden_layers=6))
    before = get_weights(wrong)
    with pytest.raises(ValueError, match="intermediate/dense/kernel"):
        set_weights(wrong, ckpt.weights, "minilm")
    for name, value in get_weights(wrong).items():
        np.testing.assert_array_equal(value, before[name])

    right = BertEncoder.from_bert_config(ckpt.config)
    missing = {k: v for k, v in ckpt.weights.items() if "layer_3" not in k}
    with pytest.raises(ValueError, match="lacks 16 encoder weights"):
        set_weights(right, missing)


def test_extra_hf_weights_are_skipped_with_a_warning(minilm_path, tmp_path, caplog):
    """A BertForSequenceClassification-style checkpoint loads as an encoder, as in
    transformers: its classifier is named in a warning and left out."""
    from safetensors.numpy import load_file, save_file
    folder = tmp_path / "classifier"
    shutil.copytree(minilm_path, folder)
    tensors = load_file(folder / "model.safetensors")
    tensors["classifier.weight"] = np.zeros((2, 384), np.float32)
    save_file(tensors, folder / "model.safetensors")
    ckpt = checkpoint_io.read(str(folder))
    encoder = BertEncoder.from_bert_config(ckpt.config)
    assert set_weights(encoder, ckpt.weights, str(folder)) == []
    assert "does not use, skipped: bert/classifier/kernel" in caplog.text


def test_checkpoint_without_pooler_loads_with_a_warning(minilm_path, minilm, tmp_path,
                                                       caplog):
    """Hugging Face saves no pooler for BertForMaskedLM: such a checkpoint loads, the
    pooler keeps its initial values and a warning names it; the rest is MiniLM's."""
    from safetensors.numpy import load_file, save_file
    folder = tmp_path / "no_pooler"
    shutil.copytree(minilm_path, folder)
    tensors = load_file(folder / "model.safetensors")
    pooler = [name for name in tensors if "pooler" in name]
    assert len(pooler) == 2
    save_file({k: v for k, v in tensors.items() if k not in pooler},
              folder / "model.safetensors")
    encoder = bert_tf.load_encoder(str(folder))
    assert "has no bert/pooler/dense/bias, bert/pooler/dense/kernel" in caplog.text
    reference = bert_tf.load_encoder(minilm_path)
    ids = np.array([[101, 7592, 2088, 102]], np.int32)
    features = {"input_word_ids": ids, "input_mask": np.ones_like(ids),
                "input_type_ids": np.zeros_like(ids)}
    np.testing.assert_allclose(encoder(features)["sequence_output"],
                               reference(features)["sequence_output"], atol=1e-6)
    assert not np.allclose(encoder.pooler.kernel.numpy(), reference.pooler.kernel.numpy())
    # A pretraining model from it keeps no MLM head either: both start fresh, warned.
    caplog.clear()
    bert_tf.load_pretraining_model(str(folder))
    assert "cls/predictions" in caplog.text


def test_write_refuses_existing_folder_and_cleans_up_on_failure(minilm, tmp_path):
    ckpt, _ = minilm
    existing = tmp_path / "exists"
    existing.mkdir()
    with pytest.raises(FileExistsError):
        checkpoint_io.write(ckpt, str(existing), "hf")
    broken = checkpoint_io.Checkpoint(ckpt.config, {"bert/x/kernel": object()})
    with pytest.raises(Exception):
        checkpoint_io.write(broken, str(tmp_path / "out"), "google")
    assert sorted(os.listdir(tmp_path)) == ["exists"]  # no output, no staging folder left


@pytest.mark.slow  # three binary runs: ~20 s
def test_convert_binary_round_trip(tiny_checkpoint, tmp_path):
    """The binary on the tiny checkpoint (the conversions of the real MiniLM are the
    library tests above): three runs, each starting TensorFlow."""
    def convert(src, dst, fmt):  # dst relative to tmp_path, the working directory
        result = subprocess.run(
            [sys.executable, "-m", "bert_tf_tools.convert_checkpoint", f"--input={src}",
             f"--output={dst}", f"--output_format={fmt}"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    out = convert(tiny_checkpoint, "google", "google")
    assert "Verified" in out
    convert("google", "hf", "hf")
    assert {"config.json", "model.safetensors", "vocab.txt"} <= set(os.listdir(tmp_path / "hf"))
    again = subprocess.run(
        [sys.executable, "-m", "bert_tf_tools.convert_checkpoint",
         f"--input={tiny_checkpoint}", f"--output={tmp_path / 'hf'}", "--output_format=hf"],
        capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "already exists" in again.stderr
