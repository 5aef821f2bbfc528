"""The tests' one shared harness, every fixture built once per test run (session scope):
the real MiniLM checkpoint and real sentences; MiniLM's vocab and its tokenizer; a tiny
random checkpoint; and tiny task models on it (classifier, tagger, reader), each saved
the way fine-tuning saves it and exported the way `bert-export` exports it.

Tests read these and never change them: a test that trains a model, or writes into a
model's folder, works on its own copy (`bert_tf.load` of the saved folder, or the folder
copied with `shutil.copytree`)."""
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


CLASSIFIER_LABELS = ["fresh", "rotten"]
TINY_MAX_SEQ_LENGTH = 32


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


@pytest.fixture(scope="session")
def vocab_path(minilm_path):
    """MiniLM's vocab.txt (30,522 lower-cased word pieces): the vocab of every tiny model."""
    return os.path.join(minilm_path, "vocab.txt")


@pytest.fixture(scope="session")
def tokenizer(vocab_path):
    """bert_tf's BertTokenizer on MiniLM's vocab."""
    from bert_tf.text.tokenizer import BertTokenizer
    return BertTokenizer.from_vocab_file(vocab_path)


def _seeded(build):
    import keras
    keras.utils.set_random_seed(0)
    return build()


@pytest.fixture(scope="session")
def tiny_classifier(tiny_checkpoint):
    """A TextClassifier (labels fresh / rotten, max_seq_length 32) on the tiny checkpoint,
    its head random: outputs that depend on the input, from a model built in a second."""
    import bert_tf
    return _seeded(lambda: bert_tf.TextClassifier.from_pretrained(
        tiny_checkpoint, labels=CLASSIFIER_LABELS, max_seq_length=TINY_MAX_SEQ_LENGTH))


@pytest.fixture(scope="session")
def tiny_classifier_folder(tiny_classifier, tmp_path_factory):
    """`tiny_classifier` saved (TaskModel.save): what `bert-finetune` leaves in export/."""
    return tiny_classifier.save(str(tmp_path_factory.mktemp("tiny_classifier") / "model"))


@pytest.fixture(scope="session")
def tiny_classifier_export(tiny_classifier_folder, tmp_path_factory):
    """`tiny_classifier_folder` exported by `bert-export`'s code path as model "rt",
    version 1, with 2 batch threads: the SavedModel folder `<base>/rt/1`."""
    from bert_tf.export import exporter
    base = str(tmp_path_factory.mktemp("tiny_classifier_export"))
    return exporter.export(tiny_classifier_folder, base, "rt", num_batch_threads=2)


@pytest.fixture(scope="session")
def conll_labels():
    """CoNLL-2003's tag set (IOB1, as the files hold it), "O" first."""
    from bert_tf.data.conll import read_conll
    from bert_tf.tasks.ner import label_vocabulary
    return label_vocabulary(read_conll(corpora.conll2003_path("valid"))[:200])


@pytest.fixture(scope="session")
def tiny_encoder(tiny_checkpoint):
    """A TextEncoder (the checkpoint's own pooling defaults, max_seq_length 32) on the tiny
    checkpoint: the query and passage encoder of the retrieval tests."""
    import bert_tf
    return _seeded(lambda: bert_tf.TextEncoder.from_pretrained(
        tiny_checkpoint, max_seq_length=TINY_MAX_SEQ_LENGTH))


@pytest.fixture(scope="session")
def tiny_tagger(tiny_checkpoint, conll_labels):
    """A TokenClassifier on CoNLL-2003's tag set (max_seq_length 32), its head random."""
    import bert_tf
    return _seeded(lambda: bert_tf.TokenClassifier.from_pretrained(
        tiny_checkpoint, labels=conll_labels, max_seq_length=TINY_MAX_SEQ_LENGTH))


@pytest.fixture(scope="session")
def tiny_tagger_folder(tiny_tagger, tmp_path_factory):
    return tiny_tagger.save(str(tmp_path_factory.mktemp("tiny_tagger") / "model"))


@pytest.fixture(scope="session")
def tiny_tagger_export(tiny_tagger_folder, tmp_path_factory):
    """`tiny_tagger_folder` exported by `bert-export`'s code path as model "ner"."""
    from bert_tf.export import exporter
    return exporter.export(tiny_tagger_folder,
                           str(tmp_path_factory.mktemp("tiny_tagger_export")), "ner")


@pytest.fixture(scope="session")
def tiny_reader(tiny_checkpoint):
    """A SQuAD v2.0 QuestionAnswerer (max_seq_length 32, doc_stride 8, questions cut to 8
    pieces, answers of at most 6, 4 best spans, null threshold 0.5), its head random."""
    import bert_tf
    return _seeded(lambda: bert_tf.QuestionAnswerer.from_pretrained(
        tiny_checkpoint, max_seq_length=TINY_MAX_SEQ_LENGTH, doc_stride=8,
        max_query_length=8, max_answer_length=6, n_best_size=4,
        version_2_with_negative=True, null_score_diff_threshold=0.5))


@pytest.fixture(scope="session")
def tiny_reader_folder(tiny_reader, tmp_path_factory):
    return tiny_reader.save(str(tmp_path_factory.mktemp("tiny_reader") / "model"))


@pytest.fixture(scope="session")
def tiny_reader_export(tiny_reader_folder, tmp_path_factory):
    """`tiny_reader_folder` exported by `bert-export`'s code path as model "squad"."""
    from bert_tf.export import exporter
    return exporter.export(tiny_reader_folder,
                           str(tmp_path_factory.mktemp("tiny_reader_export")), "squad")
