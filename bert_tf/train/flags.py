"""The absl flags every bert_tf training binary shares, and what they set up.

    from bert_tf.train import flags as train_flags
    train_flags.define_common_flags()
    FLAGS = flags.FLAGS

    def main(argv):
        strategy = train_flags.setup(FLAGS)   # config file, seed, precision, strategy
        ...
        optimizer = train_flags.make_optimizer_from_flags(num_train_steps, FLAGS)
        train_flags.write_resolved_config(FLAGS, FLAGS.model_dir)

`--config_file` names a JSON file (see configs/) whose keys are flag names; a flag given
on the command line wins over the file.
"""
import json
import os

import keras
from absl import flags, logging

from bert_tf.train import memory, optimization
from bert_tf.train.strategy import STRATEGIES, make_strategy

FLAGS = flags.FLAGS

MIXED_PRECISION_POLICIES = {"none": "float32", "bfloat16": "mixed_bfloat16",
                            "float16": "mixed_float16"}
RESOLVED_CONFIG_FILE = "resolved_config.json"


def define_common_flags():
    """Defines the shared flags once; later calls (several modules importing it) are no-ops."""
    if "strategy" in FLAGS:
        return
    # Where and how to run.
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES), "tf.distribute strategy.")
    flags.DEFINE_string("tpu", None, "TPU name or grpc:// address (--strategy=tpu); "
                        "'local' on a TPU VM.")
    flags.DEFINE_enum("mixed_precision", "none", list(MIXED_PRECISION_POLICIES),
                      "Compute dtype; float16 trains with dynamic loss scaling.")
    flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step.")
    flags.DEFINE_integer("malloc_arena_max", 2, "Cap on glibc malloc arenas, which keeps "
                         "host memory near what training needs (see bert_tf/train/memory.py); "
                         "0 keeps glibc's default.", lower_bound=0)
    flags.DEFINE_integer("seed", 42, "Seed of Python, NumPy, TF and Keras randomness.")
    flags.DEFINE_string("config_file", None, "JSON file of flag values (keys are flag "
                        "names); flags given on the command line win.")
    # Optimization.
    flags.DEFINE_enum("optimizer", "adamw", list(optimization.OPTIMIZERS), "Optimizer.")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate.")
    flags.DEFINE_float("warmup_proportion", 0.1, "Fraction of training steps of linear "
                       "warmup (ignored when --warmup_steps is set).")
    flags.DEFINE_integer("warmup_steps", None, "Steps of linear warmup.")
    flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm "
                       "and bias variables).")
    flags.DEFINE_integer("grad_accum_steps", 1, "Micro-batches accumulated per update.")
    # Data and schedule.
    flags.DEFINE_integer("train_batch_size", 32, "Global batch size of one training step "
                         "(a micro-batch under --grad_accum_steps).")
    flags.DEFINE_integer("eval_batch_size", 64, "Global evaluation batch size.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs.")
    flags.DEFINE_integer("max_seq_length", 128, "Tokens per sequence, [CLS] and [SEP] "
                         "included.")
    # Checkpoints and logs.
    flags.DEFINE_string("model_dir", None, "Output folder: checkpoints, logs, exports.")
    flags.DEFINE_string("init_checkpoint", None, "Pretrained BERT folder, Google "
                        "(bert_config.json, bert_model.ckpt.*) or Hugging Face (config.json, "
                        "model.safetensors) layout, with vocab.txt.")
    flags.DEFINE_integer("checkpoint_every_n_steps", None, "Backup interval for resuming "
                         "(default: each epoch).")
    flags.DEFINE_integer("keep_checkpoints", 3, "Epoch checkpoints kept.")
    flags.DEFINE_integer("log_every_n_steps", 100, "Progress line / TensorBoard interval.")


def apply_config_file(flag_values=FLAGS):
    """Sets the flags that `--config_file` lists and the command line did not set.

    Raises:
        FileNotFoundError / ValueError naming the file and the bad key or value.
    """
    path = flag_values.config_file
    if not path:
        return
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config_file {path} does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            values = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"--config_file {path} is not valid JSON: {e}") from e
    if not isinstance(values, dict):
        raise ValueError(f"--config_file {path} must hold a JSON object of flag values")
    for name, value in values.items():
        if name not in flag_values:
            raise ValueError(f"--config_file {path} sets {name!r}, which is not a flag")
        if name == "config_file":
            raise ValueError(f"--config_file {path} may not name another config file")
        flag = flag_values[name]
        if flag.present:  # given on the command line
            continue
        try:
            flag.value = None if value is None else flag.parser.parse(value)
        except (flags.IllegalFlagValueError, ValueError, TypeError) as e:
            raise ValueError(f"--config_file {path}: bad value {value!r} for {name}: {e}") \
                from e


def set_mixed_precision(name):
    """Sets the Keras global dtype policy from a `--mixed_precision` value.

    Models made afterwards compute in that dtype with float32 variables; under
    "float16", `model.compile` wraps the optimizer in `keras.optimizers.LossScaleOptimizer`.
    """
    if name not in MIXED_PRECISION_POLICIES:
        raise ValueError(f"mixed_precision must be one of {sorted(MIXED_PRECISION_POLICIES)}, "
                         f"got {name!r}")
    keras.config.set_dtype_policy(MIXED_PRECISION_POLICIES[name])


def setup(flag_values=FLAGS):
    """Everything a binary does before building models; returns the strategy.

    Applies `--config_file`, checks `--model_dir`, caps malloc arenas, seeds all
    randomness, sets the dtype policy and builds the distribution strategy (once, before
    other TF work).
    """
    apply_config_file(flag_values)
    if not flag_values.model_dir:
        raise ValueError("--model_dir is required")
    memory.limit_malloc_arenas(flag_values.malloc_arena_max)
    keras.utils.set_random_seed(flag_values.seed)
    set_mixed_precision(flag_values.mixed_precision)
    strategy = make_strategy(flag_values.strategy, flag_values.tpu)
    logging.info("Strategy %s with %d replica(s); dtype policy %s",
                 type(strategy).__name__, strategy.num_replicas_in_sync,
                 keras.config.dtype_policy().name)
    return strategy


def num_warmup_steps(num_train_steps, flag_values=FLAGS):
    """`--warmup_steps` if set, else `--warmup_proportion` of `num_train_steps`."""
    if flag_values.warmup_steps is not None:
        return min(flag_values.warmup_steps, num_train_steps)
    return int(num_train_steps * flag_values.warmup_proportion)


def make_optimizer_from_flags(num_train_steps, flag_values=FLAGS):
    """`optimization.make_optimizer` configured by the optimizer flags.

    Args:
        num_train_steps: int, optimizer updates in the run (micro-batches divided by
            `--grad_accum_steps`).
    """
    return optimization.make_optimizer(
        flag_values.optimizer, flag_values.learning_rate, num_train_steps,
        num_warmup_steps(num_train_steps, flag_values), weight_decay=flag_values.weight_decay,
        grad_accum_steps=flag_values.grad_accum_steps)


def resolved_flags(flag_values=FLAGS):
    """{name: value} of every flag the program defined (absl's own flags left out)."""
    return {flag.name: flag.value
            for module, module_flags in flag_values.flags_by_module_dict().items()
            if not module.startswith("absl.")
            for flag in module_flags}


def write_resolved_config(flag_values, folder, extra=None):
    """Writes the run's resolved flags (plus `extra`, e.g. label vocab) to
    `folder/resolved_config.json`, so a checkpoint or export says how it was made.

    Returns:
        str, the file's path.
    """
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, RESOLVED_CONFIG_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({**resolved_flags(flag_values), **(extra or {})}, f, indent=2, sort_keys=True)
        f.write("\n")
    return path
