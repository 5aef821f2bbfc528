"""Fine-tuning: the one recipe every caller runs (`TaskModel.fit`, and through it
`bert-finetune`, the benchmarks and the tests).

    history = finetune(task, model, train_examples, config, eval_examples=dev)

It sizes the schedule from the data (updates = epochs x batches / accumulation),
builds the optimizer, the length-bucketed training pipeline and the per-epoch evaluator,
and runs `trainer.train` (checkpoints, exact resume even mid-epoch, best epoch,
TensorBoard, progress) under the strategy the model was built in.
"""
import math
import shutil
import tempfile

from bert_tf.data import task_dataset
from bert_tf.train import strategy as strategy_lib
from bert_tf.train import optimization
from bert_tf.train import trainer
from bert_tf.train.fit_reporting import report


def finetune(task, model, train_examples, config, eval_examples=None, callbacks=(),
             strategy=None, training_model=None):
    """Trains `model` on the task's examples; returns the keras History.

    Args:
        task: a `bert_tf.tasks.Task`.
        model: its keras.Model, built under `strategy.scope()`.
        train_examples: list of the task's labelled examples.
        config: `TrainingConfig`; without `model_dir`, backups go to a temporary folder
            that is deleted afterwards (no resume).
        eval_examples: list or None; scored after every epoch with the task's metrics,
            which the config's epoch selection (`keep_epoch`, `monitor`,
            `early_stopping_patience`) watches.
        callbacks: more keras callbacks.
        strategy: the tf.distribute.Strategy the model was built in (default: the
            config's).
        training_model: None, or a keras.Model around `model` that computes its own loss
            (`bert_tf.train.distillation.Distiller`): it is what trains, and what the
            backups and checkpoints hold; `model` is what the evaluation scores.
    """
    strategy = strategy or strategy_lib.get_strategy(config)
    selection = config.epoch_selection(task.default_monitor)
    if not eval_examples and (selection.keep == "best" or selection.patience):
        raise ValueError(f"keep_epoch={selection.keep!r} and early_stopping_patience="
                         f"{selection.patience} need validation data to watch "
                         f"val_{selection.monitor}: pass validation_data (--eval_file)")
    steps_per_epoch = math.ceil(len(train_examples) / config.batch_size)
    num_updates = max(config.epochs * steps_per_epoch // config.grad_accum_steps, 1)
    report(f"{len(train_examples)} training examples, {config.epochs} epochs of "
           f"{steps_per_epoch} steps", config.verbose)
    bucket_by_length = config.bucket_by_length
    evaluate_fn = (task.evaluator(eval_examples, config.eval_batch_size, bucket_by_length)
                   if eval_examples else None)
    if evaluate_fn and training_model is not None:
        score = evaluate_fn

        def evaluate_fn(_):  # the trainer passes the training model; score `model`
            return score(model)
    # Each epoch's batches a function of (seed, epoch): a resumed run sees the same.
    epoch_batches = task_dataset.training_epochs(task, train_examples, config.batch_size,
                                                 config.seed, bucket_by_length)
    with strategy.scope():
        optimizer = optimization.from_config(config, num_updates)
    model_dir = config.model_dir or tempfile.mkdtemp(prefix="bert_tf_fit_")
    try:
        return trainer.train(
            model if training_model is None else training_model, epoch_batches,
            strategy=strategy, model_dir=model_dir, epochs=config.epochs,
            compile_args=(task.compile_args(optimizer) if training_model is None
                          else {"optimizer": optimizer}),  # it has its own loss
            jit_compile=config.jit_compile,
            evaluate_fn=evaluate_fn, selection=selection if evaluate_fn else None,
            checkpoint_every_n_steps=config.checkpoint_every_n_steps,
            keep_checkpoints=config.keep_checkpoints if config.model_dir else 0,
            log_every_n_steps=config.log_every_n_steps,
            global_batch_size=config.batch_size, extra_callbacks=callbacks,
            verbose=config.verbose)
    finally:
        if not config.model_dir:
            shutil.rmtree(model_dir, ignore_errors=True)
