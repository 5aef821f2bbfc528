"""Which epoch a fit run keeps, and when it stops: `EpochSelection` (the rule, from the
`TrainingConfig` fields `keep_epoch`, `monitor`, `monitor_mode`,
`early_stopping_patience`) and `EpochSelector` (the callback that applies it).

    rule = EpochSelection(keep="best", monitor="mcc", patience=2)
    # each epoch end: val_mcc is compared with the best so far; a better epoch's weights
    # go to model_dir/best.weights.h5; 2 epochs without a better one stop the run; at
    # the end the best epoch's weights are loaded back.

What the selector knows (best value, its epoch, epochs without improvement, whether it
stopped) is part of the trainer's backup, so a resumed run keeps and stops where an
uninterrupted one does.
"""
import dataclasses

import keras

from bert_tf.train import lora

KEEP_EPOCHS = ("last", "best")
MONITOR_MODES = ("auto", "max", "min")


def direction(metric, mode="auto"):
    """"max" or "min" for `metric`: `mode` unless "auto", which takes "min" for losses
    (names ending in "loss") and "max" for every other metric (accuracy, F1, MCC, ...)."""
    if mode not in MONITOR_MODES:
        raise ValueError(f"monitor_mode must be one of {list(MONITOR_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    return "min" if metric.endswith("loss") else "max"


@dataclasses.dataclass(frozen=True)
class EpochSelection:
    """What a fit run keeps and when it stops.

    Attributes:
        keep: "last" (the weights the last epoch run ends with) or "best" (those of the
            epoch with the best `monitor` value).
        monitor: an evaluation metric's name (without "val_"), e.g. "loss", "mcc".
        mode: "max" or "min" (the direction of `monitor`).
        patience: None, or stop after this many epochs without a better `monitor`.
    """
    keep: str
    monitor: str
    mode: str
    patience: int | None = None

    def __post_init__(self):
        if self.keep not in KEEP_EPOCHS:
            raise ValueError(f"keep_epoch must be one of {list(KEEP_EPOCHS)}, got "
                             f"{self.keep!r}")
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {self.mode!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"early_stopping_patience must be >= 1 (or unset), got "
                             f"{self.patience}")

    def describe(self):
        return (f"{self.keep} epoch" + ("" if self.keep == "last" else
                                        f" by val_{self.monitor} ({self.mode})")
                + (f", early stopping after {self.patience} epochs without a better "
                   f"val_{self.monitor}" if self.patience else ""))


class EpochSelector(keras.callbacks.Callback):
    """Applies an `EpochSelection` at each epoch end: tracks `val_<monitor>`, saves the
    best epoch's weights to `path` (keep="best"), and tells the trainer to stop once
    `patience` epochs passed without improvement. Its state (`get_state`/`set_state`)
    rides in the trainer's backup.
    """

    def __init__(self, rule, path):
        super().__init__()
        self.rule, self.path = rule, path
        self.best, self.best_epoch, self.wait = None, None, 0
        self.last_value, self.last_epoch, self.stopped = None, None, False

    @property
    def key(self):
        return f"val_{self.rule.monitor}"

    def _better(self, value):
        if self.best is None:
            return True
        return value > self.best if self.rule.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.key)
        if value is None:
            raise ValueError(f"monitor={self.rule.monitor!r}: no {self.key} among the "
                             f"epoch's metrics {sorted(logs or {})}; set --monitor to one "
                             "of the val_ names without 'val_'")
        value = float(value)
        self.last_value, self.last_epoch = value, epoch + 1
        if self._better(value):
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if self.rule.keep == "best":  # a LoRA model's: its adapter file
                lora.save_weights(self.model, self.path)
        else:
            self.wait += 1
            # The trainer reports it with what was kept (`history.selection`).
            self.stopped = bool(self.rule.patience and self.wait >= self.rule.patience)

    def get_state(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "last_value": self.last_value, "last_epoch": self.last_epoch,
                "stopped": self.stopped}

    def set_state(self, state):
        for name, value in state.items():
            setattr(self, name, value)

    def summary(self, epochs_planned):
        """What was kept, for the History, logs and resolved_config.json."""
        best = self.rule.keep == "best"
        return {"keep_epoch": self.rule.keep, "monitor": self.key, "mode": self.rule.mode,
                "kept_epoch": self.best_epoch if best else self.last_epoch,
                "kept_value": self.best if best else self.last_value,
                "best_epoch": self.best_epoch, "best_value": self.best,
                "epochs_run": self.last_epoch,
                "epochs_planned": epochs_planned, "stopped_early": self.stopped}
