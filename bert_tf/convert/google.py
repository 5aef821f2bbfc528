"""Google TF1 BERT checkpoints (`bert_model.ckpt.index` + `.data-*`), read and written
with their original variable names."""
import os

import numpy as np
import tensorflow as tf


def checkpoint_prefix(path):
    """Resolves a folder, a `bert_model.ckpt` prefix or one of its files to the prefix."""
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        candidates = sorted(f[:-len(".index")] for f in os.listdir(path) if f.endswith(".index"))
        if not candidates:
            raise FileNotFoundError(f"No TF checkpoint (*.index) in folder {path}")
        if len(candidates) > 1:
            raise ValueError(f"Several checkpoints in {path}: {candidates}; name one prefix")
        return os.path.join(path, candidates[0])
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            path = path[:-len(suffix)]
    if ".data-" in os.path.basename(path):
        path = path[:path.rindex(".data-")]
    if not os.path.isfile(path + ".index"):
        raise FileNotFoundError(f"TF checkpoint not found: {path}.index does not exist")
    return path


def read_checkpoint(path):
    """{variable name: float32 numpy array} for every float variable in a TF1 checkpoint."""
    prefix = checkpoint_prefix(path)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f"Cannot read TF checkpoint {prefix}: {e}") from e
    dtypes = reader.get_variable_to_dtype_map()
    return {name: reader.get_tensor(name).astype(np.float32)
            for name, dtype in dtypes.items() if dtype.is_floating}


def write_checkpoint(weights, prefix):
    """Writes {google_name: array} as a TF1 checkpoint at `prefix` (e.g. .../bert_model.ckpt).

    Written with the TF1 Saver, so Google's `modeling.py` + `init_from_checkpoint` and
    `tf.train.load_checkpoint` read it as they read the released checkpoints.
    """
    with tf.Graph().as_default():
        variables, feeds = [], {}
        for name, value in sorted(weights.items()):
            value = np.asarray(value, dtype=np.float32)
            var = tf.compat.v1.get_variable(name, shape=value.shape, dtype=tf.float32,
                                            initializer=tf.compat.v1.zeros_initializer())
            # Fed through a placeholder: constants would put the weights in the graph.
            placeholder = tf.compat.v1.placeholder(tf.float32, value.shape)
            variables.append((var, tf.compat.v1.assign(var, placeholder)))
            feeds[placeholder] = value
        saver = tf.compat.v1.train.Saver([v for v, _ in variables])
        with tf.compat.v1.Session() as session:
            session.run([assign for _, assign in variables], feed_dict=feeds)
            saver.save(session, prefix, write_meta_graph=False)
    return prefix
