"""The training loop every bert_tf binary shares: `model.fit` with BERT's callbacks.

    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = task.build_model(encoder)                   # created in the scope
    history = train(model, epoch_batches, strategy=strategy, model_dir="runs/x", epochs=3,
                    evaluate_fn=evaluator,
                    selection=EpochSelection(keep="best", monitor="loss", mode="min"),
                    compile_args=dict(optimizer=..., loss=..., metrics=[...]))
    history.selection   # {"kept_epoch": 2, "monitor": "val_loss", "kept_value": ...}

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
* epoch selection (`selection.py`): the last epoch, or the best on an eval metric
  (`model_dir/best.weights.h5`, a LoRA model's `best.adapters.h5`: its trained
  variables; loaded back into the model when training ends), and
  early stopping on that metric; what was kept is logged and is `history.selection`;
* TensorBoard scalars in `model_dir/logs`: each epoch's loss and metrics (Keras'
  callback), and every `log_every_n_steps` steps the loss, learning rate and
  sequences/s by global step (`logs/steps`);
* a progress line every `log_every_n_steps` steps: step, loss, sequences/s, ETA.

Each epoch is one `model.fit` call (`initial_epoch=e, epochs=e + 1`), so that an epoch
can start from any of its batches. The callbacks that save are in `checkpoints.py`, those
that report in `fit_reporting.py`.
"""
import os

import keras

from bert_tf.train import lora
from bert_tf.train.checkpoints import (BACKUP_DIR, BEST_ADAPTERS, BEST_WEIGHTS,
                                       CHECKPOINTS_DIR, Backup,
                                       KeepLatestCheckpoints)
from bert_tf.train.fit_reporting import EvaluationCallback, ProgressLogger, report
from bert_tf.train.selection import EpochSelector

LOGS_DIR = "logs"


def train(model, train_data, *, strategy, model_dir, epochs, eval_dataset=None,
          evaluate_fn=None, steps_per_epoch=None, compile_args=None, jit_compile=False,
          selection=None, checkpoint_every_n_steps=None, keep_checkpoints=3,
          log_every_n_steps=100, global_batch_size=None, extra_callbacks=(), verbose=True):
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
            are logged (and can be the `selection`'s monitor) as `val_<name>`.
        steps_per_epoch: int or None (None: one pass over the epoch's dataset, whose
            cardinality must then be known to resume mid-epoch).
        compile_args: dict of `model.compile` arguments (optimizer, loss, metrics, ...).
        jit_compile: bool, XLA-compile the train step (with `compile_args`).
        selection: `selection.EpochSelection` or None (the last epoch, no early
            stopping); its monitor is an eval metric name (e.g. "loss", "accuracy") from
            the compiled metrics or `evaluate_fn`. With keep="best" the best epoch's
            weights go to `model_dir/best.weights.h5` and are loaded back at the end.
        checkpoint_every_n_steps: int or None, backup interval in steps (None: each epoch).
        keep_checkpoints: int, epoch checkpoints to keep (0: none).
        log_every_n_steps: int, interval of the progress line and the step scalars.
        global_batch_size: int or None, sequences per step for the seq/s figure.
        extra_callbacks: more keras callbacks (run after ours).
        verbose: bool, report progress, evaluations and the kept epoch
            (`fit_reporting.report`: absl logging where it shows INFO, else stdout).
    Returns:
        keras.callbacks.History of this call (the epochs run after any resume), with
        `history.selection`: the selection's summary (kept epoch, its value, whether it
        stopped early), or None without a `selection`.
    """
    if selection and eval_dataset is None and evaluate_fn is None:
        raise ValueError(f"Selecting epochs by val_{selection.monitor} needs validation "
                         "data (an eval_dataset or evaluate_fn)")
    epoch_data = train_data if callable(train_data) else (lambda epoch: train_data)
    os.makedirs(model_dir, exist_ok=True)
    with strategy.scope():
        if compile_args is not None:
            model.compile(**compile_args, jit_compile=jit_compile)
        if not model.compiled:
            raise ValueError("train() needs a compiled model or compile_args")
        # Built now, so that a restore finds every slot variable to fill.
        model.optimizer.build(model.trainable_variables)
        best_file = BEST_ADAPTERS if lora.has_adapters(model) else BEST_WEIGHTS
        selector = (EpochSelector(selection, os.path.join(model_dir, best_file))
                    if selection else None)
        backup = Backup(model, os.path.join(model_dir, BACKUP_DIR), checkpoint_every_n_steps,
                        selector)
        state = backup.restore()
        progress = ProgressLogger(log_every_n_steps, global_batch_size,
                                  os.path.join(model_dir, LOGS_DIR, "steps"), verbose=verbose)
        # Callbacks share one logs dict in list order: evaluation comes first so that
        # TensorBoard and the selector see its metrics; the backup comes last, so that it
        # records the selector's state at the epoch it ends.
        callbacks = [EvaluationCallback(evaluate_fn, verbose)] if evaluate_fn else []
        callbacks += [keras.callbacks.TensorBoard(os.path.join(model_dir, LOGS_DIR),
                                                  update_freq="epoch"), progress]
        if keep_checkpoints:
            callbacks.append(KeepLatestCheckpoints(os.path.join(model_dir, CHECKPOINTS_DIR),
                                                   keep_checkpoints))
        if selector:
            callbacks.append(selector)
        callbacks += [backup, *extra_callbacks]

        history = keras.callbacks.History()
        history.history, history.epoch = {}, []
        start_epoch, start_step = state.get("epoch", 0), state.get("step", 0)
        for epoch in range(start_epoch, epochs):
            if selector and selector.stopped:  # early stopping (also when resumed after it)
                break
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
        history.selection = selector.summary(epochs) if selector else None
        if selector:
            if selection.keep == "best" and os.path.exists(selector.path):
                lora.load_weights(model, selector.path)
            _report_selection(history.selection, verbose)
    return history


def _report_selection(summary, verbose):
    if summary["kept_epoch"] is None:  # resumed after the last epoch: nothing ran
        return
    report(f"Kept epoch {summary['kept_epoch']} of {summary['epochs_run']} "
           f"({summary['keep_epoch']} epoch by {summary['monitor']}, {summary['mode']}): "
           f"{summary['monitor']} {summary['kept_value']:.4f}"
           + (f"; stopped early after epoch {summary['epochs_run']} of "
              f"{summary['epochs_planned']}, {summary['monitor']} best at epoch "
              f"{summary['best_epoch']}" if summary["stopped_early"] else ""), verbose)


def _cardinality(dataset):
    count = int(dataset.cardinality())
    return count if count >= 0 else None
