"""bert_tf.retrieval.beam: the Beam pipeline's sharded index equals the in-process
index (ids, texts, offsets, sources, order; embeddings to 1e-5) with the DirectRunner
in this process and, slow, in two worker processes; its errors (duplicate ids, a
SavedModel of another configuration, an existing index); the bert-index-beam binary."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bert_tf
from bert_tf.retrieval import Searcher, build_index, load_index, read_corpus

pytest.importorskip("apache_beam")
from bert_tf.retrieval.beam import build_index_pipeline  # noqa: E402

TEXTS = ["a warm and funny film with a cast that is wonderful from start to end",
         "a dull and tedious sequel", "nothing happens for two hours and then it ends",
         "a thriller with real suspense", "the jokes fall flat again and again and again",
         "a moving portrait of a family", "beautifully shot"]
IN_PROCESS = ["--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def saved_model(tiny_encoder, tmp_path_factory):
    return tiny_encoder.export(str(tmp_path_factory.mktemp("exports")), "tiny")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "a.txt").write_text("\n".join(TEXTS[:4]) + "\n")
    (folder / "b.jsonl").write_text("".join(json.dumps({"id": f"b{i}", "text": text}) + "\n"
                                            for i, text in enumerate(TEXTS[4:])))
    return str(folder)


def assert_same_index(beam_index, reference):
    assert beam_index.passages == reference.passages  # ids, texts, offsets, sources, order
    np.testing.assert_allclose(beam_index.embeddings, reference.embeddings, atol=1e-5)
    for key in ("vocab_sha256", "embedding_size", "pooling", "normalize", "num_passages"):
        assert beam_index.manifest[key] == reference.manifest[key]


def _beam_matches_in_process(tiny_encoder, saved_model, corpus, tmp_path, options):
    output = str(tmp_path / "beam")
    manifest = build_index_pipeline(tiny_encoder, saved_model, corpus, output, window=4,
                                    stride=3, num_shards=3, pipeline_options=options)
    reference = build_index(tiny_encoder, read_corpus(corpus, 4, 3), str(tmp_path / "ref"))
    beam_index = load_index(output)
    assert manifest["format"] == 2 and len(manifest["shards"]) == 3
    assert [s["num_passages"] for s in manifest["shards"]] == [6, 6, 6]  # 18 rows in 3 runs
    assert_same_index(beam_index, reference)
    return beam_index


def test_beam_index_equals_in_process_index(tiny_encoder, saved_model, corpus, tmp_path):
    beam_index = _beam_matches_in_process(tiny_encoder, saved_model, corpus, tmp_path,
                                          IN_PROCESS)
    best = Searcher(tiny_encoder, beam_index).search([TEXTS[1]], k=1)[0][0]
    assert best["doc_id"] == "a.txt:2"
    with pytest.raises(FileExistsError, match="already holds an index"):
        build_index_pipeline(tiny_encoder, saved_model, corpus, str(tmp_path / "beam"),
                             window=4, stride=3, pipeline_options=IN_PROCESS)


@pytest.mark.slow
def test_beam_index_with_two_worker_processes(tiny_encoder, saved_model, corpus, tmp_path):
    """~30-60 s: two workers each start TF and load the SavedModel."""
    _beam_matches_in_process(tiny_encoder, saved_model, corpus, tmp_path,
                             ["--direct_running_mode=multi_processing",
                              "--direct_num_workers=2"])


def test_duplicate_ids_are_an_error_and_leave_no_index(tiny_encoder, saved_model, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("a.jsonl", "b.jsonl"):
        (corpus / name).write_text(json.dumps({"id": "same", "text": "a film"}) + "\n")
    output = tmp_path / "beam"
    with pytest.raises(ValueError, match=r"b.jsonl:1: duplicate passage id 'same' \(also at "
                                         r".*a.jsonl:1"):
        build_index_pipeline(tiny_encoder, saved_model, str(corpus), str(output),
                             pipeline_options=IN_PROCESS)
    assert os.listdir(output) == []


def test_saved_model_of_another_configuration_is_refused(tiny_checkpoint, saved_model,
                                                         corpus, tmp_path):
    other = bert_tf.TextEncoder.from_pretrained(tiny_checkpoint, max_seq_length=16)
    with pytest.raises(ValueError, match="max_seq_length=32 but the encoder with 16"):
        build_index_pipeline(other, saved_model, corpus, str(tmp_path / "beam"))
    with pytest.raises(FileNotFoundError, match="not a bert_tf export"):
        build_index_pipeline(other, str(tmp_path), corpus, str(tmp_path / "beam"))


@pytest.mark.slow
def test_index_beam_binary(tiny_checkpoint, tmp_path):
    """~40-80 s: exports the model, then the binary runs the pipeline in 2 processes."""
    encoder = bert_tf.TextEncoder.from_pretrained(tiny_checkpoint)
    saved_model = encoder.export(str(tmp_path / "exports"), "tiny")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n")
    output = str(tmp_path / "idx")
    built = subprocess.run(
        [sys.executable, "-m", "bert_tf_tools.index_beam", f"--model={tiny_checkpoint}",
         f"--saved_model={saved_model}", f"--corpus={corpus}", f"--output_dir={output}",
         "--window=4", "--stride=3", "--num_shards=2", "--runner=DirectRunner",
         "--direct_num_workers=2", "--direct_running_mode=multi_processing"],
        capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    assert f"Indexed 18 passages in 2 shards in {output}" in built.stdout
    reference = build_index(encoder, read_corpus(str(corpus), 4, 3), str(tmp_path / "ref"))
    assert_same_index(load_index(output), reference)
