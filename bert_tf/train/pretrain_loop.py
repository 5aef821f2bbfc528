"""BERT pretraining: the masked-LM + next-sentence loss and a distributed custom training
loop that resumes exactly where it stopped.

    strategy = make_strategy("mirrored")
    with strategy.scope():                        # model and optimizer on the replicas
        model = BertPretrainingModel(BertEncoder.from_bert_config(config))
        optimizer = make_optimizer("lamb", 1e-3, num_train_steps, num_warmup_steps=100)
    trainer = PretrainingTrainer(model, optimizer, strategy, global_batch_size=256)
    trainer.train(dataset, "runs/pretrain", num_train_steps, checkpoint_every_n_steps=1000)

How a step runs. The input pipeline yields the GLOBAL batch, the same on every worker;
each replica takes its rows of it. So the pipeline's state is one state for the whole job,
and it goes into the checkpoint with the model (`tf.train.Checkpoint(iterator=...)`): a run
killed at any point and started again restores weights, optimizer slots, step, dropout seeds
and the position in the data, and ends exactly where an uninterrupted run ends. It also
makes the data independent of the number of replicas. (The cost: every worker reads and
parses the whole global batch, which is cheap next to the model's step.)

Each replica computes its loss, scaled so that the replicas' losses add up to the global
batch mean, and its gradients. The gradients are summed across replicas once, and the
optimizer is applied to the sum in cross-replica context. (Applying a Keras optimizer in
replica context would clip each replica's partial gradient by the global norm before the
sum, which is not what a single device does.)

`optimizer.gradient_accumulation_steps` (Keras) = k makes one update out of k micro-batches
of `global_batch_size`: Keras averages their gradients, and because the loss is a mean over
sequences, that equals the gradient of one batch k times larger.

The loss and its metrics are in `pretrain_loss.py`, the restoring of checkpoints in
`pretrain_checkpoints.py`.
"""
import datetime
import os

import tensorflow as tf
from absl import logging

from bert_tf.model.encoder import INPUT_NAMES
from bert_tf.train.checkpoints import dropout_seed_states
from bert_tf.train.fit_reporting import ProgressSchedule
from bert_tf.train.pretrain_checkpoints import (checkpoint_dir, remove_temporary_checkpoints,
                                                restore_newest)
from bert_tf.train.pretrain_loss import STAT_NAMES, metrics_from_stats, pretraining_loss

MODEL_INPUTS = (*INPUT_NAMES, "masked_lm_positions")
LOGS_DIR = "logs"


class DynamicLossScale(tf.Module):
    """float16 loss scaling, applied around the cross-replica update.

    The loss is multiplied by `scale` so that small float16 gradients do not underflow; the
    summed gradients are divided by it again. A step whose gradients overflow (inf/NaN) is
    skipped and halves the scale; `growth_steps` finite steps in a row double it. (Keras's
    `LossScaleOptimizer` does the same but only in replica context; see the module doc.)

    With gradient accumulation, an overflowing micro-batch is left out of its update.

    Args:
        initial_scale: float, the first scale (2**15, as Keras and TF use).
        growth_steps: int, finite steps before the scale doubles.
    """

    def __init__(self, initial_scale=2.0**15, growth_steps=2000):
        super().__init__(name="dynamic_loss_scale")
        self.growth_steps = growth_steps
        self.scale = tf.Variable(initial_scale, trainable=False, dtype=tf.float32, name="scale")
        self.finite_steps = tf.Variable(0, trainable=False, dtype=tf.int64, name="finite_steps")

    def update(self, finite):
        """Records a step: `finite` is a bool scalar, whether the gradients were finite."""
        grow = finite & (self.finite_steps + 1 >= self.growth_steps)
        self.scale.assign(tf.where(grow, self.scale * 2.0,
                                   tf.where(finite, self.scale, self.scale / 2.0)))
        self.finite_steps.assign(tf.where(finite & ~grow, self.finite_steps + 1,
                                          tf.zeros_like(self.finite_steps)))


class PretrainingTrainer:
    """Runs pretraining updates of a `BertPretrainingModel` under a strategy.

    Args:
        model: `bert_tf.model.pretraining.BertPretrainingModel`, created in `strategy.scope()`.
        optimizer: Keras optimizer (`bert_tf.train.optimization.make_optimizer`), created in
            the scope; its `gradient_accumulation_steps` sets micro-batches per update.
        strategy: the `tf.distribute.Strategy` the model was created under.
        global_batch_size: int B, sequences per micro-batch over all replicas; must divide
            by the number of replicas.
        jit_compile: bool, XLA-compile each replica's forward and backward pass.
        loss_scale: `DynamicLossScale` for float16 training, else None. Create it in the
            scope too.
    """

    def __init__(self, model, optimizer, strategy, global_batch_size, jit_compile=False,
                 loss_scale=None):
        replicas = strategy.num_replicas_in_sync
        if global_batch_size % replicas:
            raise ValueError(f"The global batch size {global_batch_size} must divide by the "
                             f"{replicas} replicas")
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.global_batch_size = global_batch_size
        self.grad_accum_steps = optimizer.gradient_accumulation_steps or 1
        self.loss_scale = loss_scale
        with strategy.scope():
            # Built now, so that a restore finds every slot variable to fill.
            optimizer.build(model.trainable_variables)
            self.step = tf.Variable(0, trainable=False, dtype=tf.int64, name="step")
        self._replica_step = tf.function(self._replica_step_fn, jit_compile=jit_compile)
        self._micro_step = tf.function(self._micro_step_fn)

    # --- one micro-batch ---------------------------------------------------------------
    def _replica_step_fn(self, batch):
        """Forward and backward pass on this replica's rows of the global batch; returns
        the gradients and the STAT_NAMES sums stacked, float32 [len(STAT_NAMES)]."""
        context = tf.distribute.get_replica_context()
        rows = self.global_batch_size // context.num_replicas_in_sync
        start = context.replica_id_in_sync_group * rows
        features = {name: value[start:start + rows] for name, value in batch.items()}
        with tf.GradientTape() as tape:
            outputs = self.model({name: features[name] for name in MODEL_INPUTS},
                                 training=True)
            loss, stats = pretraining_loss(features, outputs, self.global_batch_size)
            if self.loss_scale is not None:
                loss *= self.loss_scale.scale
        grads = tape.gradient(loss, self.model.trainable_variables)
        return grads, tf.stack([stats[name] for name in STAT_NAMES])  # one tensor to reduce

    def _micro_step_fn(self, iterator):
        """One micro-batch: gradients on every replica, summed, handed to the optimizer
        (which applies them, or accumulates them until the k-th micro-batch)."""
        grads, stats = self.strategy.run(self._replica_step, args=(next(iterator),))
        variables = self.model.trainable_variables
        summed = self.strategy.extended.batch_reduce_to(
            tf.distribute.ReduceOp.SUM, [(g, v.value) for g, v in zip(grads, variables)])
        if self.loss_scale is None:
            self.optimizer.apply(summed, variables)
        else:
            summed = [g / self.loss_scale.scale for g in summed]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in summed])
            if finite:  # an overflowed step is skipped
                self.optimizer.apply(summed, variables)
            self.loss_scale.update(finite)
        totals = self.strategy.reduce(tf.distribute.ReduceOp.SUM, stats, axis=None)
        return dict(zip(STAT_NAMES, tf.unstack(totals)))

    def train_update(self, iterator):
        """One optimizer update (k micro-batches); returns the summed stats as tensors."""
        totals = None
        for _ in range(self.grad_accum_steps):
            stats = self._micro_step(iterator)
            totals = stats if totals is None else {k: totals[k] + v for k, v in stats.items()}
        self.step.assign_add(1)
        return totals

    # --- state -------------------------------------------------------------------------
    def checkpoint(self, iterator):
        """A `tf.train.Checkpoint` of everything a resumed run needs."""
        extra = {"loss_scale": self.loss_scale} if self.loss_scale is not None else {}
        return tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step,
                                   iterator=iterator,
                                   dropout_seed_states=dropout_seed_states(self.model), **extra)

    # --- the loop ----------------------------------------------------------------------
    def train(self, dataset, model_dir, num_train_steps, checkpoint_every_n_steps=1000,
              keep_checkpoints=3, log_every_n_steps=100, after_restore=None):
        """Trains to `num_train_steps` updates, resuming from the newest checkpoint in
        `model_dir` if there is one.

        Checkpoints (`model_dir/ckpt-STEP.*`, the newest `keep_checkpoints` kept) are written
        every `checkpoint_every_n_steps` updates and at the end; TensorBoard scalars go to
        `model_dir/logs`; a progress line is logged every `log_every_n_steps` updates and at
        least every 10% of the run and every 30 s.

        Args:
            dataset: tf.data.Dataset of global batches (`bert_tf.data.pretraining_dataset`),
                infinite or at least long enough.
            model_dir: str, checkpoint and log folder (shared by all workers).
            num_train_steps: int, optimizer updates in the whole run.
            checkpoint_every_n_steps: int, checkpoint interval in updates.
            keep_checkpoints: int, checkpoints kept.
            log_every_n_steps: int, progress/TensorBoard interval in updates.
            after_restore: callable or None, called once the newest checkpoint restored
                (or when there is none), before the first update: where the caller
                records the run's settings, known then to fit the checkpoints.
        Returns:
            dict of the metrics over the last logging interval (empty if nothing ran).
        """
        for name, value in (("num_train_steps", num_train_steps),
                            ("checkpoint_every_n_steps", checkpoint_every_n_steps),
                            ("keep_checkpoints", keep_checkpoints),
                            ("log_every_n_steps", log_every_n_steps)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        iterator = iter(dataset)
        checkpoint = self.checkpoint(iterator)
        restored = restore_newest(checkpoint, model_dir)
        if restored:
            logging.info("Resumed from %s at step %d", restored, int(self.step.numpy()))
        if after_restore is not None:
            after_restore()
        manager = tf.train.CheckpointManager(checkpoint,
                                             checkpoint_dir(self.strategy, model_dir),
                                             max_to_keep=keep_checkpoints)
        writer = (tf.summary.create_file_writer(os.path.join(model_dir, LOGS_DIR))
                  if self.strategy.extended.should_save_summary
                  else tf.summary.create_noop_writer())

        step = int(self.step.numpy())
        sequences_per_update = self.global_batch_size * self.grad_accum_steps
        # A line every log_every_n_steps, and at least every 10% of the run and every 30 s
        # (fit_reporting.ProgressSchedule); the TensorBoard scalars at the set interval.
        schedule = ProgressSchedule(log_every_n_steps, num_train_steps - step)
        line_stats, scalar_stats, metrics = None, None, {}
        started = False  # the first update traces: timing starts after it
        while step < num_train_steps:
            stats = self.train_update(iterator)
            line_stats, scalar_stats = (
                stats if total is None else {k: total[k] + v for k, v in stats.items()}
                for total in (line_stats, scalar_stats))
            step += 1
            if not started:
                started = True
                schedule.start(step)
            elif schedule.due(step) or step == num_train_steps:
                steps_per_second = schedule.mark(step)
                metrics = self._metrics(line_stats, steps_per_second * sequences_per_update)
                eta = datetime.timedelta(seconds=round((num_train_steps - step)
                                                       / steps_per_second))
                logging.info(
                    "step %d/%d  loss %.4f  mlm_acc %.3f  nsp_acc %.3f  lr %.3g  %.1f seq/s  "
                    "ETA %s", step, num_train_steps, metrics["loss"], metrics["mlm_accuracy"],
                    metrics["nsp_accuracy"], metrics["learning_rate"],
                    metrics["sequences_per_second"], eta)
                line_stats = None
            if step % log_every_n_steps == 0 or step == num_train_steps:
                scalars = self._metrics(scalar_stats, metrics.get("sequences_per_second", 0.0))
                with writer.as_default(step=step):
                    for name, value in scalars.items():
                        tf.summary.scalar(name, value)
                metrics, scalar_stats = scalars, None
            if step % checkpoint_every_n_steps == 0 or step == num_train_steps:
                manager.save(checkpoint_number=step)
        writer.flush()
        remove_temporary_checkpoints(self.strategy, model_dir)
        return metrics

    def _metrics(self, stats, sequences_per_second):
        """The loop's metrics of summed update stats, the learning rate and seq/s."""
        metrics = metrics_from_stats({k: float(v) for k, v in stats.items()})
        metrics["learning_rate"] = float(self.optimizer.learning_rate)
        metrics["sequences_per_second"] = sequences_per_second
        return metrics

    def evaluate(self, dataset, max_batches=None):
        """Masked-LM and NSP metrics of the model (inference mode) over `dataset`'s
        batches (at most `max_batches`): `metrics_from_stats` of the summed stats."""
        @tf.function(reduce_retracing=True)
        def batch_stats(batch):
            outputs = self.model({name: batch[name] for name in MODEL_INPUTS},
                                 training=False)
            return pretraining_loss(batch, outputs, 1)[1]

        totals = dict.fromkeys(STAT_NAMES, 0.0)
        for batch in dataset.take(-1 if max_batches is None else max_batches):
            for name, value in batch_stats(batch).items():
                totals[name] += float(value)
        return metrics_from_stats(totals)
