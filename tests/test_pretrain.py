"""Pretraining: the loss and metrics, gradient accumulation, float16 loss scaling, init from
a real checkpoint, exact resume (in process and after SIGKILL), and data parallelism on
MirroredStrategy and MultiWorkerMirroredStrategy.

Data: Rotten Tomatoes sentences grouped into documents, a 400-token vocab learned from
them, records made by `create_pretraining_data`. Model: a 2-layer, 32-wide BERT.
Tests marked slow (run with `-m slow`) start TensorFlow in subprocesses: 30-120 s each.
"""
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.data import corpora
from bert_tf.model.config import BertConfig
from bert_tf.convert import checkpoint as checkpoint_io
from bert_tf.convert.weights import get_weights
from bert_tf.data import PretrainingDataOptions, create_pretraining_data, pretraining_dataset
from bert_tf.data.documents import write_documents
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.convert.pretrained import load_pretraining_model, save_pretrained
from bert_tf.text import learn_vocab, write_vocab
from bert_tf.train.optimization import make_optimizer
from bert_tf.train.pretrain_checkpoints import restore_newest
from bert_tf.train.pretrain_loop import DynamicLossScale, PretrainingTrainer
from bert_tf.train.pretrain_loss import metrics_from_stats

SEQ_LENGTH = 32
MAX_PREDICTIONS = 5
BATCH = 8
SUBPROCESS_TIMEOUT = 300


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """vocab.txt, text.txt (200 documents of 6 real sentences) and records/*.tfrecord."""
    folder = tmp_path_factory.mktemp("pretrain")
    sentences = [" ".join(t.split()) for t, _ in corpora.rotten_tomatoes("train")[:1200]]
    write_vocab(learn_vocab(sentences, 400, lower_case=True), folder / "vocab.txt")
    write_documents(folder / "text.txt", [sentences[i:i + 6] for i in range(0, 1200, 6)])
    create_pretraining_data(
        str(folder / "text.txt"), str(folder / "records"), str(folder / "vocab.txt"),
        PretrainingDataOptions(max_seq_length=SEQ_LENGTH, max_predictions_per_seq=MAX_PREDICTIONS,
                               dupe_factor=1, seed=1))
    return folder


def _config(data_dir, dropout=0.0):
    vocab_size = len((data_dir / "vocab.txt").read_text().splitlines())
    return BertConfig.from_preset(
        "tiny", vocab_size=vocab_size, hidden_size=32, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=SEQ_LENGTH,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def _dataset(data_dir, batch_size=BATCH, shuffle=True):
    return pretraining_dataset(str(data_dir / "records" / "*.tfrecord"), batch_size, SEQ_LENGTH,
                               MAX_PREDICTIONS, seed=3, shuffle=shuffle, shuffle_buffer_size=200)


def _trainer(config, batch_size=BATCH, grad_accum_steps=1, learning_rate=1e-3,
             num_train_steps=100, dtype=None, loss_scale=False):
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.get_strategy()
    model = BertPretrainingModel(BertEncoder.from_bert_config(config, dtype=dtype))
    optimizer = make_optimizer("adamw", learning_rate, num_train_steps, num_warmup_steps=2,
                               grad_accum_steps=grad_accum_steps)
    return PretrainingTrainer(model, optimizer, strategy, batch_size,
                              loss_scale=DynamicLossScale() if loss_scale else None)


def _weights(model):
    return {v.path: v.numpy() for v in model.trainable_variables}


def _assert_same_weights(first, second, atol):
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_allclose(first[name], second[name], atol=atol, rtol=0, err_msg=name)


# --- in process ----------------------------------------------------------------------------
def test_pretraining_learns_and_logs(data_dir, tmp_path):
    trainer = _trainer(_config(data_dir, dropout=0.1), learning_rate=5e-3, num_train_steps=40)
    iterator = iter(_dataset(data_dir))
    first = metrics_from_stats({k: float(v) for k, v in trainer.train_update(iterator).items()})
    # Fresh weights: MLM cross-entropy near ln(V), NSP near ln(2).
    assert abs(first["mlm_loss"] - np.log(trainer.model.encoder.bert_config.vocab_size)) < 0.5
    assert abs(first["nsp_loss"] - np.log(2)) < 0.3

    last = trainer.train(_dataset(data_dir), str(tmp_path), num_train_steps=40,
                         checkpoint_every_n_steps=15, keep_checkpoints=2, log_every_n_steps=10)
    assert last["mlm_loss"] < first["mlm_loss"] - 0.5, (first, last)
    assert 0.05 < last["mlm_accuracy"] <= 1.0 and 0.0 <= last["nsp_accuracy"] <= 1.0
    assert last["learning_rate"] == pytest.approx(0.0, abs=1e-9)  # decayed to 0 at the end
    assert last["sequences_per_second"] > 0
    assert int(trainer.step.numpy()) == 40
    # Checkpoints at 30 and 40 kept (15 rotated out), TensorBoard events written.
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-40")
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.index")) == ["ckpt-30.index",
                                                                     "ckpt-40.index"]
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))


def test_resume_continues_exactly(data_dir, tmp_path):
    """4 steps, a new process state (fresh model and optimizer), resume to 8 == 8 steps."""
    config = _config(data_dir, dropout=0.1)  # dropout: its random state must resume too
    straight = _trainer(config, num_train_steps=8)
    straight.train(_dataset(data_dir), str(tmp_path / "straight"), 8)

    first_half = _trainer(config, num_train_steps=8)
    first_half.train(_dataset(data_dir), str(tmp_path / "resumed"), 4,
                     checkpoint_every_n_steps=4)
    second_half = _trainer(config, num_train_steps=8)
    second_half.train(_dataset(data_dir), str(tmp_path / "resumed"), 8)
    assert int(second_half.step.numpy()) == 8
    _assert_same_weights(_weights(straight.model), _weights(second_half.model), atol=1e-6)


def test_grad_accumulation_equals_a_larger_batch(data_dir, tmp_path):
    config = _config(data_dir)
    accumulated = _trainer(config, batch_size=BATCH, grad_accum_steps=2)
    large = _trainer(config, batch_size=2 * BATCH)
    initial = _weights(large.model)
    _assert_same_weights(_weights(accumulated.model), initial, atol=0)
    # Unshuffled, two micro-batches of 8 are the rows of one batch of 16.
    accumulated_iterator = iter(_dataset(data_dir, BATCH, shuffle=False))
    large_iterator = iter(_dataset(data_dir, 2 * BATCH, shuffle=False))
    for _ in range(3):
        stats_accumulated = accumulated.train_update(accumulated_iterator)
        stats_large = large.train_update(large_iterator)
        for name in stats_large:
            np.testing.assert_allclose(float(stats_accumulated[name]), float(stats_large[name]),
                                       rtol=1e-5)
    assert int(accumulated.optimizer.iterations.numpy()) == 3
    # Adam divides by sqrt(v): where a gradient is ~0, the rounding of the two summation
    # orders changes an update by up to ~1% of the learning rate (1e-3). A wrong
    # accumulation (summing, or updating per micro-batch) is off by ~the learning rate.
    _assert_same_weights(_weights(accumulated.model), _weights(large.model), atol=2e-5)
    assert max(np.abs(w - initial[k]).max()
               for k, w in _weights(large.model).items()) > 1e-3  # they did train


def test_float16_loss_scaling(data_dir):
    trainer = _trainer(_config(data_dir), dtype="mixed_float16", loss_scale=True)
    iterator = iter(_dataset(data_dir))
    before = _weights(trainer.model)
    for _ in range(3):
        metrics = metrics_from_stats({k: float(v)
                                      for k, v in trainer.train_update(iterator).items()})
        assert np.isfinite(metrics["loss"])
    assert trainer.model.encoder.transformer_layers[0].compute_dtype == "float16"
    assert trainer.loss_scale.scale.numpy() in (2.0**15, 2.0**14, 2.0**13)
    assert any(np.abs(w - before[k]).max() > 0 for k, w in _weights(trainer.model).items())


def test_dynamic_loss_scale_halves_on_overflow_and_grows():
    loss_scale = DynamicLossScale(initial_scale=8.0, growth_steps=2)
    loss_scale.update(tf.constant(False))
    assert loss_scale.scale.numpy() == 4.0
    loss_scale.update(tf.constant(True))
    assert loss_scale.scale.numpy() == 4.0
    loss_scale.update(tf.constant(True))
    assert loss_scale.scale.numpy() == 8.0 and loss_scale.finite_steps.numpy() == 0


def _assert_trains_from(model, data_dir):
    trainer = PretrainingTrainer(model, make_optimizer("adamw", 1e-4, 10),
                                 tf.distribute.get_strategy(), 4)
    stats = trainer.train_update(iter(_dataset(data_dir, batch_size=4)))
    assert np.isfinite(metrics_from_stats({k: float(v) for k, v in stats.items()})["loss"])


def test_init_from_a_google_checkpoint_with_heads(data_dir, tmp_path):
    keras.utils.set_random_seed(1)
    source = BertPretrainingModel(BertEncoder.from_bert_config(_config(data_dir)))
    save_pretrained(source, str(tmp_path / "google"), checkpoint_format="google")
    model = load_pretraining_model(str(tmp_path / "google"))
    expected = get_weights(source)
    assert any(name.startswith("cls/") for name in expected)  # the heads come along
    for name, value in get_weights(model).items():
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    _assert_trains_from(model, data_dir)


@pytest.mark.slow  # builds and trains the 22M-parameter MiniLM, ~35 s
def test_init_from_a_real_checkpoint(minilm_path, data_dir):
    """MiniLM (HF layout, no MLM head) starts pretraining with its encoder weights."""
    model = load_pretraining_model(minilm_path)
    stored = checkpoint_io.read(minilm_path).weights
    for name, value in get_weights(model.encoder).items():
        np.testing.assert_array_equal(value, stored[name], err_msg=name)
    # Our records use ids < 400, valid in MiniLM's vocab too.
    _assert_trains_from(model, data_dir)


def test_batch_must_divide_over_replicas(data_dir):
    model = BertPretrainingModel(BertEncoder.from_bert_config(_config(data_dir)))

    class TwoReplicas:  # the check needs only the replica count
        num_replicas_in_sync = 2

    with pytest.raises(ValueError, match="global batch size 7 must divide by the 2 replicas"):
        PretrainingTrainer(model, make_optimizer("adamw", 1e-3, 10), TwoReplicas(), 7)


# --- subprocesses --------------------------------------------------------------------------
_MIRRORED_SCRIPT = r"""
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from bert_tf.model.config import BertConfig
from bert_tf.data import pretraining_dataset
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.train.optimization import make_optimizer
from bert_tf.train.pretrain_loop import PretrainingTrainer
from bert_tf.train.pretrain_loss import metrics_from_stats

pattern, config_file, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
config = BertConfig.from_json_file(config_file)

def run(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = BertPretrainingModel(BertEncoder.from_bert_config(config))
        optimizer = make_optimizer("adamw", 1e-3, steps, 1)
    trainer = PretrainingTrainer(model, optimizer, strategy, global_batch_size=8)
    iterator = iter(pretraining_dataset(pattern, 8, 32, 5, seed=3))
    losses = [metrics_from_stats({k: float(v) for k, v in trainer.train_update(iterator).items()})
              ["loss"] for _ in range(steps)]
    return losses, [v.numpy() for v in model.trainable_variables]

single_losses, single_weights = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
mirrored_losses, mirrored_weights = run(mirrored)
print("RESULT " + json.dumps({
    "replicas": mirrored.num_replicas_in_sync, "single": single_losses,
    "mirrored": mirrored_losses,
    "max_weight_diff": max(float(abs(a - b).max())
                           for a, b in zip(single_weights, mirrored_weights))}))
"""

_WORKER_SCRIPT = r"""
import sys
import numpy as np
import keras
from bert_tf.model.config import BertConfig
from bert_tf.data import pretraining_dataset
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.train.optimization import make_optimizer
from bert_tf.train.pretrain_loop import PretrainingTrainer
from bert_tf.train.strategy import make_strategy

pattern, config_file, model_dir, out = sys.argv[1:5]
strategy = make_strategy("multi_worker")
keras.utils.set_random_seed(0)
with strategy.scope():
    model = BertPretrainingModel(BertEncoder.from_bert_config(
        BertConfig.from_json_file(config_file)))
    optimizer = make_optimizer("adamw", 1e-3, 4, 1)
trainer = PretrainingTrainer(model, optimizer, strategy, global_batch_size=8)
metrics = trainer.train(pretraining_dataset(pattern, 8, 32, 5, seed=3), model_dir, 4,
                        checkpoint_every_n_steps=2, log_every_n_steps=2)
np.savez(out, replicas=strategy.num_replicas_in_sync, loss=metrics["loss"],
         **{v.path.replace("/", "."): v.numpy() for v in model.trainable_variables})
"""


def _subprocess_env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def _write_config(data_dir, tmp_path, dropout=0.0):
    path = tmp_path / "bert_config.json"
    _config(data_dir, dropout).to_json_file(str(path))
    return path


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow  # a subprocess with TensorFlow on 2 logical CPUs, ~30 s
def test_mirrored_strategy_follows_single_device(data_dir, tmp_path):
    config_file = _write_config(data_dir, tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT, str(data_dir / "records" / "*.tfrecord"),
         str(config_file), "5"], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        env=_subprocess_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(line[7:] for line in proc.stdout.splitlines()
                             if line.startswith("RESULT ")))
    assert result["replicas"] == 2
    # Same global batches, same updates: only the order of float sums differs.
    np.testing.assert_allclose(result["mirrored"], result["single"], rtol=1e-4)
    assert result["single"][-1] < result["single"][0]
    assert result["max_weight_diff"] < 1e-4


@pytest.mark.slow  # two worker processes, each starting TensorFlow, ~60 s
def test_multi_worker_strategy_workers_agree(data_dir, tmp_path):
    config_file = _write_config(data_dir, tmp_path)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    workers = []
    try:
        for index in range(2):
            env = {**_subprocess_env(), "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}})}
            workers.append(subprocess.Popen(
                [sys.executable, "-c", _WORKER_SCRIPT, str(data_dir / "records" / "*.tfrecord"),
                 str(config_file), str(tmp_path / "model"), str(tmp_path / f"worker{index}.npz")],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        outputs = [worker.communicate(timeout=SUBPROCESS_TIMEOUT)[0] for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    results = [dict(np.load(tmp_path / f"worker{i}.npz")) for i in range(2)]
    assert int(results[0]["replicas"]) == 2 and np.isfinite(results[0]["loss"])
    _assert_same_weights(results[0], results[1], atol=0)
    # Only the chief (worker 0) keeps checkpoints; worker 1's temporary ones are gone.
    assert tf.train.latest_checkpoint(str(tmp_path / "model")).endswith("ckpt-4")
    assert not list((tmp_path / "model").glob("worker_tmp_*"))


def _pretrain_command(data_dir, config_file, model_dir, steps):
    return [sys.executable, "-m", "bert_tf_tools.pretrain",
            f"--input_files={data_dir / 'records' / '*.tfrecord'}",
            f"--bert_config={config_file}", f"--vocab_file={data_dir / 'vocab.txt'}",
            f"--model_dir={model_dir}", f"--num_train_steps={steps}",
            f"--batch_size={BATCH}", f"--max_seq_length={SEQ_LENGTH}",
            f"--max_predictions_per_seq={MAX_PREDICTIONS}", "--learning_rate=1e-3",
            "--warmup_steps=2", "--checkpoint_every_n_steps=10", "--log_every_n_steps=10",
            "--shuffle_buffer_size=200"]


@pytest.mark.slow  # four bert-pretrain runs, ~110 s
def test_sigkill_and_restart_ends_like_an_uninterrupted_run(data_dir, tmp_path):
    """The killed run's --model_dir is relative, as a user types it; the uninterrupted
    one's absolute."""
    steps = 60
    config_file = _write_config(data_dir, tmp_path, dropout=0.1)
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_pretrain_command(data_dir, config_file, straight_dir, steps), check=True,
                   timeout=SUBPROCESS_TIMEOUT, env=_subprocess_env(), capture_output=True)

    # Kill the second run with SIGKILL as soon as its first checkpoint is recorded.
    proc = subprocess.Popen(_pretrain_command(data_dir, config_file, "killed", steps),
                            cwd=tmp_path, env=_subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + SUBPROCESS_TIMEOUT
        while not tf.train.latest_checkpoint(str(killed_dir)):
            assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint came"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed_at = tf.train.latest_checkpoint(str(killed_dir))
    assert not killed_at.endswith(f"ckpt-{steps}"), "the run ended before the kill"

    restarted = subprocess.run(_pretrain_command(data_dir, config_file, "killed", steps),
                               cwd=tmp_path, timeout=SUBPROCESS_TIMEOUT, env=_subprocess_env(),
                               capture_output=True, text=True)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert f"Resumed from {os.path.join('killed', os.path.basename(killed_at))}" \
        in restarted.stderr

    straight = tf.train.load_checkpoint(str(straight_dir / f"ckpt-{steps}"))
    resumed = tf.train.load_checkpoint(str(killed_dir / f"ckpt-{steps}"))
    names = [n for n in straight.get_variable_to_shape_map() if n.startswith(("model/",
                                                                              "optimizer/"))]
    assert len(names) > 50
    for name in names:
        np.testing.assert_allclose(resumed.get_tensor(name), straight.get_tensor(name),
                                   atol=1e-6, rtol=0, err_msg=name)
    # The final export is a checkpoint folder the fine-tuning binaries load.
    exported = load_pretraining_model(str(killed_dir / f"pretrained_step_{steps}"))
    assert exported.encoder.bert_config == _config(data_dir, dropout=0.1)
    assert json.loads((killed_dir / "resolved_config.json").read_text())["num_train_steps"] == steps

    # The finished run given again, from another working directory: restored, and done.
    (tmp_path / "elsewhere").mkdir()
    rerun = subprocess.run(
        _pretrain_command(data_dir, config_file, os.path.join("..", "killed"), steps),
        cwd=tmp_path / "elsewhere", timeout=SUBPROCESS_TIMEOUT, env=_subprocess_env(),
        capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"Resumed from {os.path.join('..', 'killed', f'ckpt-{steps}')} at step {steps}" \
        in rerun.stderr
    assert not os.listdir(tmp_path / "elsewhere")  # nothing written beside the run
    assert json.loads((killed_dir / "results.json").read_text())["train"]["loss"] > 0


def test_resume_from_relative_paths_in_any_working_directory(data_dir, tmp_path,
                                                             monkeypatch):
    """model_dir and input files relative to the working directory, as a user types
    them: the newest checkpoint restores, and from another working directory the run
    continues at its data position as an uninterrupted run; a finished run given again
    is restored and trains no further."""
    config = _config(data_dir)
    straight = _trainer(config, num_train_steps=4)
    straight.train(_dataset(data_dir), str(tmp_path / "straight"), 4)

    shutil.copytree(data_dir / "records", tmp_path / "records")
    monkeypatch.chdir(tmp_path)
    here = pathlib.Path(".")  # _dataset(here) reads records/*.tfrecord
    _trainer(config, num_train_steps=4).train(_dataset(here), "run", 2)
    resumed = _trainer(config, num_train_steps=4)
    assert restore_newest(resumed.checkpoint(iter(_dataset(here))),
                          "run") == os.path.join("run", "ckpt-2")
    assert int(resumed.step.numpy()) == 2

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    up, model_dir = pathlib.Path(".."), os.path.join("..", "run")
    continued = _trainer(config, num_train_steps=4)
    assert continued.train(_dataset(up), model_dir, 4)["loss"] > 0
    _assert_same_weights(_weights(straight.model), _weights(continued.model), atol=1e-6)
    finished = _trainer(config, num_train_steps=4)
    assert finished.train(_dataset(up), model_dir, 4) == {}
    assert int(finished.step.numpy()) == 4
    assert not os.listdir(tmp_path / "elsewhere")  # nothing written beside the run


def test_resume_with_the_records_moved_says_so(data_dir, tmp_path):
    """The checkpoint's data position names its input files: with those gone, one line
    says so (not that the checkpoint does not read back)."""
    shutil.copytree(data_dir / "records", tmp_path / "records")
    config = _config(data_dir)
    model_dir = str(tmp_path / "run")
    _trainer(config, num_train_steps=4).train(_dataset(tmp_path), model_dir, 2)
    (tmp_path / "moved").mkdir()
    (tmp_path / "records").rename(tmp_path / "moved" / "records")
    resumed = _trainer(config, num_train_steps=4)
    with pytest.raises(ValueError) as error:
        restore_newest(resumed.checkpoint(iter(_dataset(tmp_path / "moved"))), model_dir)
    assert str(error.value) == (
        f"{model_dir}/ckpt-2 holds the run's position in input file "
        f"{tmp_path}/records/pretrain-00000-of-00001.tfrecord, which is not there; give "
        "the records at the paths the run started with, or a new model_dir")


@pytest.mark.parametrize("damage,model_dir", [("truncated_data", "run"),
                                              ("truncated_index", "absolute")])
def test_resume_skips_a_corrupted_latest_checkpoint(data_dir, tmp_path, caplog, monkeypatch,
                                                    damage, model_dir):
    """A crash that truncated the newest checkpoint: the run resumes from the one before
    it, with a warning naming the skipped file (model_dir relative or absolute)."""
    config = _config(data_dir)
    monkeypatch.chdir(tmp_path)
    model_dir = str(tmp_path / "run") if model_dir == "absolute" else model_dir
    _trainer(config, num_train_steps=8).train(_dataset(data_dir), model_dir, 4,
                                              checkpoint_every_n_steps=2)
    suffix = ".data-00000-of-00001" if damage == "truncated_data" else ".index"
    newest = tmp_path / "run" / f"ckpt-4{suffix}"
    newest.write_bytes(newest.read_bytes()[:len(newest.read_bytes()) // 2])
    resumed = _trainer(config, num_train_steps=8)
    assert restore_newest(resumed.checkpoint(iter(_dataset(data_dir))),
                          model_dir).endswith("ckpt-2")
    assert int(resumed.step.numpy()) == 2
    assert "Skipped checkpoint" in caplog.text and "ckpt-4" in caplog.text


def test_resume_with_another_model_configuration_says_so(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model_dir = "run"  # relative: its checkpoints must still be found to be compared
    _trainer(_config(data_dir), num_train_steps=4).train(_dataset(data_dir), model_dir, 2)
    bigger = dataclasses.replace(_config(data_dir), hidden_size=64, intermediate_size=128)
    with pytest.raises(ValueError, match="holds checkpoints of another model configuration"):
        _trainer(bigger, num_train_steps=4).train(_dataset(data_dir), model_dir, 4)


def test_pretrain_with_another_model_keeps_the_record_of_the_checkpoints(data_dir, tmp_path,
                                                                          monkeypatch):
    """bert_tf.pretrain into a relative model_dir, then again with a bigger model: one
    line says so, and resolved_config.json, where it points, still holds the settings
    the checkpoints were made with."""
    import bert_tf

    monkeypatch.chdir(tmp_path)
    for name, config in (("small.json", _config(data_dir)),
                         ("big.json", dataclasses.replace(_config(data_dir), hidden_size=64,
                                                          intermediate_size=128))):
        config.to_json_file(name)
    settings = dict(input_files=str(data_dir / "records" / "*.tfrecord"), num_train_steps=2,
                    max_seq_length=SEQ_LENGTH, max_predictions_per_seq=MAX_PREDICTIONS,
                    shuffle_buffer_size=10)
    training = bert_tf.TrainingConfig(batch_size=BATCH, model_dir="run", log_every_n_steps=1)
    try:
        bert_tf.pretrain(bert_tf.PretrainingConfig(bert_config="small.json", **settings),
                         training)
        with pytest.raises(ValueError, match="^run holds checkpoints of another model "
                                             "configuration .*its resolved_config.json"):
            bert_tf.pretrain(bert_tf.PretrainingConfig(bert_config="big.json", **settings),
                             training)
    finally:
        keras.config.set_dtype_policy("float32")
    resolved = json.loads((tmp_path / "run" / "resolved_config.json").read_text())
    assert resolved["bert_config"]["hidden_size"] == 32
    assert json.loads((tmp_path / "run" / "results.json").read_text())["train"]["loss"] > 0


def test_pretrain_names_a_truncated_record_file(data_dir, tmp_path):
    """bert_tf.pretrain on records of which one file was cut short: the error names it
    (TF's own DataLossError names no file)."""
    import bert_tf

    records = tmp_path / "records"
    shutil.copytree(data_dir / "records", records)
    shard = sorted(records.glob("*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:len(shard.read_bytes()) // 3])
    config_file = tmp_path / "bert_config.json"
    config_file.write_text(json.dumps(_config(data_dir).to_dict("google")))
    with pytest.raises(ValueError, match=rf"Damaged pretraining records: {shard} breaks after "
                                         r"\d+ records"):
        bert_tf.pretrain(
            bert_tf.PretrainingConfig(
                input_files=str(records / "*.tfrecord"), bert_config=str(config_file),
                num_train_steps=50, max_seq_length=SEQ_LENGTH,
                max_predictions_per_seq=MAX_PREDICTIONS, shuffle_buffer_size=10),
            bert_tf.TrainingConfig(batch_size=BATCH, model_dir=str(tmp_path / "run"),
                                   log_every_n_steps=10))
    keras.config.set_dtype_policy("float32")


@pytest.mark.slow  # a bert-pretrain run: ~14 s
def test_a_config_file_supplies_every_setting_of_bert_pretrain(data_dir, tmp_path):
    """bert-pretrain --config_file alone: input_files and num_train_steps (required) come
    from the file too, not only from the command line. ~20 s."""
    settings = {"input_files": str(data_dir / "records" / "*.tfrecord"),
                "bert_config": str(_write_config(data_dir, tmp_path)),
                "vocab_file": str(data_dir / "vocab.txt"), "num_train_steps": 2,
                "model_dir": str(tmp_path / "run"), "batch_size": BATCH,
                "max_seq_length": SEQ_LENGTH, "max_predictions_per_seq": MAX_PREDICTIONS,
                "shuffle_buffer_size": 50}
    config_file = tmp_path / "pretrain.json"
    config_file.write_text(json.dumps(settings))
    proc = subprocess.run([sys.executable, "-m", "bert_tf_tools.pretrain",
                           f"--config_file={config_file}"], capture_output=True, text=True,
                          timeout=300, env=_subprocess_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "pretrained_step_2" / "config.json").exists()
    resolved = json.loads((tmp_path / "run" / "resolved_config.json").read_text())
    assert resolved["num_train_steps"] == 2 and resolved["batch_size"] == BATCH
    # Without them, the error names what is missing, in one line.
    config_file.write_text(json.dumps({k: v for k, v in settings.items()
                                       if k != "input_files"}))
    proc = subprocess.run([sys.executable, "-m", "bert_tf_tools.pretrain",
                           f"--config_file={config_file}"], capture_output=True, text=True,
                          timeout=300, env=_subprocess_env())
    assert proc.returncode != 0 and "input_files is required" in proc.stderr


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(
    os.path.dirname(__file__), "..", "configs", "pretrain"))))
def test_pretrain_config_files_hold_valid_settings(name):
    """Every configs/pretrain file: each key is a setting of PretrainingConfig or
    TrainingConfig and its value is valid there."""
    import bert_tf

    path = os.path.join(os.path.dirname(__file__), "..", "configs", "pretrain", name)
    values = json.loads(open(path).read())
    fields = {f.name for f in dataclasses.fields(bert_tf.PretrainingConfig)}
    training = {k: v for k, v in values.items() if k not in fields}
    bert_tf.TrainingConfig(**training)  # unknown keys or bad values raise
    config = bert_tf.PretrainingConfig(**{k: v for k, v in values.items() if k in fields},
                                       input_files="records/*.tfrecord")
    config.check()
    assert config.model_config() is not None


def test_evaluate_scores_held_out_records(data_dir):
    trainer = _trainer(_config(data_dir))
    held_out = pretraining_dataset(str(data_dir / "records" / "*.tfrecord"), 16, SEQ_LENGTH,
                                   MAX_PREDICTIONS, shuffle=False, repeat=False,
                                   drop_remainder=False)
    first = trainer.evaluate(held_out, max_batches=3)
    assert first == trainer.evaluate(held_out, max_batches=3)  # inference: no dropout
    # Fresh weights: MLM cross-entropy near ln(V), accuracies are fractions.
    assert abs(first["mlm_loss"] - np.log(trainer.model.encoder.bert_config.vocab_size)) < 0.5
    assert 0.0 <= first["mlm_accuracy"] <= 1.0 and 0.0 <= first["nsp_accuracy"] <= 1.0


def test_a_preset_takes_the_vocab_size_of_the_vocab_file(tmp_path):
    import bert_tf
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "中", "国"]) + "\n",
                     encoding="utf-8")
    config = bert_tf.PretrainingConfig(input_files="x", num_train_steps=1, preset="tiny",
                                       vocab_file=str(vocab)).model_config()
    assert config.vocab_size == 7 and config.hidden_size == 128
