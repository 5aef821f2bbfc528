"""The tf.distribute strategy a training run uses, by name.

    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = ...  # variables are created on the strategy's devices

Build the strategy once per process, first thing: TPU and multi-worker set-up must happen
before any other TensorFlow op runs.
"""
import json
import os

import keras
import tensorflow as tf
from absl import logging

from bert_tf.train import memory

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def make_strategy(name="default", tpu_address=None):
    """A `tf.distribute.Strategy`.

    Args:
        name: one of STRATEGIES:
            "default": TensorFlow's default strategy (no distribution; ops go where TF
                places them, the first GPU if there is one).
            "one_device": everything on one device, the first GPU or else the CPU.
            "mirrored": synchronous data parallelism over this machine's GPUs.
            "multi_worker": synchronous data parallelism over the workers that the
                TF_CONFIG environment variable lists.
            "tpu": a Cloud TPU; `tpu_address` names it ("local" for a TPU VM).
        tpu_address: str, the TPU's name or grpc:// address; required for "tpu".
    Returns:
        tf.distribute.Strategy.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        if not tpu_address:
            raise ValueError("The 'tpu' strategy needs the TPU's name or address (--tpu=NAME, "
                             "or --tpu=local on a TPU VM)")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown distribution strategy {name!r}; use one of {STRATEGIES}")


def _check_tf_config():
    """MultiWorkerMirroredStrategy silently runs as one worker without TF_CONFIG; a
    multi-worker run without it is a mistake, so say so."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError("The 'multi_worker' strategy reads the cluster from the TF_CONFIG "
                         "environment variable, which is not set")
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from e
    if "cluster" not in tf_config or "task" not in tf_config:
        raise ValueError("TF_CONFIG must have 'cluster' and 'task' entries, got keys "
                         f"{sorted(tf_config)}")


_STRATEGIES = {}  # (name, tpu) -> the strategy built for it in this process


def get_strategy(config):
    """The strategy of a `TrainingConfig`, built on first use and then reused: TPU and
    multi-worker set-up must run before any other TensorFlow op, so a binary builds it
    first thing (`setup`), and a later `TaskModel.fit` with the same config finds it."""
    key = (config.strategy, config.tpu)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = make_strategy(config.strategy, config.tpu)
    return _STRATEGIES[key]


def setup(config):
    """What a run does before building models; returns the strategy.

    Caps malloc arenas, seeds all randomness, sets the global dtype policy and builds
    the distribution strategy (once per process, before other TF work in a binary).
    """
    memory.limit_malloc_arenas(config.malloc_arena_max)
    keras.utils.set_random_seed(config.seed)
    keras.config.set_dtype_policy(config.dtype_policy)
    strategy = get_strategy(config)
    logging.info("Strategy %s with %d replica(s); dtype policy %s",
                 type(strategy).__name__, strategy.num_replicas_in_sync, config.dtype_policy)
    return strategy
