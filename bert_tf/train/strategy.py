"""The tf.distribute strategy a training run uses, by name.

    strategy = make_strategy("mirrored")
    with strategy.scope():
        model = ...  # variables are created on the strategy's devices

Build the strategy once per process, first thing: TPU and multi-worker set-up must happen
before any other TensorFlow op runs.
"""
import json
import os

import tensorflow as tf

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
