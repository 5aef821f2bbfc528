"""The shared fit loop: learning, best checkpoint, rotation, logs, and resuming a crashed run."""
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.train import checkpoints, trainer
from bert_tf.train.config import TrainingConfig
from bert_tf.train.fit_reporting import ProgressLogger
from bert_tf.train.optimization import make_optimizer
from bert_tf.train.selection import EpochSelection
from bert_tf.train.strategy import make_strategy

STEPS_PER_EPOCH = 4
BATCH = 8


def _datasets():
    """A separable two-class problem: label = x0 + x1 > 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS_PER_EPOCH * BATCH, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    return train, train


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(2)])


def _compile_args(epochs):
    return dict(optimizer=make_optimizer("adamw", 5e-2, epochs * STEPS_PER_EPOCH, 2),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


BEST_ACCURACY = EpochSelection("best", "accuracy", "max")


def _train(model_dir, epochs, selection=BEST_ACCURACY, **kwargs):
    strategy = make_strategy("default")
    with strategy.scope():
        model = _model()
    train_ds, eval_ds = _datasets()
    history = trainer.train(
        model, train_ds, strategy=strategy, model_dir=str(model_dir), epochs=epochs,
        eval_dataset=eval_ds, compile_args=_compile_args(epochs), selection=selection,
        global_batch_size=BATCH, **kwargs)
    return model, history


def test_train_learns_and_writes_checkpoints_logs_progress(tmp_path):
    progress = ProgressLogger(every_n_steps=2, global_batch_size=BATCH)
    model, history = _train(tmp_path, epochs=5, keep_checkpoints=2, extra_callbacks=[progress],
                            log_every_n_steps=2)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] * 0.8
    assert history.history["val_accuracy"][-1] > 0.8

    # The newest two epoch checkpoints are kept; the best one exists and is loaded back.
    kept = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "checkpoints/*")))
    assert kept == ["ckpt-0004.weights.h5", "ckpt-0005.weights.h5"]
    best = _model()
    best.load_weights(str(tmp_path / checkpoints.BEST_WEIGHTS))
    for a, b in zip(best.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # TensorBoard event files for train and validation, with the learning rate scalar.
    assert glob.glob(str(tmp_path / "logs/train/events.*"))
    assert glob.glob(str(tmp_path / "logs/validation/events.*"))
    steps = [(event.step, value.tag) for path in glob.glob(str(tmp_path / "logs/steps/events.*"))
             for event in tf.compat.v1.train.summary_iterator(path)
             for value in event.summary.value]
    assert {tag for _, tag in steps} == {"loss", "learning_rate", "sequences_per_second"}
    assert max(step for step, _ in steps) == 20  # by global step, across epochs
    # The progress line: step/total, loss, seq/s and ETA.
    assert progress.lines
    assert progress.lines[-1].startswith("step 20/20  loss ")
    assert "seq/s" in progress.lines[0] and "ETA" in progress.lines[0]
    # A finished run leaves no backup: the next run starts afresh.
    assert not os.path.exists(tmp_path / checkpoints.BACKUP_DIR)


class _Crash(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated preemption")


def test_crashed_run_resumes_from_its_backup(tmp_path):
    epochs = 4
    # No best checkpoint here: loading it would hide which weights training ended with.
    uninterrupted, _ = _train(tmp_path / "straight", epochs, selection=None)

    with pytest.raises(RuntimeError, match="preemption"):
        _train(tmp_path / "crashy", epochs, selection=None, extra_callbacks=[_Crash(epoch=2)])
    assert os.path.exists(tmp_path / "crashy" / checkpoints.BACKUP_DIR)
    resumed, history = _train(tmp_path / "crashy", epochs, selection=None)

    assert len(history.history["loss"]) == 2  # epochs 3 and 4 only
    assert int(resumed.optimizer.iterations) == epochs * STEPS_PER_EPOCH
    for a, b in zip(uninterrupted.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_a_relative_model_dir_resumes_from_another_working_directory(tmp_path, monkeypatch):
    """Backups, epoch checkpoints, the best weights and TensorBoard logs in a model_dir
    given relative to the working directory: a run that crashed resumes from another
    working directory (the same folder by another relative path) and ends as an
    uninterrupted run."""
    epochs = 4
    uninterrupted, _ = _train(tmp_path / "straight", epochs)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="preemption"):
        _train("run", epochs, extra_callbacks=[_Crash(epoch=2)], log_every_n_steps=2)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    resumed, history = _train(os.path.join("..", "run"), epochs, log_every_n_steps=2)

    assert history.epoch == [2, 3]
    for a, b in zip(uninterrupted.weights, resumed.weights):  # both the best epoch's
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    run = tmp_path / "run"
    assert (run / trainer.BEST_WEIGHTS).exists() and not (run / trainer.BACKUP_DIR).exists()
    assert sorted(os.listdir(run / trainer.CHECKPOINTS_DIR))[-1] == "ckpt-0004.weights.h5"
    assert glob.glob(str(run / "logs/train/events.*")) and glob.glob(str(run / "logs/steps/*"))
    assert not os.listdir(tmp_path / "elsewhere")  # nothing written beside the run


def test_float16_policy_gets_loss_scaling(tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model, history = _train(tmp_path, epochs=1, keep_checkpoints=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history.history["loss"][0])


def test_evaluate_fn_metrics_are_logged_and_pick_the_best(tmp_path):
    x = np.concatenate([features for features, _ in _datasets()[1]])
    y = np.concatenate([labels for _, labels in _datasets()[1]])
    scores = iter([0.2, 0.9, 0.5])  # the best epoch is the second

    def evaluate_fn(model):
        accuracy = float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
        return {"score": next(scores), "accuracy_by_hand": accuracy}

    strategy = make_strategy("default")
    with strategy.scope():
        model = _model()
    history = trainer.train(model, _datasets()[0], strategy=strategy, model_dir=str(tmp_path),
                            epochs=3, evaluate_fn=evaluate_fn,
                            selection=EpochSelection("best", "score", "max"),
                            compile_args=_compile_args(3), keep_checkpoints=3)
    assert history.history["val_score"] == [0.2, 0.9, 0.5]
    assert history.history["val_accuracy_by_hand"][-1] > 0.5
    second_epoch = _model()
    second_epoch.load_weights(str(tmp_path / "checkpoints/ckpt-0002.weights.h5"))
    for a, b in zip(second_epoch.weights, model.weights):  # the best was loaded back
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_selection_needs_eval_data(tmp_path):
    strategy = make_strategy("default")
    train_ds, _ = _datasets()
    with pytest.raises(ValueError, match="val_accuracy needs validation data"):
        trainer.train(_model(), train_ds, strategy=strategy, model_dir=str(tmp_path),
                      epochs=1, selection=BEST_ACCURACY, compile_args=_compile_args(1))


def test_uncompiled_model_without_compile_args_is_an_error(tmp_path):
    train_ds, _ = _datasets()
    with pytest.raises(ValueError, match="compiled"):
        trainer.train(_model(), train_ds, strategy=make_strategy("default"),
                      model_dir=str(tmp_path), epochs=1)


def test_strategies_by_name(monkeypatch):
    assert make_strategy("default") is tf.distribute.get_strategy()
    assert make_strategy("one_device").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="TPU's name or address"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        make_strategy("multi_worker")
    with pytest.raises(ValueError, match="Unknown distribution strategy 'horovod'"):
        make_strategy("horovod")


class _CrashAtStep(keras.callbacks.Callback):
    """Dies after `count` training steps of this fit call (a preemption mid-epoch)."""

    def __init__(self, count):
        super().__init__()
        self.count = count
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.count:
            raise RuntimeError("simulated preemption")


def test_run_killed_mid_epoch_resumes_exactly(tmp_path):
    """Epoch batches reshuffled by (seed, epoch), dropout, a backup every step: a run
    that dies in the middle of epoch 2 and starts again ends as an uninterrupted run,
    the best-epoch bookkeeping included."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS_PER_EPOCH * BATCH, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")

    def epoch_batches(epoch):
        return (tf.data.Dataset.from_tensor_slices((x, y))
                .shuffle(len(x), seed=100 + epoch, reshuffle_each_iteration=False)
                .batch(BATCH))

    def run(model_dir, crash_after=None):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dropout(0.3), keras.layers.Dense(2)])
        def evaluate_fn(model):  # by the epoch just ended: the first is the best
            epoch = int(model.optimizer.iterations) // STEPS_PER_EPOCH
            return {"score": [0.9, 0.1, 0.5][epoch - 1]}

        return model, trainer.train(
            model, epoch_batches, strategy=make_strategy("default"), model_dir=str(model_dir),
            epochs=3, compile_args=_compile_args(3), checkpoint_every_n_steps=1,
            evaluate_fn=evaluate_fn, selection=EpochSelection("best", "score", "max"),
            keep_checkpoints=1,
            extra_callbacks=[_CrashAtStep(crash_after)] if crash_after else [])

    straight, _ = run(tmp_path / "straight")
    with pytest.raises(RuntimeError, match="preemption"):
        run(tmp_path / "crashy", crash_after=STEPS_PER_EPOCH + 2)  # mid epoch 2
    resumed, history = run(tmp_path / "crashy")
    assert history.epoch == [1, 2]
    # Both loaded back epoch 1's weights, the best (before the crash: the backup kept its
    # score); the weights file holds the optimizer's state too, its step count then.
    assert int(resumed.optimizer.iterations) == int(straight.optimizer.iterations) == 4
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    # And the last epoch's weights, trained after the resume, are the uninterrupted run's.
    last = "checkpoints/ckpt-0003.weights.h5"
    straight.load_weights(str(tmp_path / "straight" / last))
    resumed.load_weights(str(tmp_path / "crashy" / last))
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def _scored_run(model_dir, scores, selection, crash_after=None, epochs=6):
    """A fit whose evaluation scores epoch e as scores[e - 1] (read off the optimizer's
    step count, so it holds across a resume)."""
    keras.utils.set_random_seed(0)
    model = _model()

    def evaluate_fn(model):
        return {"score": scores[int(model.optimizer.iterations) // STEPS_PER_EPOCH - 1]}

    history = trainer.train(
        model, _datasets()[0], strategy=make_strategy("default"), model_dir=str(model_dir),
        epochs=epochs, compile_args=_compile_args(epochs), evaluate_fn=evaluate_fn,
        selection=selection, checkpoint_every_n_steps=1, keep_checkpoints=epochs,
        extra_callbacks=[_CrashAtStep(crash_after)] if crash_after else [])
    return model, history


def _assert_same_weights(a, b):
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


@pytest.mark.parametrize("keep, kept_epoch", [("best", 2), ("last", 4)])
def test_early_stopping_stops_after_patience_and_keeps_the_chosen_epoch(tmp_path, keep,
                                                                        kept_epoch):
    scores = [0.5, 0.9, 0.9, 0.4, 0.95, 0.99]  # a tie is no improvement
    model, history = _scored_run(tmp_path, scores,
                                 EpochSelection(keep, "score", "max", patience=2))
    assert history.epoch == [0, 1, 2, 3]  # epochs 3 and 4 did not beat epoch 2
    assert history.selection == {
        "keep_epoch": keep, "monitor": "val_score", "mode": "max", "kept_epoch": kept_epoch,
        "kept_value": scores[kept_epoch - 1], "best_epoch": 2, "best_value": 0.9,
        "epochs_run": 4, "epochs_planned": 6, "stopped_early": True}
    epoch_weights = _model()
    epoch_weights.load_weights(str(tmp_path / f"checkpoints/ckpt-{kept_epoch:04d}.weights.h5"))
    _assert_same_weights(epoch_weights, model)


def test_training_config_gives_the_epoch_selection():
    selection = TrainingConfig().epoch_selection("loss")  # auto: a loss goes down
    assert (selection.keep, selection.monitor, selection.mode) == ("last", "loss", "min")
    selection = TrainingConfig(keep_epoch="best", monitor="mcc",
                               early_stopping_patience=3).epoch_selection("loss")
    assert (selection.keep, selection.monitor, selection.mode, selection.patience) == (
        "best", "mcc", "max", 3)
    with pytest.raises(ValueError, match="keep_epoch must be one of"):
        TrainingConfig(keep_epoch="first")
    with pytest.raises(ValueError, match="early_stopping_patience must be >= 1"):
        TrainingConfig(early_stopping_patience=0)


def test_early_stopped_run_killed_mid_epoch_resumes_to_the_same_kept_epoch(tmp_path):
    """The selector's state (best, epochs without improvement) rides in the backup: a run
    that dies in epoch 4, after one epoch without improvement, stops and keeps as an
    uninterrupted run does."""
    scores = [0.5, 0.9, 0.7, 0.8, 0.95, 0.99]
    rule = EpochSelection("best", "score", "max", patience=2)
    straight, expected = _scored_run(tmp_path / "straight", scores, rule)
    with pytest.raises(RuntimeError, match="preemption"):
        _scored_run(tmp_path / "crashy", scores, rule, crash_after=3 * STEPS_PER_EPOCH + 2)
    resumed, history = _scored_run(tmp_path / "crashy", scores, rule)
    assert history.epoch == [3] and history.selection == expected.selection
    assert expected.selection["kept_epoch"] == 2 and expected.selection["stopped_early"]
    _assert_same_weights(straight, resumed)
