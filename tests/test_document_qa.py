"""Question answering over documents (bert_tf.retrieval.reader and serving): answers
cut from the source documents at the offsets given, the stated score combination, the
threshold, bad input, and the exported SavedModel answering as the Python API does
(tiny random models: the answers are arbitrary, the plumbing is not)."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import bert_tf
from bert_tf.data import corpora
from bert_tf.data.squad import read_squad, read_squad_paragraphs
from bert_tf.retrieval import DocumentReader, Searcher, build_index, split_document
from bert_tf.retrieval.reader import NO_SCORE, combined_score
from bert_tf.retrieval.serving import QUESTION_ERROR, export_document_reader

K = 3


@pytest.fixture(scope="module")
def squad_documents():
    """{doc id: text}: the first 4 paragraphs of SQuAD dev, and their first questions."""
    examples = read_squad(corpora.squad_path("dev"))
    contexts = list(dict.fromkeys(ex.context for ex in examples))[:4]
    questions = [next(ex.question for ex in examples if ex.context == c) for c in contexts]
    return {f"sb50/{i}": text for i, text in enumerate(contexts)}, questions


@pytest.fixture(scope="module")
def encoder_folder(tiny_checkpoint, tmp_path_factory):
    import keras
    keras.utils.set_random_seed(0)
    encoder = bert_tf.TextEncoder.from_pretrained(tiny_checkpoint, max_seq_length=64)
    return encoder.save(str(tmp_path_factory.mktemp("encoder") / "model"))


@pytest.fixture(scope="module")
def encoder(encoder_folder):
    return bert_tf.load(encoder_folder)


@pytest.fixture(scope="module")
def index(encoder, encoder_folder, squad_documents, tmp_path_factory):
    documents, _ = squad_documents
    passages = [p for doc_id, text in documents.items()
                for p in split_document(doc_id, text, window=40, stride=30)]
    return build_index(encoder, passages, str(tmp_path_factory.mktemp("index") / "idx"),
                       model_path=encoder_folder)


@pytest.fixture(scope="module")
def reader_v1_folder(tiny_checkpoint, tmp_path_factory):
    """A SQuAD v1.1 reader (always a span), saved."""
    import keras
    keras.utils.set_random_seed(0)
    reader = bert_tf.QuestionAnswerer.from_pretrained(
        tiny_checkpoint, max_seq_length=32, doc_stride=8, max_query_length=8,
        max_answer_length=6, n_best_size=4)
    return reader.save(str(tmp_path_factory.mktemp("reader") / "model"))


@pytest.fixture(scope="module")
def reader_v1(reader_v1_folder):
    return bert_tf.load(reader_v1_folder)


def test_answers_are_cut_from_the_source_documents(encoder, index, reader_v1,
                                                   squad_documents):
    documents, questions = squad_documents
    assert any(p.start > 0 for p in index.passages)  # offsets add up across passages
    qa = DocumentReader(Searcher(encoder, index), reader_v1, k=K, retrieval_weight=2.0)
    read = qa.read(questions)
    for answer, hits in zip(qa.answer(questions), read):
        assert answer["answer"] and documents[answer["doc_id"]][
            answer["start"]:answer["end"]] == answer["answer"]
        # The best of the k passages by the stated combination.
        scores = [combined_score(h["score"], h["reading"]["score"], 2.0) for h in hits]
        best = hits[int(np.argmax(scores))]
        assert answer["passage_id"] == best["id"]
        assert answer["score"] == pytest.approx(max(scores))
        assert answer["retrieval_score"] == best["score"]
        assert answer["reader_score"] == best["reading"]["score"]


def test_threshold_v2_reader_and_bad_input(encoder, index, reader_v1, tiny_reader,
                                           squad_documents):
    _, questions = squad_documents
    searcher = Searcher(encoder, index)
    answered = DocumentReader(searcher, reader_v1, k=K).answer(questions)
    high = max(a["score"] for a in answered) + 1
    for answer, unanswered in zip(answered, DocumentReader(searcher, reader_v1, k=K,
                                                           threshold=high).answer(questions)):
        assert (unanswered["answer"], unanswered["start"], unanswered["passage_id"]) == ("", -1, "")
        assert unanswered["score"] == pytest.approx(answer["score"])  # how far below
    # A v2.0 reader's null answers are no candidates; a question none answers gets none.
    qa_v2 = DocumentReader(searcher, tiny_reader, k=K)
    for hits, answer in zip(qa_v2.read(questions), qa_v2.answer(questions)):
        if all(h["reading"]["start"] < 0 for h in hits):
            assert answer["answer"] == "" and answer["score"] == NO_SCORE
        else:
            assert answer["passage_id"] in [h["id"] for h in hits if h["reading"]["start"] >= 0]
    size = len(index.passages)
    with pytest.raises(ValueError, match=rf"k must be in \[1, {size}\] \(the index holds "
                                         rf"{size} passages\), got {size + 1}"):
        DocumentReader(searcher, reader_v1, k=size + 1)
    with pytest.raises(ValueError, match=r"query 1 is empty"):
        DocumentReader(searcher, reader_v1, k=K).answer(["Who won?", "  "])
    with pytest.raises(ValueError, match=r"must be a QuestionAnswerer .*got embedding"):
        DocumentReader(searcher, encoder, k=K)


def test_saved_model_answers_as_the_python_api(encoder, index, reader_v1, reader_v1_folder,
                                               squad_documents, tmp_path):
    from bert_tf_serving.predictor import Predictor
    _, questions = squad_documents
    want = DocumentReader(Searcher(encoder, index), reader_v1, k=K).answer(questions)
    with pytest.raises(ValueError, match=r"k must be in \[1, "):
        export_document_reader(index.folder, reader_v1_folder, str(tmp_path), "qa",
                               k=len(index.passages) + 1)
    path = export_document_reader(index.folder, reader_v1_folder, str(tmp_path),
                                  "qa", k=K, warmup_texts=questions[:2])
    predictor = Predictor(path)
    assert predictor.export_config["task"] == "document_qa"
    rows = predictor({"question": questions + ["", "\u200b "]})
    for got, answer in zip(rows, want):
        assert got["error"] == b""
        for name in ("answer", "passage_id", "doc_id"):
            assert got[name].decode("utf-8") == answer[name]
        assert (int(got["start"]), int(got["end"])) == (answer["start"], answer["end"])
        for name in ("score", "retrieval_score", "reader_score"):
            assert float(got[name]) == pytest.approx(answer[name], abs=1e-3)
    for got in rows[len(questions):]:  # per-row errors; the other rows were answered
        assert got["error"].decode("utf-8") == QUESTION_ERROR
        assert (got["answer"], int(got["start"]), float(got["score"])) == (b"", -1, NO_SCORE)



def test_squad_dev_as_documents(tmp_path):
    import json
    from bert_tf.data.corpus_writer import write_corpus
    written = write_corpus("squad_dev", str(tmp_path))
    assert sorted(os.path.basename(p) for p in written) == [
        "dev-v1.1.json", "paragraphs.jsonl", "questions.jsonl"]
    rows = [json.loads(line) for line in open(tmp_path / "paragraphs.jsonl", encoding="utf-8")]
    examples = read_squad(corpora.squad_path("dev"))
    assert len(rows) == 2067 and len({row["id"] for row in rows}) == 2067
    assert rows[0]["id"] == "Super_Bowl_50/0" and rows[0]["text"] == examples[0].context
    questions = open(tmp_path / "questions.jsonl", encoding="utf-8").read().splitlines()
    assert [json.loads(q) for q in questions[:2]] == [{"question": ex.question}
                                                      for ex in examples[:2]]
    paragraphs = read_squad_paragraphs(corpora.squad_path("dev"))
    assert sum(len(p.question_ids) for p in paragraphs) == len(examples) == len(questions)


def _run(name, *args, cwd):
    return subprocess.run([sys.executable, "-m", f"bert_tf_tools.{name}", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_readme_commands_index_export_and_predict(encoder_folder, reader_v1_folder,
                                                  squad_documents, tmp_path):
    """The README block's bert-index, bert-export --index_dir and bert-predict, on the
    tiny models and a few SQuAD dev paragraphs (~40-80 s: four processes)."""
    import json
    documents, questions = squad_documents
    with open(tmp_path / "paragraphs.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": i, "text": t}) + "\n" for i, t in documents.items())
    index = _run("index", f"--model={encoder_folder}", "--corpus=paragraphs.jsonl",
                 "--output_dir=indexes/squad_dev", cwd=tmp_path)
    assert index.returncode == 0, index.stderr
    too_many = _run("export", "--index_dir=indexes/squad_dev", f"--reader_dir={reader_v1_folder}",
                    "--export_base=exports", "--model_name=squad_docs", "--k=99", cwd=tmp_path)
    assert too_many.returncode == 2
    assert re.fullmatch(r"bert_tf: error: k must be in \[1, (\d+)\] \(the index holds \1 "
                        r"passages\), got 99", too_many.stderr.strip().splitlines()[-1])
    export = _run("export", "--index_dir=indexes/squad_dev", f"--reader_dir={reader_v1_folder}",
                  "--export_base=exports", "--model_name=squad_docs", "--k=2", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert "serving_default: question (string [B]) -> answer" in export.stdout
    predict = _run("predict", "--saved_model=exports/squad_docs/1",
                   f"--input=question={questions[0]}", "--input=question=", cwd=tmp_path)
    assert predict.returncode == 0, predict.stderr
    rows = [json.loads(line) for line in predict.stdout.splitlines()]
    assert rows[0]["error"] == "" and rows[0]["doc_id"] in documents
    assert documents[rows[0]["doc_id"]][rows[0]["start"]:rows[0]["end"]] == rows[0]["answer"]
    assert rows[1]["error"] == QUESTION_ERROR and rows[1]["answer"] == ""
