"""The exported `explain` signature: the library's Integrated Gradients, in the graph of
the SavedModel (raw text and target in; words, character offsets and scores out), with
per-row errors; and bert-predict's Predictor calling it. (How saved_model_cli lists the
signature: test_export.py's one saved_model_cli run on the same export.)"""
import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture(scope="module")
def classifier(tiny_classifier):
    return tiny_classifier  # labels fresh / rotten


@pytest.fixture(scope="module")
def exported(tiny_classifier_export):
    return tiny_classifier_export


TEXTS = ["A warm, funny film!", "Dull.", "Héllo wörld, an ünusual text"]


def test_explain_signature_equals_the_library(classifier, exported):
    signature = tf.saved_model.load(exported).signatures["explain"]
    out = signature(text=tf.constant(TEXTS), label_id=tf.constant([-1, 1, 0]))
    want = classifier.explain(TEXTS, target=[None, "rotten", "fresh"])
    for b, result in enumerate(want):
        n = int(out["num_words"][b])
        assert [w.decode() for w in out["words"][b, :n].numpy()] == result["words"]
        spans = list(zip(out["word_start"][b, :n].numpy(), out["word_end"][b, :n].numpy()))
        assert spans == result["spans"]
        np.testing.assert_allclose(out["scores"][b, :n].numpy(), result["scores"],
                                   atol=1e-6, rtol=1e-4)
        assert out["error"][b].numpy() == b""
    assert list(out["target_label_id"].numpy()[1:]) == [1, 0]


def test_rows_that_cannot_be_explained_say_why(exported):
    signature = tf.saved_model.load(exported).signatures["explain"]
    out = signature(text=tf.constant(["", "Fine.", "Fine."]), label_id=tf.constant([-1, 7, 1]))
    errors = [e.decode() for e in out["error"].numpy()]
    assert errors[0].startswith("text has no text")
    assert errors[1] == "label_id outside [-1, 2)"
    assert errors[2] == ""


def test_predictor_calls_explain_with_the_prediction_by_default(classifier, exported):
    from serving import predictor  # this checkout's (installed: bert_tf_serving)
    rows = predictor.predict(exported, {"text": TEXTS}, signature="explain", batch_size=2)
    want = classifier.explain(TEXTS)
    for row, result in zip(rows, want):
        n = int(row["num_words"])
        np.testing.assert_allclose(row["scores"][:n], result["scores"], atol=1e-6, rtol=1e-4)
    rows = predictor.predict(exported, {"text": TEXTS[:1], "label_id": [1]},
                             signature="explain")
    assert int(rows[0]["target_label_id"]) == 1


def test_ner_explain_signature_names_a_word_past_the_text(tiny_tagger, tiny_tagger_export):
    ner = tiny_tagger
    signature = tf.saved_model.load(tiny_tagger_export).signatures["explain"]
    b_loc = ner.task.labels.index("B-LOC")
    out = signature(text=tf.constant(["John lives in Paris", "Hi there"]),
                    word=tf.constant([3, 5]), tag_id=tf.constant([b_loc, -1]))
    want, = ner.explain(["John lives in Paris"], target=(3, "B-LOC"))
    np.testing.assert_allclose(out["scores"][0, :4].numpy(), want["scores"], atol=1e-6,
                               rtol=1e-4)
    assert [e.decode() for e in out["error"].numpy()] == [
        "", "target word is past the text's words"]


def test_qa_explain_signature_equals_the_library(tiny_reader, tiny_reader_export):
    qa = tiny_reader
    context = "The tower was designed by the company of Gustave Eiffel and built in 1889."
    signature = tf.saved_model.load(tiny_reader_export).signatures["explain"]
    out = signature(question=tf.constant(["Who designed it?"] * 2),
                    context=tf.constant([context] * 2), answer_end=tf.constant([1, 5]))
    want, = qa.explain([("Who designed it?", context)], target="end")
    n = int(out["num_words"][0])
    np.testing.assert_allclose(out["scores"][0, :n].numpy(), want["scores"], atol=1e-6,
                               rtol=1e-4)
    assert [e.decode() for e in out["error"].numpy()] == ["", "answer_end outside [-1, 2)"]
