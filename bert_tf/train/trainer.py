"""The training loop every bert_tf binary shares: `model.fit` with BERT's callbacks.

    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = task.build_model(encoder)                   # created in the scope
    history = train(model, train_ds, strategy=strategy, model_dir="runs/x", epochs=3,
                    eval_dataset=eval_ds, best_metric="accuracy",
                    compile_args=dict(optimizer=..., loss=..., metrics=[...]))

The trainer builds no model and no data: the caller brings both. It adds

* resumption: `keras.callbacks.BackupAndRestore` in `model_dir/backup`. A run that dies is
  started again with the same command and continues from the last backup (the epoch
  counter, weights and optimizer state, hence the learning-rate schedule). Backups are
  taken at each epoch end, or every `checkpoint_every_n_steps` steps; Keras then restarts
  the interrupted epoch from its first batch with the mid-epoch weights, so step-based
  runs (pretraining) make an "epoch" one checkpoint interval (`steps_per_epoch`) to resume
  exactly;
* the newest `keep_checkpoints` epoch checkpoints, `model_dir/checkpoints/ckpt-EEEE.weights.h5`;
* the best epoch on the eval metric, `model_dir/best.weights.h5`, loaded back into the
  model when training ends;
* TensorBoard scalars in `model_dir/logs` (loss, metrics, learning rate);
* a progress line every `log_every_n_steps` steps: step, loss, sequences/s, ETA.
"""
import glob
import os
import time

import keras
from absl import logging

BACKUP_DIR = "backup"
CHECKPOINTS_DIR = "checkpoints"
BEST_WEIGHTS = "best.weights.h5"
LOGS_DIR = "logs"


def train(model, train_dataset, *, strategy, model_dir, epochs, eval_dataset=None,
          evaluate_fn=None, steps_per_epoch=None, compile_args=None, jit_compile=False,
          best_metric=None, best_mode="max", checkpoint_every_n_steps=None, keep_checkpoints=3,
          log_every_n_steps=100, global_batch_size=None, extra_callbacks=()):
    """Fits `model` with checkpointing, resumption, TensorBoard and progress logging.

    Args:
        model: keras.Model created under `strategy.scope()`; compiled already, or compiled
            here (in the scope) when `compile_args` is given.
        train_dataset: tf.data.Dataset of (features, labels[, sample_weights]) batches.
        strategy: the tf.distribute.Strategy the model was created under.
        model_dir: str, folder for backups, checkpoints and TensorBoard logs.
        epochs: int, passes (or `steps_per_epoch` chunks) to run.
        eval_dataset: tf.data.Dataset or None; evaluated at every epoch end with the
            compiled loss and metrics.
        evaluate_fn: callable or None, `evaluate_fn(model) -> {name: float}`, run at every
            epoch end for metrics that are not Keras metrics (entity F1, MCC, ...); they
            are logged (and can be the `best_metric`) as `val_<name>`.
        steps_per_epoch: int or None (None: one pass over `train_dataset`).
        compile_args: dict of `model.compile` arguments (optimizer, loss, metrics, ...).
        jit_compile: bool, XLA-compile the train step (with `compile_args`).
        best_metric: str or None, an eval metric name (e.g. "accuracy"), from the compiled
            metrics or `evaluate_fn`; the epoch with the best `val_<best_metric>` is kept
            in `model_dir/best.weights.h5`.
        best_mode: "max" or "min" for `best_metric`.
        checkpoint_every_n_steps: int or None, backup interval in steps (None: each epoch).
        keep_checkpoints: int, epoch checkpoints to keep (0: none).
        log_every_n_steps: int, interval of the progress line and TensorBoard step scalars.
        global_batch_size: int or None, sequences per step for the seq/s figure.
        extra_callbacks: more keras callbacks (run after ours).
    Returns:
        keras.callbacks.History of this call (the epochs run after any resume).
    """
    if best_metric and eval_dataset is None and evaluate_fn is None:
        raise ValueError(f"best_metric={best_metric!r} needs an eval_dataset or evaluate_fn")
    os.makedirs(model_dir, exist_ok=True)
    with strategy.scope():
        if compile_args is not None:
            model.compile(**compile_args, jit_compile=jit_compile)
        if not model.compiled:
            raise ValueError("train() needs a compiled model or compile_args")
        # Callbacks share one logs dict in list order: evaluation comes first so that
        # TensorBoard and the best-checkpoint callback see its metrics.
        callbacks = [EvaluationCallback(evaluate_fn)] if evaluate_fn else []
        callbacks += [
            keras.callbacks.BackupAndRestore(
                os.path.join(model_dir, BACKUP_DIR),
                save_freq=checkpoint_every_n_steps or "epoch", double_checkpoint=True),
            keras.callbacks.TensorBoard(os.path.join(model_dir, LOGS_DIR),
                                        update_freq=log_every_n_steps),
            ProgressLogger(log_every_n_steps, global_batch_size),
        ]
        if keep_checkpoints:
            callbacks.append(KeepLatestCheckpoints(os.path.join(model_dir, CHECKPOINTS_DIR),
                                                   keep_checkpoints))
        best_path = os.path.join(model_dir, BEST_WEIGHTS)
        if best_metric:
            callbacks.append(keras.callbacks.ModelCheckpoint(
                best_path, monitor=f"val_{best_metric}", mode=best_mode,
                save_best_only=True, save_weights_only=True))
        history = model.fit(train_dataset, validation_data=eval_dataset, epochs=epochs,
                            steps_per_epoch=steps_per_epoch, shuffle=False,  # tf.data shuffles
                            callbacks=callbacks + list(extra_callbacks), verbose=0)
        if best_metric and os.path.exists(best_path):
            model.load_weights(best_path)
    return history


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
    """Logs `step S/T  loss L  X seq/s  ETA hh:mm:ss` every `every_n_steps` train steps.

    Args:
        every_n_steps: int, logging interval.
        global_batch_size: int or None, sequences per step (None: seq/s is not shown).
    """

    def __init__(self, every_n_steps, global_batch_size=None):
        super().__init__()
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.global_batch_size = global_batch_size
        self.lines = []  # the logged lines, for tests and callers

    def on_train_begin(self, logs=None):
        self._start_time = self._last_time = time.monotonic()
        self._last_step = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        steps_per_epoch = self.params.get("steps")
        step = self._epoch * steps_per_epoch + batch + 1 if steps_per_epoch else batch + 1
        if self._last_step is None:  # first step after (re)start: timing starts here
            self._last_step, self._last_time = step, time.monotonic()
            return
        if step % self.every_n_steps:
            return
        now = time.monotonic()
        steps_per_second = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        total = steps_per_epoch * self.params["epochs"] if steps_per_epoch else None
        parts = [f"step {step}" + (f"/{total}" if total else ""),
                 f"loss {logs.get('loss', float('nan')):.4f}"]
        if self.global_batch_size:
            parts.append(f"{steps_per_second * self.global_batch_size:.1f} seq/s")
        if total:
            parts.append(f"ETA {_format_seconds((total - step) / steps_per_second)}")
        line = "  ".join(parts)
        self.lines.append(line)
        logging.info(line)


def _format_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
