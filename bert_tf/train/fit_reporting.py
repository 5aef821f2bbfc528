"""What a fit run (`trainer.train`) reports: the `evaluate_fn` metrics added to each
epoch's logs (`EvaluationCallback`), and progress lines and TensorBoard scalars by global
step (`ProgressLogger`): the scalars every N steps, the lines every N steps and, whatever
N is, at least every 10% of an epoch and every 30 s (`ProgressSchedule`).
"""
import time

import keras
import tensorflow as tf
from absl import logging


def report(line, verbose=True):
    """One line of a fit run's report: through absl logging where it shows INFO (the
    binaries, or a program that set it), else on stdout, as Keras' `fit` prints its
    progress in a Python session; nothing when not `verbose`."""
    if not verbose:
        return
    if logging.level_info():
        logging.info(line)
    else:
        print(line, flush=True)


class EvaluationCallback(keras.callbacks.Callback):
    """Adds `val_<name>` for each metric of `evaluate_fn(model)` to the epoch-end logs
    (and `report`s them when `verbose`)."""

    def __init__(self, evaluate_fn, verbose=True):
        super().__init__()
        self.evaluate_fn, self.verbose = evaluate_fn, verbose

    def on_epoch_end(self, epoch, logs=None):
        metrics = self.evaluate_fn(self.model)
        report(f"Epoch {epoch + 1} evaluation: " + "  ".join(
            f"{name} {value:.4f}" for name, value in metrics.items()), self.verbose)
        if logs is not None:
            logs.update({f"val_{name}": float(value) for name, value in metrics.items()})


class ProgressSchedule:
    """When a progress line is due: every `every_n_steps` steps, and at least every
    `span_fraction` of a span (an epoch; None: no span) and every `max_seconds`, so that
    a run shows it is alive and how fast it goes whatever interval was set for the
    TensorBoard scalars.

    Args:
        every_n_steps: int >= 1, the set interval.
        steps_per_span: int or None, steps of an epoch.
        span_fraction, max_seconds: the other two triggers.
        clock: () -> seconds, monotonic (time.monotonic; a fake in tests).
    """

    def __init__(self, every_n_steps, steps_per_span=None, span_fraction=0.1,
                 max_seconds=30.0, clock=time.monotonic):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.max_seconds = max_seconds
        self.clock = clock
        self.span_steps = None
        self.set_span(steps_per_span, span_fraction)
        self._last_step, self._last_time = None, None

    def set_span(self, steps_per_span, span_fraction=0.1):
        self.span_steps = (max(1, int(steps_per_span * span_fraction))
                           if steps_per_span else None)

    def start(self, step):
        """The clock and the step count start here (a (re)start's first step)."""
        self._last_step, self._last_time = step, self.clock()

    def due(self, step):
        """Whether a line is due at global step `step` (after `start`)."""
        return (step % self.every_n_steps == 0
                or (self.span_steps is not None and step - self._last_step >= self.span_steps)
                or self.clock() - self._last_time >= self.max_seconds)

    def mark(self, step):
        """A line was logged at `step`; returns steps per second since the last one."""
        now = self.clock()
        steps_per_second = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        return steps_per_second


class ProgressLogger(keras.callbacks.Callback):
    """Logs `step S/T  loss L  X seq/s  ETA hh:mm:ss` every `every_n_steps` train steps
    and at least every 10% of an epoch and every 30 s (`ProgressSchedule`); with
    `log_dir` it writes TensorBoard scalars by global step every `every_n_steps` steps
    (the loss, the learning rate, sequences/s), which stay continuous across a resume.

    Args:
        every_n_steps: int, logging interval.
        global_batch_size: int or None, sequences per step (None: seq/s is not shown).
        log_dir: str or None, TensorBoard folder for the step scalars.
        clock: () -> seconds, monotonic (time.monotonic; a fake in tests).
        verbose: bool, `report` the lines (they are kept in `lines` either way).
    """

    def __init__(self, every_n_steps, global_batch_size=None, log_dir=None,
                 clock=time.monotonic, verbose=True):
        super().__init__()
        self.verbose = verbose
        self.log_dir = log_dir
        self._writer = None
        self.schedule = ProgressSchedule(every_n_steps, clock=clock)
        self.every_n_steps = every_n_steps
        self.global_batch_size = global_batch_size
        self.lines = []  # the logged lines, for tests and callers
        self._epoch, self._done, self._steps_per_epoch, self._epochs = 0, 0, None, None
        self._started = False

    def start_epoch(self, epoch, done, steps_per_epoch, epochs):
        """Where the next `fit` call starts: `done` steps into `epoch`."""
        self._epoch, self._done = epoch, done
        self._steps_per_epoch, self._epochs = steps_per_epoch, epochs
        self.schedule.set_span(steps_per_epoch)

    def on_train_batch_end(self, batch, logs=None):
        steps_per_epoch = self._steps_per_epoch
        within = self._done + batch + 1
        step = self._epoch * steps_per_epoch + within if steps_per_epoch else within
        if not self._started:  # first step after (re)start: timing starts here
            self._started = True
            self.schedule.start(step)
            return
        if not self.schedule.due(step):
            return
        steps_per_second = self.schedule.mark(step)
        total = steps_per_epoch * self._epochs if steps_per_epoch else None
        parts = [f"step {step}" + (f"/{total}" if total else ""),
                 f"loss {logs.get('loss', float('nan')):.4f}"]
        if self.global_batch_size:
            parts.append(f"{steps_per_second * self.global_batch_size:.1f} seq/s")
        if total:
            parts.append(f"ETA {_format_seconds((total - step) / steps_per_second)}")
        line = "  ".join(parts)
        self.lines.append(line)
        report(line, self.verbose)
        if self.log_dir and step % self.every_n_steps == 0:
            self._write_scalars(step, logs, steps_per_second)

    def _write_scalars(self, step, logs, steps_per_second):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default(step=step):
            tf.summary.scalar("loss", float(logs.get("loss", float("nan"))))
            tf.summary.scalar("learning_rate", float(self.model.optimizer.learning_rate))
            if self.global_batch_size:
                tf.summary.scalar("sequences_per_second",
                                  steps_per_second * self.global_batch_size)
        self._writer.flush()


def _format_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
