"""What the fit trainer (`trainer.train`) keeps on disk in its model_dir: the backup an
exact resume restores (`Backup`: model, optimizer, dropout random state, the epoch and the
step in it, the epoch selector's state) and the newest epoch checkpoints
(`KeepLatestCheckpoints`); and `dropout_seed_states`, which the pretraining loop's
checkpoints save too. The best epoch's weights are `selection.EpochSelector`'s.
"""
import glob
import json
import os
import shutil

import keras
import tensorflow as tf
from absl import logging


BACKUP_DIR = "backup"
BACKUP_STATE_FILE = "state.json"
CHECKPOINTS_DIR = "checkpoints"
BEST_WEIGHTS = "best.weights.h5"  # the best epoch (selection.EpochSelector)
BEST_ADAPTERS = "best.adapters.h5"  # a LoRA run's best epoch (bert_tf/train/lora.py)


def dropout_seed_states(model):
    """The variables holding the random state of `model`'s dropout layers.

    Keras keeps them out of what the model tracks for tf.train.Checkpoint; without them a
    resumed run would drop other units than an uninterrupted one.
    """
    return [v for v in model.variables if v.name == "seed_generator_state"]


class Backup(keras.callbacks.Callback):
    """Saves what an exact resume needs in `directory`: a `tf.train.Checkpoint` of the
    model, optimizer and dropout random state (the newest two kept), and `state.json`
    (the epoch, the steps done in it and the epoch selector's state) naming it.

    Args:
        model: the compiled keras.Model, its optimizer built.
        directory: str, the backup folder.
        every_n_steps: int or None, also save every N steps of an epoch.
        selector: the run's `selection.EpochSelector` or None; its state (best value,
            epochs without improvement, ...) is saved and restored.
    """

    def __init__(self, model, directory, every_n_steps=None, selector=None):
        super().__init__()
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.directory = directory
        self.every_n_steps = every_n_steps
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer,
                                              dropout_seed_states=dropout_seed_states(model))
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=2)
        self.selector = selector
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
        if self.selector is not None:
            self.selector.set_state(state["selection"])
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
                 "selection": self.selector.get_state() if self.selector else None}
        temporary = os.path.join(self.directory, BACKUP_STATE_FILE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(temporary, os.path.join(self.directory, BACKUP_STATE_FILE))

    def finish(self):
        """Training ended: the next run starts afresh."""
        shutil.rmtree(self.directory, ignore_errors=True)


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
