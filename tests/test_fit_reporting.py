"""ProgressLogger's lines: every N steps, and at least every 10% of an epoch and every
30 s whatever N is; its TensorBoard step scalars stay at every N steps. A fake clock and
direct callback calls: no training."""
import types

import pytest
import tensorflow as tf

from bert_tf.train.fit_reporting import ProgressLogger, ProgressSchedule


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _run_epoch(logger, clock, steps, seconds_per_step, epoch=0, epochs=1):
    """Drives `logger` through one epoch of `steps` steps; returns the logged steps."""
    logger.start_epoch(epoch, 0, steps, epochs)
    before = len(logger.lines)
    for batch in range(steps):
        clock.now += seconds_per_step
        logger.on_train_batch_end(batch, {"loss": 1.0})
    return [int(line.split()[1].split("/")[0]) for line in logger.lines[before:]]


def test_lines_every_tenth_of_an_epoch_when_the_interval_is_longer():
    clock = FakeClock()
    logger = ProgressLogger(every_n_steps=1000, global_batch_size=8, clock=clock)
    # 200 steps of 0.01 s: the interval (1000) and 30 s never come; 10% is 20 steps.
    assert _run_epoch(logger, clock, 200, 0.01) == list(range(21, 201, 20))
    assert logger.lines[0] == "step 21/200  loss 1.0000  800.0 seq/s  ETA 0:00:02"


def test_lines_every_30_seconds_when_steps_are_slow():
    clock = FakeClock()
    logger = ProgressLogger(every_n_steps=1000, clock=clock)
    # 1000 steps of 7 s: 10% is 100 steps (700 s), so the 30 s trigger sets the pace.
    # Step 1 starts the clock; 5 steps are 35 s >= 30 s; step 1000 is the interval's.
    assert _run_epoch(logger, clock, 1000, 7.0) == list(range(6, 1000, 5)) + [1000]


def test_the_set_interval_still_logs_when_it_is_the_shortest():
    clock = FakeClock()
    logger = ProgressLogger(every_n_steps=4, clock=clock)
    assert _run_epoch(logger, clock, 100, 0.01) == list(range(4, 101, 4))


def test_scalars_stay_at_the_set_interval(tmp_path):
    clock = FakeClock()
    logger = ProgressLogger(every_n_steps=50, log_dir=str(tmp_path), clock=clock)
    logger.set_model(types.SimpleNamespace(
        optimizer=types.SimpleNamespace(learning_rate=0.5)))
    logged = _run_epoch(logger, clock, 100, 0.01)
    assert logged == [11, 21, 31, 41, 50, 60, 70, 80, 90, 100]
    written = sorted({event.step for path in tmp_path.iterdir()
                      for event in tf.compat.v1.train.summary_iterator(str(path))
                      if event.summary.value})
    assert written == [50, 100]


def test_schedule_counts_from_a_resume_and_checks_its_interval():
    clock = FakeClock()
    schedule = ProgressSchedule(every_n_steps=7, steps_per_span=None, clock=clock)
    schedule.start(300)  # resumed at global step 300: no span, so only 7s and 30 s
    clock.now = 29.0
    assert [s for s in range(301, 320) if schedule.due(s)] == [301, 308, 315]
    clock.now = 30.0
    assert schedule.due(301)
    assert schedule.mark(310) == pytest.approx(10 / 30.0)
    with pytest.raises(ValueError, match="every_n_steps must be >= 1"):
        ProgressSchedule(0)


def test_report_prints_in_a_python_session_and_logs_in_a_binary(capsys):
    """Where absl does not show INFO (a Python session), fit's lines go to stdout as
    Keras' progress does; where it does (the binaries), through absl; verbose=False:
    nowhere."""
    from absl import logging

    from bert_tf.train.fit_reporting import report

    before = logging.get_verbosity()
    try:
        logging.set_verbosity(logging.WARNING)
        report("Kept epoch 2 of 3")
        report("not shown", verbose=False)
        assert capsys.readouterr().out == "Kept epoch 2 of 3\n"
        logging.set_verbosity(logging.INFO)
        report("through absl")
        assert "through absl" not in capsys.readouterr().out
    finally:
        logging.set_verbosity(before)
