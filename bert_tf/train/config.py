"""How a training run runs: one dataclass for the library, the binaries' flags and the
config files alike (a flag and a config-file key are named as the field).

    config = TrainingConfig(epochs=2, batch_size=32, learning_rate=5e-5,
                            strategy="mirrored", mixed_precision="bfloat16",
                            model_dir="runs/rt")
    write_resolved_config("runs/rt", config)   # runs/rt/resolved_config.json

What the settings do lives beside the code that does it: `strategy.setup(config)` (seeds,
malloc arenas, dtype policy, the strategy) and `optimization.from_config(config, n)`.
"""
import dataclasses
import json
import os

from bert_tf.common.fields import config_field
from bert_tf.train import lora, optimization
from bert_tf.train.selection import KEEP_EPOCHS, MONITOR_MODES, EpochSelection, direction
from bert_tf.train.strategy import STRATEGIES

MIXED_PRECISION_POLICIES = {"none": "float32", "bfloat16": "mixed_bfloat16",
                            "float16": "mixed_float16"}
RESOLVED_CONFIG_FILE = "resolved_config.json"


@dataclasses.dataclass
class TrainingConfig:
    """Training settings shared by fine-tuning and pretraining (each field is a flag of
    the training binaries, of the same name)."""

    # Where and how to run.
    strategy: str = config_field("default", "tf.distribute strategy.", choices=STRATEGIES)
    tpu: str | None = config_field(None, "TPU name or grpc:// address (strategy tpu); 'local' "
                                   "on a TPU VM.")
    mixed_precision: str = config_field("none", "Compute dtype; float16 trains with dynamic loss "
                                        "scaling.", choices=tuple(MIXED_PRECISION_POLICIES))
    jit_compile: bool = config_field(False, "XLA-compile the train step.")
    malloc_arena_max: int = config_field(2, "Cap on glibc malloc arenas, which keeps host memory "
                                         "near what training needs (bert_tf/train/memory.py); "
                                         "0 keeps glibc's default.")
    seed: int = config_field(42, "Seed of Python, NumPy, TF and Keras randomness.")
    # Optimization.
    optimizer: str = config_field("adamw", "Optimizer.", choices=optimization.OPTIMIZERS)
    learning_rate: float = config_field(5e-5, "Peak learning rate.")
    warmup_proportion: float = config_field(0.1, "Fraction of the optimizer updates of linear "
                                            "warmup (ignored when warmup_steps is set).")
    warmup_steps: int | None = config_field(None, "Updates of linear warmup.")
    weight_decay: float = config_field(0.01, "Decoupled weight decay (not on LayerNorm and bias "
                                       "variables).")
    grad_accum_steps: int = config_field(1, "Micro-batches accumulated per update.")
    # LoRA.
    lora_rank: int = config_field(0, "Rank of LoRA adapters on the encoder's projections, "
                                  "the rest of the encoder frozen and the head trained "
                                  "fully (bert_tf/train/lora.py); 0: full fine-tuning.")
    lora_alpha: float = config_field(16.0, "LoRA scaling: the adapters add lora_alpha / "
                                     "lora_rank * A @ B to each kernel (PEFT's lora_alpha).")
    lora_targets: str = config_field("attention", "Projections that get adapters: attention "
                                     "(query, key, value, attention output) or "
                                     "attention_ffn (and the feed-forward's two).",
                                     choices=tuple(lora.TARGETS))
    # Data and schedule.
    batch_size: int = config_field(32, "Global batch size of one training step (a micro-batch "
                                   "under grad_accum_steps).")
    eval_batch_size: int = config_field(64, "Global evaluation / prediction batch size.")
    epochs: int = config_field(3, "Passes over the training data (fine-tuning).")
    bucket_by_length: bool = config_field(True, "Batch examples of similar length together, so "
                                          "that padding to each batch's longest wastes "
                                          "little (fine-tuning).")
    # Which epoch fit keeps (bert_tf/train/selection.py).
    keep_epoch: str = config_field(
        "last", "The weights fit ends with: 'last' (the last epoch's, the default: on "
        "imbalanced data the best validation epoch is a noisy pick, see the README's "
        "model-selection figures) or 'best' (the epoch with the best --monitor on the "
        "validation data).", choices=KEEP_EPOCHS)
    monitor: str | None = config_field(
        None, "Validation metric that picks the best epoch and drives early stopping: "
        "loss, accuracy, macro_f1, mcc (classification), f1, precision, recall (ner), "
        "exact_match, f1 (qa); default: the task's default_monitor.")
    monitor_mode: str = config_field("auto", "Direction of --monitor: max, min, or auto "
                                     "(min for a loss, max otherwise).",
                                     choices=MONITOR_MODES)
    early_stopping_patience: int | None = config_field(
        None, "Stop after this many epochs without a better --monitor (and end with the "
        "epoch --keep_epoch names); unset: no early stopping.")
    # Checkpoints and logs.
    model_dir: str | None = config_field(None, "Output folder: backups, checkpoints, TensorBoard "
                                         "logs, the saved model.")
    checkpoint_every_n_steps: int | None = config_field(None, "Backup interval for resuming "
                                                        "(default: each epoch).")
    keep_checkpoints: int = config_field(3, "Epoch checkpoints kept.")
    log_every_n_steps: int = config_field(100, "Progress line and TensorBoard step-scalar "
                                          "interval.")
    verbose: bool = config_field(True, "Fine-tuning: report progress (also every 10% of an "
                                 "epoch and every 30 s), each epoch's evaluation and the "
                                 "kept epoch; through absl logging where it shows INFO "
                                 "(the binaries), else on stdout, as Keras' fit does.")

    def __post_init__(self):
        for name in ("strategy", "mixed_precision", "optimizer", "lora_targets",
                     "keep_epoch", "monitor_mode"):
            allowed = _FIELDS[name].metadata["choices"]
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got "
                                 f"{getattr(self, name)!r}")
        for name in ("batch_size", "eval_batch_size", "epochs", "grad_accum_steps",
                     "log_every_n_steps"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
                setattr(self, name, value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        for name in ("checkpoint_every_n_steps", "warmup_steps", "early_stopping_patience"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "warmup_steps" else 1):
                raise ValueError(f"{name} must be >= 1 (or unset), got {value}")
        if self.keep_checkpoints < 0 or self.malloc_arena_max < 0:
            raise ValueError("keep_checkpoints and malloc_arena_max must be >= 0, got "
                             f"{self.keep_checkpoints} and {self.malloc_arena_max}")
        if not 0 <= self.warmup_proportion <= 1:
            raise ValueError(f"warmup_proportion must be in [0, 1], got "
                             f"{self.warmup_proportion}")
        if isinstance(self.lora_rank, bool) or not isinstance(self.lora_rank, int) \
                or self.lora_rank < 0:
            raise ValueError(f"lora_rank must be a whole number >= 0 (0: full fine-tuning), "
                             f"got {self.lora_rank!r}")
        if self.lora_alpha <= 0:
            raise ValueError(f"lora_alpha must be > 0, got {self.lora_alpha}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def replace(self, **changes):
        """A copy with `changes` (field names); ValueError naming an unknown one."""
        unknown = sorted(set(changes) - set(_FIELDS))
        if unknown:
            raise ValueError(f"Unknown training setting(s) {unknown}; TrainingConfig has "
                             f"{sorted(_FIELDS)}")
        return dataclasses.replace(self, **changes)

    def num_warmup_steps(self, num_updates):
        """`warmup_steps` if set, else `warmup_proportion` of `num_updates`."""
        if self.warmup_steps is not None:
            return min(self.warmup_steps, num_updates)
        return int(num_updates * self.warmup_proportion)

    def epoch_selection(self, default_monitor):
        """The `EpochSelection` of these settings; `monitor` unset: `default_monitor`."""
        monitor = self.monitor or default_monitor
        return EpochSelection(self.keep_epoch, monitor, direction(monitor, self.monitor_mode),
                              self.early_stopping_patience)

    @property
    def dtype_policy(self):
        """The Keras dtype policy name of `mixed_precision`."""
        return MIXED_PRECISION_POLICIES[self.mixed_precision]


_FIELDS = {field.name: field for field in dataclasses.fields(TrainingConfig)}


def write_resolved_config(folder, *configs):
    """Writes the run's settings (dataclasses or dicts, later ones win) to
    `folder/resolved_config.json`, so a checkpoint or export says how it was made.

    Returns:
        str, the file's path.
    """
    values = {}
    for config in configs:
        values.update(dataclasses.asdict(config) if dataclasses.is_dataclass(config)
                      else config)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, RESOLVED_CONFIG_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, sort_keys=True, default=str)
        f.write("\n")
    return path


def read_resolved_config(folder):
    """The settings `write_resolved_config` wrote to `folder` ({} when it holds none)."""
    path = os.path.join(folder, RESOLVED_CONFIG_FILE)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)
