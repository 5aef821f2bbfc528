"""What the binaries print, run as a user runs them (no TF_CPP_MIN_LOG_LEVEL, which the
tests' conftest.py otherwise sets): their own lines only, none of TensorFlow's start-up
chatter (CUDA probe, oneDNN, CPU features) nor the SavedModel writer's INFO lines
(tools/cli.py says how). Fast: bert-export and bert-predict on the tiny classifier. Slow:
a short bert-finetune run (its progress line) and every other binary started up to its
`main` (a run that stops at a bad input path)."""
import json
import os
import re
import subprocess
import sys

import pytest

from bert_tf.data import corpora

NOISE = re.compile(r"cuInit|cuda|oneDNN|DT_INT64|DT_INT32|cpu_feature_guard|"
                   r"signature_serialization|functional_saver|Assets written|fingerprint",
                   re.IGNORECASE)


def _user_env():
    return {name: value for name, value in os.environ.items()
            if name not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}


def _command(binary, *args):
    return [sys.executable, "-m", f"bert_tf_tools.{binary}", *args]


def _run(binary, *args, cwd):
    return subprocess.run(_command(binary, *args), capture_output=True, text=True,
                          timeout=600, env=_user_env(), cwd=cwd)


def _assert_quiet(binary, output):
    noise = [line for line in output.splitlines() if NOISE.search(line)]
    assert not noise, f"{binary} printed:\n" + "\n".join(noise)


def test_export_and_predict_print_only_their_own_lines(tmp_path, tiny_classifier_folder):
    """~25 s: bert-export of the tiny saved classifier, then bert-predict on it."""
    (tmp_path / "texts.txt").write_text("A fine film.\nDull.\n")
    export = _run("export", f"--model_dir={tiny_classifier_folder}", "--export_base=exports",
                  "--model_name=rt", cwd=tmp_path)
    assert export.returncode == 0, export.stderr[-3000:]
    assert export.stderr == ""  # the summary (stdout) only
    assert export.stdout.startswith("Exported rt version 1 to exports/rt/1, computing in "
                                    "float32\n  serving_default: text")

    predict = _run("predict", "--saved_model=exports/rt/1", "--input_file=texts.txt",
                   cwd=tmp_path)
    assert predict.returncode == 0, predict.stderr[-3000:]
    assert predict.stderr == "bert-predict: exports/rt/1 computes in float32\n"
    assert [json.loads(line)["text"] for line in predict.stdout.splitlines()] == [
        "A fine film.", "Dull."]


def test_the_library_starts_quietly_too():
    """`import bert_tf`, a public name and a first TF op, as a user's script does: no
    CUDA probe error on this machine, no C++ INFO lines."""
    script = ("import bert_tf; bert_tf.TextClassifier; import tensorflow as tf; "
              "print(float(tf.reduce_sum(tf.ones([2]))))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=_user_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "2.0\n"
    _assert_quiet("import bert_tf", proc.stderr)


@pytest.mark.slow  # two subprocesses, training and exporting: ~40 s
def test_finetune_prints_progress_only_and_verbosity_brings_tf_info_back(
        tmp_path, tiny_checkpoint):
    data = corpora.rotten_tomatoes("validation")
    (tmp_path / "train.jsonl").write_text("".join(
        json.dumps({"text": text, "label": label}) + "\n" for text, label in data[:32]))
    finetune = _run("finetune", "--task=classification", f"--init_checkpoint={tiny_checkpoint}",
                    "--train_file=train.jsonl", "--do_train", "--model_dir=run", "--epochs=1",
                    "--batch_size=16", "--max_seq_length=32", "--log_every_n_steps=1000",
                    cwd=tmp_path)
    assert finetune.returncode == 0, finetune.stderr[-3000:]
    _assert_quiet("bert-finetune", finetune.stdout + finetune.stderr)
    # The progress line comes at 10% of the epoch although the interval is 1000 steps.
    assert re.search(r"\] step 2/2  loss \d", finetune.stderr), finetune.stderr

    # --verbosity asks for TF's INFO lines: they are held back, not lost.
    verbose = _run("export", "--model_dir=run/export", "--export_base=exports",
                   "--model_name=rt", "--verbosity=0", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "signature_serialization" in verbose.stderr


# Each binary with a path that does not exist: it starts (TF loaded, its devices listed,
# the flags parsed) and its `main` stops at the path with one line.
STARTS = {
    "build_vocab": (["--input=missing/*.txt", "--output=vocab.txt"], "matches no file"),
    "write_corpus": (["--corpus=rotten_tomatoes", "--output_dir=a_file"], "File exists"),
    "convert_checkpoint": (["--input=missing", "--output=out", "--output_format=hf"],
                           "does not exist"),
    "create_pretraining_data": (["--input_file=missing/*.txt", "--output_dir=records",
                                 "--vocab_file=missing/vocab.txt"], "matches"),
    "pretrain": (["--input_files=missing/*.tfrecord", "--preset=tiny", "--model_dir=run",
                  "--num_train_steps=1", "--vocab_file=missing/vocab.txt"], "does not exist"),
    "distill": (["--teacher_dir=missing", "--train_file=missing/train.jsonl",
                 "--model_dir=run", "--student_layers=1"], "missing"),
    "explain": (["--model_dir=missing", "--text=A fine film."], "does not exist"),
}


@pytest.mark.slow  # seven TensorFlow start-ups, side by side: ~60 s on 2 cores
def test_every_other_binary_starts_quietly(tmp_path):
    (tmp_path / "a_file").write_text("")
    processes = {binary: subprocess.Popen(_command(binary, *args), stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True,
                                          env=_user_env(), cwd=tmp_path)
                 for binary, (args, _) in STARTS.items()}
    for binary, process in processes.items():
        output = process.communicate(timeout=600)[0]
        assert process.returncode in (1, 2), output[-3000:]  # usage error / bad input
        assert STARTS[binary][1] in output.splitlines()[-1], output[-3000:]
        _assert_quiet(binary, output)
