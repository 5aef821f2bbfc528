"""bert-finetune end to end, as a subprocess on tiny data: train -> eval -> predict, then
predicting again from the saved export alone."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bert_tf.data import corpora
from bert_tf.data.conll import read_conll


def _finetune(*args):
    proc = subprocess.run([sys.executable, "-m", "bert_tf_tools.finetune", *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return proc


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_classification_train_eval_predict(tmp_path, tiny_checkpoint):
    """~60 s: two subprocesses (TF start-up and tokenizer tracing dominate)."""
    data = corpora.rotten_tomatoes("validation")
    train = _write_jsonl(tmp_path / "train.jsonl",
                         [{"review": t, "label": l} for t, l in data[:48]])
    dev = _write_jsonl(tmp_path / "dev.jsonl", [{"review": t, "label": l} for t, l in data[48:80]])
    new = _write_jsonl(tmp_path / "new.jsonl", [{"review": t} for t, _ in data[80:90]])
    model_dir = tmp_path / "run"
    proc = _finetune(
        "--task=classification", f"--init_checkpoint={tiny_checkpoint}",
        f"--train_file={train}", f"--eval_file={dev}", f"--predict_file={new}",
        "--text_column=review", "--do_train", "--do_eval", "--do_predict",
        f"--model_dir={model_dir}", "--epochs=2", "--batch_size=16",
        "--max_seq_length=32", "--learning_rate=1e-3", "--log_every_n_steps=1",
        "--keep_epoch=best", "--monitor=mcc")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Evaluation: accuracy" in proc.stdout
    assert "Kept epoch " in proc.stderr and "(best epoch by val_mcc, max)" in proc.stderr

    export = model_dir / "export"
    assert sorted(os.listdir(export)) == ["model.keras", "resolved_config.json",
                                         "task_config.json", "vocab.txt"]
    task_config = json.loads((export / "task_config.json").read_text())
    assert task_config["labels"] == ["fresh", "rotten"] and task_config["lower_case"] is True
    resolved = json.loads((export / "resolved_config.json").read_text())
    assert resolved["learning_rate"] == 1e-3 and resolved["task"] == "classification"
    assert (model_dir / "best.weights.h5").exists()
    results = json.loads((model_dir / "eval_results.json").read_text())
    assert set(results) == {"accuracy", "macro_f1", "mcc", "loss", "selection"}
    # The kept epoch is the one with the best validation MCC, recorded in both files.
    assert results["selection"] == resolved["selection"]
    assert resolved["selection"]["kept_epoch"] == resolved["selection"]["best_epoch"]
    assert resolved["selection"]["monitor"] == "val_mcc" and resolved["keep_epoch"] == "best"
    predictions = [json.loads(line) for line in
                   (model_dir / "predictions.jsonl").read_text().splitlines()]
    assert [p["text"] for p in predictions] == [t for t, _ in data[80:90]]
    assert all(p["label"] in ("fresh", "rotten") and "true_label" not in p for p in predictions)

    # Predicting later uses the export alone and gives the same answers.
    again = tmp_path / "again.jsonl"
    proc = _finetune("--task=classification", "--do_predict", f"--predict_file={new}",
                     "--text_column=review", f"--model_dir={model_dir}",
                     f"--predictions_file={again}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [json.loads(line)["label"] for line in again.read_text().splitlines()] == [
        p["label"] for p in predictions]


@pytest.mark.slow
def test_ner_train_eval_predict(tmp_path, tiny_checkpoint):
    """~40 s: one subprocess on 40 real CoNLL-2003 sentences."""
    lines = open(corpora.conll2003_path("valid"), encoding="utf-8").read().split("\n\n")
    conll = tmp_path / "small.txt"
    conll.write_text("\n\n".join(lines[:41]) + "\n", encoding="utf-8")
    model_dir = tmp_path / "run"
    proc = _finetune(
        "--task=ner", f"--init_checkpoint={tiny_checkpoint}", f"--train_file={conll}",
        f"--eval_file={conll}", f"--predict_file={conll}", "--do_train", "--do_eval",
        "--do_predict", f"--model_dir={model_dir}", "--epochs=1",
        "--batch_size=16", "--max_seq_length=48", "--tag_scheme=bioes")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(json.loads((model_dir / "eval_results.json").read_text())) == {
        "precision", "recall", "f1", "selection"}
    written = read_conll(str(model_dir / "predictions.conll"))  # token, true, predicted
    original = read_conll(str(conll), tag_scheme="bioes")
    assert [s.tokens for s in written] == [s.tokens for s in original]
    labels = json.loads((model_dir / "export/task_config.json").read_text())["labels"]
    assert labels[0] == "O" and any(label.startswith("S-") for label in labels)


@pytest.mark.slow
def test_squad_train_eval_predict(tmp_path, tiny_checkpoint):
    """~60 s: one subprocess on the hand-written SQuAD v2.0 files (long contexts are cut
    into windows); predictions in the official format, n-best and null odds beside."""
    data = os.path.join(os.path.dirname(__file__), "data", "squad")
    model_dir = tmp_path / "run"
    proc = _finetune(
        "--task=qa", f"--init_checkpoint={tiny_checkpoint}",
        f"--train_file={data}/train-v2.0.json", f"--eval_file={data}/dev-v2.0.json",
        f"--predict_file={data}/dev-v2.0.json", "--do_train", "--do_eval", "--do_predict",
        "--version_2_with_negative", f"--model_dir={model_dir}", "--epochs=1",
        "--batch_size=16", "--max_seq_length=96", "--doc_stride=48",
        "--max_query_length=24")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((model_dir / "eval_results.json").read_text())
    assert {"exact_match", "f1", "HasAns_f1", "NoAns_f1", "best_f1_thresh"} <= set(results)
    ids = {qa["id"] for article in json.load(open(f"{data}/dev-v2.0.json"))["data"]
           for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    assert set(json.loads((model_dir / "predictions.json").read_text())) == ids
    assert set(json.loads((model_dir / "predictions_null_odds.json").read_text())) == ids
    nbest = json.loads((model_dir / "predictions_nbest.json").read_text())
    assert all(len(spans) <= 20 for spans in nbest.values())
    config = json.loads((model_dir / "export/task_config.json").read_text())
    assert config["task"] == "qa" and config["version_2_with_negative"]


@pytest.mark.parametrize("config_name", ["glue.json", "rotten_tomatoes.json",
                                         "conll2003.json", "squad.json"])
def test_experiment_configs_set_known_flags(config_name):
    from absl import flags

    import bert_tf_tools.finetune  # noqa: F401  (defines the finetune flags)
    from bert_tf.train import flags as train_flags

    path = os.path.join(os.path.dirname(__file__), "..", "configs", "finetune", config_name)
    flag_values = flags.FLAGS
    flag_values.unparse_flags()
    try:
        flag_values(["prog", f"--config_file={path}", "--learning_rate=1e-5"])
        train_flags.apply_config_file(flag_values)
        expected = json.loads(open(path).read())
        assert flag_values.task == expected["task"]
        assert flag_values.max_seq_length == expected["max_seq_length"]
        assert flag_values.learning_rate == 1e-5  # the command line wins
        # The values are valid settings of the run and of the task.
        from bert_tf.tasks.registry import get_task_class
        from bert_tf.train.config import TrainingConfig
        assert train_flags.config_from_flags(TrainingConfig).learning_rate == 1e-5
        task_class = get_task_class(expected["task"])
        options = train_flags.config_values(task_class.config_class)
        assert task_class.config_class(**options).max_seq_length == expected["max_seq_length"]
    finally:
        flag_values.unparse_flags()


def test_usage_errors_name_the_flag(tmp_path, tiny_checkpoint):
    proc = _finetune("--task=classification", f"--model_dir={tmp_path}")
    assert proc.returncode != 0 and "Nothing to do" in proc.stderr
    proc = _finetune("--task=classification", "--do_train", f"--model_dir={tmp_path}",
                     f"--init_checkpoint={tiny_checkpoint}")
    assert proc.returncode != 0 and "--train_file is required for --do_train" in proc.stderr


def test_project_errors_are_one_line_and_finished_models_are_kept(tmp_path, tiny_checkpoint):
    """The binaries' own errors print one line, no traceback; a finished model is never
    silently replaced."""
    train = tmp_path / "train.jsonl"
    train.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n')
    common = ["--task=classification", "--do_train", f"--train_file={train}",
              f"--model_dir={tmp_path / 'run'}"]
    proc = _finetune(*common, "--init_checkpoint=/no/such/checkpoint")
    assert proc.returncode == 2
    assert "error: Checkpoint folder /no/such/checkpoint does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _finetune(*common, f"--init_checkpoint={tiny_checkpoint}", "--batch_size=0")
    assert "batch_size must be a whole number >= 1, got 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    (tmp_path / "run" / "export").mkdir(parents=True)
    (tmp_path / "run" / "export" / "model.keras").write_text("a finished model")
    proc = _finetune(*common, f"--init_checkpoint={tiny_checkpoint}")
    assert proc.returncode != 0 and "already holds a fine-tuned model" in proc.stderr
    assert "--overwrite" in proc.stderr
    assert (tmp_path / "run" / "export" / "model.keras").read_text() == "a finished model"


def _sigkill_in_epoch(command, model_dir, epoch, log_path, env, cwd=None):
    """Starts `command` and kills it with SIGKILL once its backup (model_dir/backup/
    state.json) is 2 steps into `epoch` (0-based)."""
    state_file = model_dir / "backup" / "state.json"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=cwd)
        deadline = time.monotonic() + 600
        try:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    state = json.loads(state_file.read_text())
                except (OSError, ValueError):
                    state = {}
                if state.get("epoch") == epoch and state.get("step", 0) >= 2:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.05)
        finally:
            process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, log_path.read_text()[-3000:]


def _assert_same_exported_weights(*model_dirs):
    import keras
    import numpy as np

    import bert_tf.model.encoder  # noqa: F401  (registers BertEncoder for load_model)
    models = [keras.saving.load_model(str(folder / "export" / "model.keras"), compile=False)
              for folder in model_dirs]
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_sigkill_mid_epoch_and_restart_ends_like_an_uninterrupted_run(tmp_path, minilm_path):
    """bert-finetune on the real MiniLM, shuffled and length-bucketed batches, dropout:
    killed with SIGKILL in the middle of its second epoch and started again with the same
    command, it exports the weights an uninterrupted run exports. The killed run's
    --model_dir is relative, as a user types it. ~3 min on 2 cores."""
    data = corpora.rotten_tomatoes("train")
    train = _write_jsonl(tmp_path / "train.jsonl",
                         [{"text": t, "label": l} for t, l in data[:160]])
    dev = _write_jsonl(tmp_path / "dev.jsonl",
                       [{"text": t, "label": l} for t, l in data[160:192]])

    def command(model_dir):
        return [sys.executable, "-m", "bert_tf_tools.finetune", "--task=classification",
                f"--init_checkpoint={minilm_path}", f"--train_file={train}",
                f"--eval_file={dev}", "--do_train", f"--model_dir={model_dir}",
                "--epochs=2", "--batch_size=16", "--max_seq_length=32",
                "--checkpoint_every_n_steps=2", "--learning_rate=1e-4"]

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    straight = subprocess.run(command(tmp_path / "straight"), capture_output=True, text=True,
                              timeout=900, env=env)
    assert straight.returncode == 0, straight.stderr[-3000:]

    _sigkill_in_epoch(command("killed"), tmp_path / "killed", 1, tmp_path / "killed.log", env,
                      cwd=tmp_path)  # epoch 2 of 2
    assert not (tmp_path / "killed" / "export").exists()
    resumed = subprocess.run(command("killed"), capture_output=True, text=True,
                             timeout=900, env=env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    _assert_same_exported_weights(tmp_path / "straight", tmp_path / "killed")


@pytest.mark.slow
def test_sigkill_in_an_early_stopped_run_resumes_to_the_same_kept_epoch(tmp_path,
                                                                       tiny_checkpoint):
    """bert-finetune with early stopping (patience 1 on validation accuracy), killed with
    SIGKILL in its second epoch and started again: it stops after the same epoch, keeps the
    same best epoch and exports the same weights as an uninterrupted run. ~1 min."""
    data = corpora.rotten_tomatoes("train")
    train = _write_jsonl(tmp_path / "train.jsonl",
                         [{"text": t, "label": l} for t, l in data[:96]])
    dev = _write_jsonl(tmp_path / "dev.jsonl",
                       [{"text": t, "label": l} for t, l in data[96:128]])

    def command(model_dir):
        return [sys.executable, "-m", "bert_tf_tools.finetune", "--task=classification",
                f"--init_checkpoint={tiny_checkpoint}", f"--train_file={train}",
                f"--eval_file={dev}", "--do_train", f"--model_dir={model_dir}",
                "--epochs=8", "--batch_size=16", "--max_seq_length=32",
                "--checkpoint_every_n_steps=2", "--learning_rate=1e-3", "--keep_epoch=best",
                "--monitor=accuracy", "--early_stopping_patience=1"]

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    straight = subprocess.run(command(tmp_path / "straight"), capture_output=True, text=True,
                              timeout=600, env=env)
    assert straight.returncode == 0, straight.stderr[-3000:]
    expected = json.loads((tmp_path / "straight/export/resolved_config.json").read_text())
    assert expected["selection"]["stopped_early"], expected["selection"]
    assert expected["selection"]["epochs_run"] >= 2

    # SIGKILL in the epoch early stopping ends.
    _sigkill_in_epoch(command(tmp_path / "killed"), tmp_path / "killed",
                      expected["selection"]["epochs_run"] - 1, tmp_path / "killed.log", env)
    resumed = subprocess.run(command(tmp_path / "killed"), capture_output=True, text=True,
                             timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = json.loads((tmp_path / "killed/export/resolved_config.json").read_text())
    assert got["selection"] == expected["selection"]
    _assert_same_exported_weights(tmp_path / "straight", tmp_path / "killed")
