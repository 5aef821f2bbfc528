"""One-line loading: raw text -> our tokenizer + packer -> encoder equals HF end to end."""
import numpy as np
import pytest

import bert_tf
from bert_tf.convert import checkpoint as checkpoint_io

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def encode(encoder, tokenizer, texts, max_seq_length=64):
    packer = bert_tf.SegmentPacker(max_seq_length, tokenizer.cls_id, tokenizer.sep_id,
                                   tokenizer.pad_id, pad_to_max_length=False)
    features = packer([tokenizer.tokenize(texts)])
    return features, encoder(features, training=False)


@pytest.mark.parametrize("layout", ["hf", "google"])
def test_from_pretrained_matches_transformers_on_raw_text(layout, minilm_path, real_sentences,
                                                          tmp_path):
    path = minilm_path
    if layout == "google":  # the same weights written in Google's layout
        path = str(tmp_path / "google")
        checkpoint_io.write(checkpoint_io.read(minilm_path), path, "google")
    encoder, tokenizer = bert_tf.from_pretrained(path)
    assert tokenizer.lower_case  # from tokenizer_config.json (hf) or the vocab (google)

    texts = real_sentences[:8] + ["Ångström's café — naïve 中文 test!"]
    features, ours = encode(encoder, tokenizer, texts)
    hf_tok = transformers.BertTokenizerFast.from_pretrained(minilm_path)
    hf_batch = hf_tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    np.testing.assert_array_equal(features["input_word_ids"].numpy(),
                                  hf_batch["input_ids"].numpy())
    np.testing.assert_array_equal(features["input_mask"].numpy(),
                                  hf_batch["attention_mask"].numpy())
    model = transformers.BertModel.from_pretrained(minilm_path).eval()
    with torch.no_grad():
        theirs = model(**hf_batch)
    real = features["input_mask"].numpy().astype(bool)
    np.testing.assert_allclose(ours["sequence_output"].numpy()[real],
                               theirs.last_hidden_state.numpy()[real], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ours["pooled_output"], theirs.pooler_output.numpy(), atol=1e-4,
                               rtol=0)


def test_save_pretrained_round_trip_and_overrides(minilm_path, tmp_path):
    encoder = bert_tf.load_encoder(minilm_path, hidden_dropout_prob=0.0)
    assert encoder.bert_config.hidden_dropout_prob == 0.0
    folder = bert_tf.save_pretrained(encoder, str(tmp_path / "copy"), "hf",
                                     vocab_path=f"{minilm_path}/vocab.txt", lower_case=True)
    again, tokenizer = bert_tf.from_pretrained(folder)
    for a, b in zip(encoder.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tokenizer.vocab_size == 30522


def test_missing_vocab_is_named(minilm_path, tmp_path):
    folder = tmp_path / "no_vocab"
    checkpoint_io.write(checkpoint_io.read(minilm_path), str(folder), "hf")
    (folder / "vocab.txt").unlink()
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        bert_tf.load_tokenizer(str(folder))


def test_a_file_instead_of_a_folder_is_named(tiny_checkpoint, tmp_path):
    """A file of the checkpoint, or any other file, given where a checkpoint folder is
    expected: one line naming the file and what is accepted (not what its folder
    lacks). A TF checkpoint prefix, or one of its files, still loads."""
    stray = tmp_path / "notes.txt"
    stray.write_text("not a checkpoint")
    for path in (f"{tiny_checkpoint}/config.json", str(stray)):
        for load in (bert_tf.from_pretrained, bert_tf.load_tokenizer):
            with pytest.raises(NotADirectoryError) as error:
                load(path)
            assert str(error.value) == (
                f"Checkpoint {path} is a file, not a checkpoint folder: give the folder "
                "that holds config.json (Hugging Face layout) or bert_config.json (Google "
                "layout), or a TF checkpoint prefix such as bert_model.ckpt")
        with pytest.raises(NotADirectoryError, match="is a file, not a checkpoint folder"):
            bert_tf.TaskModel.from_pretrained(path, task="classification", labels=["a", "b"])

    google = tmp_path / "google"
    checkpoint_io.write(checkpoint_io.read(tiny_checkpoint), str(google), "google")
    for path in (google / "bert_model.ckpt", google / "bert_model.ckpt.index"):
        encoder, tokenizer = bert_tf.from_pretrained(str(path))
        assert encoder.bert_config.hidden_size == 32 and tokenizer.vocab_size == 30522
