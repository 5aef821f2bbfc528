"""The pretraining loop's checkpoints in its model_dir: restoring the newest one that
reads back whole (`restore_newest`), and where each worker of a multi-worker run writes
(`checkpoint_dir`: the chief into model_dir, the others into folders of their own).
"""
import os
import re

import tensorflow as tf
from absl import logging

# How TF says that a restored iterator's input file is gone (a relative path recorded
# in another working directory, or the records moved).
_MISSING_INPUT_FILE = re.compile(r"restore dataset iterator from checkpoint: (.+?); No such "
                                 "file or directory")


def restore_newest(checkpoint, model_dir):
    """Restores the newest checkpoint of `model_dir` that reads back whole.

    A checkpoint a crash left truncated (a short `.data` file, a broken `.index`) is
    skipped with a warning naming it and why, and the next older one is tried.
    Returns the restored path, or None when there is no checkpoint.

    Raises:
        ValueError when `model_dir` holds checkpoints of another model configuration
        (another preset, vocab or sequence length), or when none reads back.
    """
    # TF resolves the `checkpoint` file's entries (CheckpointManager writes them
    # relative to their folder) against `model_dir` as given, so the paths open as
    # they are, with a relative or absolute model_dir and from any working directory.
    state = tf.train.get_checkpoint_state(model_dir)
    paths = list(reversed(state.all_model_checkpoint_paths)) if state else []
    skipped = []
    for path in paths:
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except ValueError as e:
            if "shape" in str(e).lower():
                raise ValueError(
                    f"{model_dir} holds checkpoints of another model configuration "
                    f"({os.path.basename(path)}: {str(e).splitlines()[0][:300]}); "
                    "resume with the settings it was made with (its "
                    "resolved_config.json), or give a new model_dir") from None
            skipped.append((path, e))
        except (tf.errors.OpError, IndexError, OSError) as e:  # truncated or corrupt
            missing = _MISSING_INPUT_FILE.search(str(e))
            if missing:  # the checkpoint is whole: its data position names that file
                raise ValueError(
                    f"{path} holds the run's position in input file {missing[1]}, "
                    "which is not there; give the records at the paths the run "
                    "started with, or a new model_dir") from None
            skipped.append((path, e))
        else:
            for bad, error in skipped:
                logging.warning("Skipped checkpoint %s, which does not read back (%s: "
                                "%s)", bad, type(error).__name__,
                                str(error).splitlines()[0][:200])
            return path
    if skipped:
        raise ValueError(f"No checkpoint in {model_dir} reads back: " + "; ".join(
            f"{os.path.basename(p)}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
            for p, e in skipped))
    return None


def checkpoint_dir(strategy, model_dir):
    """`model_dir` on the chief. Every worker must take part in a save, so the others
    write to a folder of their own, deleted at the end."""
    if strategy.extended.should_checkpoint:
        return model_dir
    return os.path.join(model_dir, f"worker_tmp_{strategy.cluster_resolver.task_id}")


def remove_temporary_checkpoints(strategy, model_dir):
    """Deletes this worker's own checkpoint folder (`checkpoint_dir`), if it has one."""
    directory = checkpoint_dir(strategy, model_dir)
    if directory != model_dir and tf.io.gfile.exists(directory):
        tf.io.gfile.rmtree(directory)
