"""The training loop every bert_tf binary shares: `model.fit` with BERT's callbacks.

    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = task.build_model(encoder)                   # created in the scope
    history = train(model, epoch_batches, strategy=strategy, model_dir="runs/x", epochs=3,
                    evaluate_fn=evaluator, best_metric="accuracy",
                    compile_args=dict(optimizer=..., loss=..., metrics=[...]))

The trainer builds no model and no data: the caller brings both. It adds

* exact resumption: the model, optimizer and dropout random state, the epoch and the
  position in it are saved in `model_dir/backup` at each epoch end and every
  `checkpoint_every_n_steps` steps. A run that dies (even killed mid-epoch) and is
  started again with the same command continues from there with the same batches, and
  ends with the weights an uninterrupted run ends with, when the training data is given
  as `epoch -> dataset` (the same batches for the same epoch in any process, as
  `bert_tf.data.task_dataset.training_epochs` makes them). The backup is deleted when
  training ends;
* the newest `keep_checkpoints` epoch checkpoints, `model_dir/checkpoints/ckpt-EEEE.weights.h5`;
* the best epoch on the eval metric, `model_dir/best.weights.h5`, loaded back into the
  model when training ends;
* TensorBoard scalars in `model_dir/logs`: each epoch's loss and metrics (Keras'
  callback), and every `log_every_n_steps` steps the loss, learning rate and
  sequences/s by global step (`logs/steps`);
* a progress line every `log_every_n_steps` steps: step, loss, sequences/s, ETA.

Each epoch is one `model.fit` call (`initial_epoch=e, epochs=e + 1`), so that an epoch
can start from any of its batches.
"""
import glob
import json
import os
import shutil
import time

import keras
import tensorflow as tf
from absl import logging

BACKUP_DIR = "backup"
BACKUP_STATE_FILE = "state.json"
CHECKPOINTS_DIR = "checkpoints"
BEST_WEIGHTS = "best.weights.h5"
LOGS_DIR = "logs"


def train(model, train_data, *, strategy, model_dir, epochs, eval_dataset=None,
          evaluate_fn=None, steps_per_epoch=None, compile_args=None, jit_compile=False,
          best_metric=None, best_mode="max", checkpoint_every_n_steps=None, keep_checkpoints=3,
          log_every_n_steps=100, global_batch_size=None, extra_callbacks=()):
    """Fits `model` with checkpointing, exact resumption, TensorBoard and progress logging.

    Args:
        model: keras.Model created under `strategy.scope()`; compiled already, or compiled
            here (in the scope) when `compile_args` is given.
        train_data: a callable `epoch -> tf.data.Dataset` of that epoch's
            (features, labels[, sample_weights]) batches, the same for the same epoch in
            any process (what makes a resumed run exact); or one tf.data.Dataset iterated
            anew each epoch.
        strategy: the tf.distribute.Strategy the model was created under.
        model_dir: str, folder for backups, checkpoints and TensorBoard logs.
        epochs: int, passes (or `steps_per_epoch` chunks) to run.
        eval_dataset: tf.data.Dataset or None; evaluated at every epoch end with the
            compiled loss and metrics.
        evaluate_fn: callable or None, `evaluate_fn(model) -> {name: float}`, run at every
            epoch end for metrics that are not Keras metrics (entity F1, MCC, ...); they
            are logged (and can be the `best_metric`) as `val_<name>`.
        steps_per_epoch: int or None (None: one pass over the epoch's dataset, whose
            cardinality must then be known to resume mid-epoch).
        compile_args: dict of `model.compile` arguments (optimizer, loss, metrics, ...).
        jit_compile: bool, XLA-compile the train step (with `compile_args`).
        best_metric: str or None, an eval metric name (e.g. "accuracy"), from the compiled
            metrics or `evaluate_fn`; the epoch with the best `val_<best_metric>` is kept
            in `model_dir/best.weights.h5`.
        best_mode: "max" or "min" for `best_metric`.
        checkpoint_every_n_steps: int or None, backup interval in steps (None: each epoch).
        keep_checkpoints: int, epoch checkpoints to keep (0: none).
        log_every_n_steps: int, interval of the progress line and the step scalars.
        global_batch_size: int or None, sequences per step for the seq/s figure.
        extra_callbacks: more keras callbacks (run after ours).
    Returns:
        keras.callbacks.History of this call (the epochs run after any resume).
    """
    if best_metric and eval_dataset is None and evaluate_fn is None:
        raise ValueError(f"best_metric={best_metric!r} needs an eval_dataset or evaluate_fn")
    if best_mode not in ("max", "min"):
        raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
    epoch_data = train_data if callable(train_data) else (lambda epoch: train_data)
    os.makedirs(model_dir, exist_ok=True)
    with strategy.scope():
        if compile_args is not None:
            model.compile(**compile_args, jit_compile=jit_compile)
        if not model.compiled:
            raise ValueError("train() needs a compiled model or compile_args")
        # Built now, so that a restore finds every slot variable to fill.
        model.optimizer.build(model.trainable_variables)
        best = (KeepBest(os.path.join(model_dir, BEST_WEIGHTS), best_metric, best_mode)
                if best_metric else None)
        backup = Backup(model, os.path.join(model_dir, BACKUP_DIR), checkpoint_every_n_steps,
                        best)
        state = backup.restore()
        progress = ProgressLogger(log_every_n_steps, global_batch_size,
                                  os.path.join(model_dir, LOGS_DIR, "steps"))
        # Callbacks share one logs dict in list order: evaluation comes first so that
        # TensorBoard and the best checkpoint see its metrics; the backup comes last, so
        # that it records the best value of the epoch it ends.
        callbacks = [EvaluationCallback(evaluate_fn)] if evaluate_fn else []
        callbacks += [keras.callbacks.TensorBoard(os.path.join(model_dir, LOGS_DIR),
                                                  update_freq="epoch"), progress]
        if keep_checkpoints:
            callbacks.append(KeepLatestCheckpoints(os.path.join(model_dir, CHECKPOINTS_DIR),
                                                   keep_checkpoints))
        if best:
            callbacks.append(best)
        callbacks += [backup, *extra_callbacks]

        history = keras.callbacks.History()
        history.history, history.epoch = {}, []
        start_epoch, start_step = state.get("epoch", 0), state.get("step", 0)
        for epoch in range(start_epoch, epochs):
            dataset = epoch_data(epoch)
            steps = steps_per_epoch or _cardinality(dataset)
            done = start_step if epoch == start_epoch else 0
            if done:
                if steps is None:
                    raise ValueError("Resuming mid-epoch needs a dataset of known "
                                     "cardinality or steps_per_epoch")
                dataset = dataset.skip(done)
            for callback in callbacks:  # where this fit call starts, for those that count
                if hasattr(callback, "start_epoch"):
                    callback.start_epoch(epoch, done, steps, epochs)
            epoch_history = model.fit(
                dataset, validation_data=eval_dataset, initial_epoch=epoch, epochs=epoch + 1,
                steps_per_epoch=None if steps is None else steps - done,
                shuffle=False,  # tf.data shuffles
                callbacks=callbacks, verbose=0)
            history.epoch += epoch_history.epoch
            for name, values in epoch_history.history.items():
                history.history.setdefault(name, []).extend(values)
        backup.finish()
        if best and os.path.exists(best.path):
            model.load_weights(best.path)
    return history


def _cardinality(dataset):
    count = int(dataset.cardinality())
    return count if count >= 0 else None


class Backup(keras.callbacks.Callback):
    """Saves what an exact resume needs in `directory`: a `tf.train.Checkpoint` of the
    model, optimizer and dropout random state (the newest two kept), and `state.json`
    (the epoch, the steps done in it and the best metric so far) naming it.

    Args:
        model: the compiled keras.Model, its optimizer built.
        directory: str, the backup folder.
        every_n_steps: int or None, also save every N steps of an epoch.
        best: the run's `KeepBest` or None; its best value is saved and restored.
    """

    def __init__(self, model, directory, every_n_steps=None, best=None):
        super().__init__()
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.directory = directory
        self.every_n_steps = every_n_steps
        # Keras keeps dropout's random state in variables the model does not track for
        # tf.train.Checkpoint; without them a resumed run would drop other units.
        seed_states = [v for v in model.variables if v.name == "seed_generator_state"]
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                              dropout_seed_states=seed_states)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=2)
        self.best = best
        self._epoch, self._done = 0, 0

    def restore(self):
        """The saved state ({} when there is none), with the checkpoint restored."""
        path = os.path.join(self.directory, BACKUP_STATE_FILE)
        if not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        self.checkpoint.restore(os.path.join(self.directory, state["checkpoint"])) \
            .assert_existing_objects_matched()
        if self.best is not None:
            self.best.best = state["best"]
        logging.info("Resumed from %s: epoch %d, step %d of it", self.directory,
                     state["epoch"] + 1, state["step"])
        return state

    def start_epoch(self, epoch, done, steps_per_epoch, epochs):
        self._epoch, self._done = epoch, done

    def on_train_batch_end(self, batch, logs=None):
        step = self._done + batch + 1
        if self.every_n_steps and step % self.every_n_steps == 0:
            self._save(self._epoch, step)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1, 0)

    def _save(self, epoch, step):
        path = self.manager.save()
        state = {"epoch": epoch, "step": step, "checkpoint": os.path.basename(path),
                 "best": self.best.best if self.best else None}
        temporary = os.path.join(self.directory, BACKUP_STATE_FILE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(temporary, os.path.join(self.directory, BACKUP_STATE_FILE))

    def finish(self):
        """Training ended: the next run starts afresh."""
        shutil.rmtree(self.directory, ignore_errors=True)


class KeepBest(keras.callbacks.Callback):
    """Saves the weights of the epoch with the best `val_<metric>` to `path`; `best`
    (the value to beat) survives a resume through the backup."""

    def __init__(self, path, metric, mode="max"):
        super().__init__()
        self.path, self.monitor, self.mode, self.best = path, f"val_{metric}", mode, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"No {self.monitor} in the epoch's metrics: "
                             f"{sorted(logs or {})}")
        value = float(value)
        if self.best is None or (value > self.best if self.mode == "max"
                                 else value < self.best):
            self.best = value
            self.model.save_weights(self.path)


class EvaluationCallback(keras.callbacks.Callback):
    """Adds `val_<name>` for each metric of `evaluate_fn(model)` to the epoch-end logs."""

    def __init__(self, evaluate_fn):
        super().__init__()
        self.evaluate_fn = evaluate_fn

    def on_epoch_end(self, epoch, logs=None):
        metrics = self.evaluate_fn(self.model)
        logging.info("Epoch %d evaluation: %s", epoch + 1,
                     "  ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
        if logs is not None:
            logs.update({f"val_{name}": float(value) for name, value in metrics.items()})


class KeepLatestCheckpoints(keras.callbacks.ModelCheckpoint):
    """Saves the weights at every epoch end as `ckpt-EEEE.weights.h5` (epochs from 1) and
    deletes all but the newest `keep` of them."""

    def __init__(self, directory, keep):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        super().__init__(os.path.join(directory, "ckpt-{epoch:04d}.weights.h5"),
                         save_weights_only=True)
        self.directory = directory
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        # Zero-padded epochs sort in order.
        for stale in sorted(glob.glob(os.path.join(self.directory, "ckpt-*.weights.h5")))[
                :-self.keep]:
            os.remove(stale)


class ProgressLogger(keras.callbacks.Callback):
    """Logs `step S/T  loss L  X seq/s  ETA hh:mm:ss` every `every_n_steps` train steps,
    and with `log_dir` writes the same as TensorBoard scalars by global step (the loss,
    the learning rate, sequences/s), which stay continuous across a resume.

    Args:
        every_n_steps: int, logging interval.
        global_batch_size: int or None, sequences per step (None: seq/s is not shown).
        log_dir: str or None, TensorBoard folder for the step scalars.
    """

    def __init__(self, every_n_steps, global_batch_size=None, log_dir=None):
        super().__init__()
        self.log_dir = log_dir
        self._writer = None
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.global_batch_size = global_batch_size
        self.lines = []  # the logged lines, for tests and callers
        self._epoch, self._done, self._steps_per_epoch, self._epochs = 0, 0, None, None
        self._last_step = None

    def start_epoch(self, epoch, done, steps_per_epoch, epochs):
        """Where the next `fit` call starts: `done` steps into `epoch`."""
        self._epoch, self._done = epoch, done
        self._steps_per_epoch, self._epochs = steps_per_epoch, epochs

    def on_train_batch_end(self, batch, logs=None):
        steps_per_epoch = self._steps_per_epoch
        within = self._done + batch + 1
        step = self._epoch * steps_per_epoch + within if steps_per_epoch else within
        if self._last_step is None:  # first step after (re)start: timing starts here
            self._last_step, self._last_time = step, time.monotonic()
            return
        if step % self.every_n_steps:
            return
        now = time.monotonic()
        steps_per_second = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        total = steps_per_epoch * self._epochs if steps_per_epoch else None
        parts = [f"step {step}" + (f"/{total}" if total else ""),
                 f"loss {logs.get('loss', float('nan')):.4f}"]
        if self.global_batch_size:
            parts.append(f"{steps_per_second * self.global_batch_size:.1f} seq/s")
        if total:
            parts.append(f"ETA {_format_seconds((total - step) / steps_per_second)}")
        line = "  ".join(parts)
        self.lines.append(line)
        logging.info(line)
        if self.log_dir:
            self._write_scalars(step, logs, steps_per_second)

    def _write_scalars(self, step, logs, steps_per_second):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=step):
            tf.summary.scalar("loss", float(logs.get("loss", float("nan"))))
            tf.summary.scalar("learning_rate", float(self.model.optimizer.learning_rate))
            if self.global_batch_size:
                tf.summary.scalar("sequences_per_second",
                                  steps_per_second * self.global_batch_size)
        self._writer.flush()


def _format_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
