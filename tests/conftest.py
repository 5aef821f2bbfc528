"""Shared fixtures: the real MiniLM checkpoint and real sentences, loaded once."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Binaries under test run in other working directories too (relative paths, as a user
# gives them): their import path must not depend on the working directory.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p)

import numpy as np
import pytest

from bert_tf.data import corpora


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than ~30 s; run with -m slow")


@pytest.fixture(scope="session")
def minilm_path():
    return corpora.minilm_path()


@pytest.fixture(scope="session")
def real_sentences():
    """32 real review snippets of varied length (Rotten Tomatoes test split)."""
    texts = [text for text, _ in corpora.rotten_tomatoes("test")]
    return sorted(texts[:64], key=len)[::2]


@pytest.fixture(scope="session")
def hf_tokenizer(minilm_path):
    transformers = pytest.importorskip("transformers")
    return transformers.BertTokenizer(os.path.join(minilm_path, "vocab.txt"), do_lower_case=True)


@pytest.fixture(scope="session")
def real_batch(hf_tokenizer, real_sentences):
    """A padded batch of real sentences as the three int32 features (HF ids)."""
    batch = hf_tokenizer(real_sentences, padding=True, truncation=True, max_length=128,
                         return_tensors="np")
    return {"input_word_ids": batch["input_ids"].astype(np.int32),
            "input_mask": batch["attention_mask"].astype(np.int32),
            "input_type_ids": batch["token_type_ids"].astype(np.int32)}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, minilm_path):
    """A randomly initialised 1-layer, 32-wide encoder with MiniLM's vocab, as an HF
    folder: a real checkpoint for the library and the binaries, fast to train."""
    import keras

    from bert_tf.model.config import BertConfig
    from bert_tf.model.encoder import BertEncoder
    from bert_tf.convert.pretrained import save_pretrained

    folder = str(tmp_path_factory.mktemp("tiny") / "checkpoint")  # must not exist yet
    keras.utils.set_random_seed(0)
    encoder = BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
        intermediate_size=64))
    save_pretrained(encoder, folder, checkpoint_format="hf", vocab_path=os.path.join(minilm_path, "vocab.txt"),
                    lower_case=True)
    return folder
