"""Distillation (`TaskModel.distill`, `bert-distill`): the student's initialisation, the
loss against hand-computed values, a student learning its teacher, NER, saving and
exporting a student, and the binary end to end. Tiny models (H=32) on tiny data."""
import json
import math
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.data import corpora
from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import find_encoder
from bert_tf.model.encoder import BertEncoder
from bert_tf.tasks.base import model_features
from bert_tf.tasks.classification import ClassificationTask
from bert_tf.tasks.ner import NerTask
from bert_tf.train import distill_loss, distill_student
from bert_tf.train.distillation import DistillationConfig

RT = corpora.rotten_tomatoes("train")[:64]
TEXTS = [text for text, _ in RT]
LABELS = ["fresh", "rotten"]
TINY = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64)


def _encoder(num_layers, seed, **overrides):
    keras.utils.set_random_seed(seed)
    return BertEncoder.from_bert_config(BertConfig.from_preset(
        "tiny", num_hidden_layers=num_layers, **{**TINY, **overrides}))


@pytest.fixture(scope="module")
def teacher(tokenizer):
    """A random 4-layer classifier whose head reads the direction in which its pooled
    outputs vary most on TEXTS (their first principal component), centred at the median:
    predictions that depend on the input, half of them each class (they serve as its
    training labels below). Initialised 15x wider than BERT's 0.02, so that its
    attention and pooled outputs depend on the input strongly, as a trained model's do."""
    task = ClassificationTask(tokenizer, max_seq_length=32, labels=LABELS)
    clf = bert_tf.TextClassifier(task, encoder=_encoder(4, seed=1, initializer_range=0.3))
    features = model_features(task.preprocess({"text": tf.constant(TEXTS)}))
    pooled = find_encoder(clf.model)(features)["pooled_output"].numpy()  # [N, H]
    direction = np.linalg.svd(pooled - pooled.mean(0), full_matrices=False)[2][0]  # [H]
    scores = pooled @ direction
    scale = 3 / scores.std()  # logit differences of a few units
    clf.model.get_layer("logits").set_weights([
        np.stack([direction, -direction], 1) * scale / 2,
        np.array([-1, 1]) * np.median(scores) * scale / 2])
    return clf


def _probabilities(model, texts):
    return np.array([[p["probabilities"][label] for label in LABELS]
                     for p in model.predict(texts)])


# --- the student --------------------------------------------------------------------------
def test_spread_layers_keep_the_top_layer():
    assert distill_student.spread_layers(3, 6) == [1, 3, 5]
    assert distill_student.spread_layers(2, 6) == [2, 5]
    assert distill_student.spread_layers(1, 6) == [5]
    assert distill_student.spread_layers(4, 6) == [0, 2, 3, 5]
    assert distill_student.spread_layers(6, 6) == list(range(6))


def test_student_of_teacher_layers_holds_their_weights(teacher, tokenizer):
    teacher_encoder = find_encoder(teacher.model)
    for config, layers in [(DistillationConfig(student_layers=2), [1, 3]),
                           (DistillationConfig(teacher_layers=[0, 1]), [0, 1])]:
        encoder, layer_map = distill_student.student_encoder(teacher_encoder, config, tokenizer)
        assert layer_map == layers
        assert encoder.bert_config.num_hidden_layers == 2
        for mine, theirs in [(encoder.embeddings, teacher_encoder.embeddings),
                             (encoder.pooler, teacher_encoder.pooler),
                             *[(encoder.transformer_layers[i],
                                teacher_encoder.transformer_layers[j])
                               for i, j in enumerate(layers)]]:
            for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
                np.testing.assert_array_equal(a, b)
    student = bert_tf.TextClassifier(teacher.task, encoder=encoder)
    distill_student.copy_head(teacher.model, student.model)
    for a, b in zip(student.model.get_layer("logits").get_weights(),
                    teacher.model.get_layer("logits").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_students_are_named_before_training(teacher, tokenizer, tmp_path):
    teacher_encoder = find_encoder(teacher.model)
    with pytest.raises(ValueError, match=r"The teacher has 4 layers \(0 to 3\); "
                                         "student_layers 5 is more"):
        distill_student.student_encoder(teacher_encoder, DistillationConfig(student_layers=5),
                                     tokenizer)
    with pytest.raises(ValueError, match=r"teacher_layers \[1, 4\] names others"):
        distill_student.student_encoder(teacher_encoder,
                                     DistillationConfig(teacher_layers=[1, 4]), tokenizer)
    for options, message in [({}, "Say what student to make"),
                             ({"student_layers": 0}, "student_layers must be >= 1"),
                             ({"teacher_layers": [2, 1]}, "must be increasing"),
                             ({"student_layers": 2, "teacher_layers": [1]}, "names 1 layers"),
                             ({"student_layers": 2, "student_preset": "tiny"},
                              "with student_preset the student's shape"),
                             ({"student_layers": 2, "temperature": 0}, "temperature must be"),
                             ({"student_layers": 2, "alpha": 1.5}, "alpha must be in")]:
        with pytest.raises(ValueError, match=message):
            DistillationConfig(**options)
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['temprature'\]: distill "
                                         "takes DistillationConfig's"):
        teacher.distill(TEXTS[:4], LABELS * 2, student_layers=1, temprature=1)
    vocab = tmp_path / "other"
    vocab.mkdir()
    from bert_tf.convert.pretrained import save_pretrained
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n")
    save_pretrained(_encoder(1, seed=0, vocab_size=6), str(vocab / "ckpt"),
                    vocab_path=str(tmp_path / "vocab.txt"), lower_case=True)
    with pytest.raises(ValueError, match="has another vocabulary"):
        distill_student.student_encoder(
            teacher_encoder, DistillationConfig(student_checkpoint=str(vocab / "ckpt")),
            tokenizer)


# --- the loss -----------------------------------------------------------------------------
def test_soft_target_loss_by_hand():
    # T = 2: teacher [2, 0] -> softmax([1, 0]); student [0, 1] -> softmax([0, 0.5]).
    p = [math.e / (math.e + 1), 1 / (math.e + 1)]
    q = [1 / (1 + math.exp(0.5)), math.exp(0.5) / (1 + math.exp(0.5))]
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert kl == pytest.approx(0.257403, abs=1e-6)  # 0.7311 ln(0.7311 / 0.3775) + ...
    a = np.array  # Keras losses take arrays (lists are nests of scalars to them)
    loss = distill_loss.SoftTargetLoss(temperature=2.0)
    assert float(loss(a([[2.0, 0.0]]), a([[0.0, 1.0]]))) == pytest.approx(4 * kl, rel=1e-5)
    assert float(loss(a([[2.0, 0.0]]), a([[2.0, 0.0]]))) == pytest.approx(0.0, abs=1e-6)
    # NER: positions weighted like the task's loss; weight 0 leaves a position out.
    tagged = distill_loss.SoftTargetLoss(2.0, reduction="mean_with_sample_weight")
    value = tagged(a([[[2.0, 0.0], [5.0, -5.0]]]), a([[[0.0, 1.0], [0.0, 0.0]]]),
                   a([[1.0, 0.0]]))
    assert float(value) == pytest.approx(4 * kl, rel=1e-5)
    hidden = distill_loss.HiddenStateLoss()
    value = hidden(np.zeros([1, 2, 2]), a([[[1.0, 3.0], [9.0, 9.0]]]), a([[1.0, 0.0]]))
    assert float(value) == pytest.approx((1 + 9) / 2)


def test_distiller_loss_combines_the_terms_and_trains_only_the_student(teacher):
    student = bert_tf.TextClassifier(teacher.task, encoder=_encoder(1, seed=2))
    distiller = distill_loss.Distiller(
        student.model, teacher.model, teacher.task.compile_args(None)["loss"],
        layer_map=[3], temperature=3.0, alpha=0.25)
    assert len(distiller.trainable_weights) == len(student.model.trainable_weights)
    assert {id(w) for w in distiller.weights} == {id(w) for w in student.model.weights}
    features = model_features(teacher.task.preprocess({"text": tf.constant(TEXTS[:4])}))
    s = student.model(features).numpy()
    t = teacher.model(features).numpy()
    labels = np.array([0, 1, 1, 0])
    loss = float(distiller.compute_loss(features, labels, s))

    def log_softmax(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    soft = 9 * np.mean(np.sum(np.exp(log_softmax(t / 3)) * (log_softmax(t / 3)
                                                          - log_softmax(s / 3)), -1))
    hard = -np.mean(log_softmax(s)[np.arange(4), labels])
    assert loss == pytest.approx(0.25 * soft + 0.75 * hard, rel=1e-4)


# --- training -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def distilled(teacher, tmp_path_factory):
    """A 1-layer student of the teacher (its top layer) trained on the soft targets alone
    (alpha=1), with checkpoints in a model_dir and the best epoch on validation data
    kept; {"student", "history", "before": its probabilities before training}."""
    teacher_labels = [p["label"] for p in teacher.predict(TEXTS)]
    before = {}

    class Before(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):  # each epoch's fit call; the first one counts
            if not before:
                before["p"] = _probabilities(
                    bert_tf.TextClassifier(teacher.task, self.model.student), TEXTS)

    history = {}

    class Logs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for name, value in logs.items():
                history.setdefault(name, []).append(value)

    student = teacher.distill(TEXTS, teacher_labels,
                              validation_data=(TEXTS[:16], teacher_labels[:16]),
                              student_layers=1, alpha=1.0, temperature=2.0, epochs=2,
                              batch_size=4, learning_rate=3e-3, warmup_proportion=0.0,
                              model_dir=str(tmp_path_factory.mktemp("run")),
                              callbacks=[Before(), Logs()])
    return {"student": student, "history": history, "before": before["p"]}


def test_student_learns_from_its_teacher(teacher, distilled):
    """Its output distribution moves to the teacher's, and it agrees with the teacher's
    labels more often; the loss terms and the student's validation metric are logged."""
    target = _probabilities(teacher, TEXTS)
    assert [LABELS[i] for i in target.argmax(-1)].count("fresh") == len(TEXTS) // 2
    after = _probabilities(distilled["student"], TEXTS)

    def agreement(p):
        return np.mean(p.argmax(-1) == target.argmax(-1))

    def kl(p):  # KL(teacher || student), averaged over the texts
        return np.mean(np.sum(target * np.log(target / p), -1))

    assert kl(after) < 0.2 * kl(distilled["before"])  # measured: 4.07 -> 0.36
    assert agreement(after) > agreement(distilled["before"])  # measured: 0.50 -> 0.59
    history = distilled["history"]
    assert {"loss", "soft_loss", "hard_loss", "val_accuracy"} <= set(history)
    assert len(history["val_accuracy"]) == 2
    # alpha = 1: the loss is the soft term.
    np.testing.assert_allclose(history["loss"], history["soft_loss"], rtol=1e-5)


def test_ner_student_with_hidden_state_matching(tokenizer):
    """NER: a fresh, wider student (preset tiny, H=128) whose hidden states go through
    learned projections to the teacher's (H=32)."""
    sentences = [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"],
                 ["BRUSSELS", "1996-08-22"], ["The", "European", "Commission", "said"]] * 2
    tags = [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC", "O"],
            ["O", "B-ORG", "I-ORG", "O"]] * 2
    labels = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-ORG", "I-PER"]
    teacher = bert_tf.TokenClassifier(NerTask(tokenizer, max_seq_length=16, labels=labels),
                                      encoder=_encoder(2, seed=3))
    logs = {}

    class Logs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs_=None):
            logs.update(logs_)

    student = teacher.distill(sentences, tags, student_preset="tiny", hidden_weight=1.0,
                              teacher_layers=[0, 1], epochs=1, batch_size=4,
                              callbacks=[Logs()])
    assert {"soft_loss", "hard_loss", "hidden_loss"} <= set(logs)
    assert all(np.isfinite(logs[name]) for name in ("soft_loss", "hard_loss", "hidden_loss"))
    assert find_encoder(student.model).bert_config.hidden_size == 128
    assert student.task is teacher.task
    predicted = student.predict(["EU rejects German call"])
    assert len(predicted[0]) == 4 and set(predicted[0]) <= set(labels)
    assert set(student.evaluate(sentences, tags)) == {"precision", "recall", "f1"}


def test_student_saves_loads_and_exports(distilled, tmp_path):
    student = distilled["student"]
    folder = student.save(str(tmp_path / "student"))
    resolved = json.loads(open(os.path.join(folder, "resolved_config.json")).read())
    assert resolved["distillation"]["student_layers"] == 1
    assert resolved["task"] == "classification"
    loaded = bert_tf.load(folder)
    assert type(loaded) is bert_tf.TextClassifier
    assert find_encoder(loaded.model).bert_config.num_hidden_layers == 1
    np.testing.assert_allclose(_probabilities(loaded, TEXTS[:8]),
                               _probabilities(student, TEXTS[:8]), atol=1e-6)
    export = student.export(str(tmp_path / "exports"), "student")
    served = tf.saved_model.load(export).signatures["serving_default"](
        text=tf.constant(TEXTS[:8]))
    np.testing.assert_allclose(served["probabilities"].numpy(),
                               _probabilities(student, TEXTS[:8]), atol=1e-5)


# --- bert-distill -------------------------------------------------------------------------
def _distill_tool(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bert_tf_tools.distill", *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_binary_usage_errors_are_one_line(tmp_path):
    for args, message in [
            (["--teacher_dir=/no/such", "--train_file=x.jsonl", f"--model_dir={tmp_path}",
              "--student_layers=1"], "--teacher_dir /no/such does not exist"),
            ([f"--teacher_dir={tmp_path}", "--train_file=x.jsonl", f"--model_dir={tmp_path}"],
             "Say what student to make: student_layers")]:
        proc = _distill_tool(*args)
        assert proc.returncode == 2 and re.search(message, proc.stderr), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_binary_end_to_end(teacher, tmp_path):
    """~60 s: three subprocesses, as bert-finetune's end-to-end tests. The data and
    --model_dir are relative to the working directory, as a user types them."""
    teacher_dir = teacher.save(str(tmp_path / "teacher"))
    labels = [p["label"] for p in teacher.predict(TEXTS[:32])]
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps({"text": t, "label": l}) + "\n"
                             for t, l in zip(TEXTS[:32], labels)))
    model_dir = tmp_path / "run"
    command = [f"--teacher_dir={teacher_dir}", "--train_file=train.jsonl",
               "--eval_file=train.jsonl", "--model_dir=run", "--student_layers=1",
               "--temperature=3", "--alpha=0.7", "--epochs=1", "--batch_size=16"]
    proc = _distill_tool(*command, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Evaluation: student accuracy" in proc.stdout and "teacher accuracy" in proc.stdout
    export = model_dir / "export"
    assert sorted(os.listdir(export)) == ["model.keras", "resolved_config.json",
                                         "task_config.json", "vocab.txt"]
    resolved = json.loads((export / "resolved_config.json").read_text())
    assert resolved["temperature"] == 3 and resolved["distillation"]["alpha"] == 0.7
    assert resolved["teacher_dir"] == teacher_dir
    assert set(json.loads((model_dir / "eval_results.json").read_text())) == {
        "accuracy", "macro_f1", "mcc", "loss"}
    assert find_encoder(bert_tf.load(str(export)).model).bert_config.num_hidden_layers == 1

    for args, message in [
            (command, "already holds a model; give another --model_dir, or --overwrite"),
            ([*command[:3], f"--model_dir={tmp_path / 'b'}", "--student_layers=9"],
             r"The teacher has 4 layers \(0 to 3\); student_layers 9 is more")]:
        proc = _distill_tool(*args, cwd=tmp_path)  # (a usage error prints the help too)
        assert proc.returncode != 0 and re.search(message, proc.stderr), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_interrupted_distillation_resumes_exactly(teacher, tmp_path):
    """~60 s. Stopped by an error in its second epoch and called again with the same
    model_dir, a distillation (a fresh student with hidden-state projections, dropout)
    runs only the steps left and ends with the weights of an uninterrupted one."""
    labels = [p["label"] for p in teacher.predict(TEXTS[:32])]

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 6:  # epoch 2 of 2, step 2 of 4
                raise RuntimeError("crash")

    def run(model_dir, callbacks=()):
        return teacher.distill(TEXTS[:32], labels, student_preset="tiny", hidden_weight=1.0,
                               epochs=2, batch_size=8, checkpoint_every_n_steps=1,
                               model_dir=str(model_dir), callbacks=list(callbacks))

    straight = run(tmp_path / "straight")
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path / "resumed", [Crash()])
    steps = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            steps.append(batch)

    resumed = run(tmp_path / "resumed", [Count()])
    assert len(steps) == 8 - 6  # 2 epochs of 4 steps, 6 done before the crash
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
