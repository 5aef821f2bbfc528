"""The shared absl flags: config files, precision, optimizer and the resolved-config record."""
import json
import os

import keras
import pytest
from absl import flags

from bert_tf.train import config as train_config
from bert_tf.train import strategy as strategy_lib
from bert_tf.train import optimization
from bert_tf.train import flags as train_flags
from bert_tf.train.config import TrainingConfig
from bert_tf.train.optimization import WarmupPolynomialDecay

train_flags.define_config_file_flag()
train_flags.define_flags(TrainingConfig)
FLAGS = flags.FLAGS


@pytest.fixture
def parse():
    """Parses a command line into the global FLAGS and restores defaults afterwards."""
    def _parse(*args):
        FLAGS.unparse_flags()
        FLAGS(["prog", *args])
        return FLAGS
    yield _parse
    FLAGS.unparse_flags()
    keras.config.set_dtype_policy("float32")


def _write_json(path, values):
    path.write_text(json.dumps(values))
    return str(path)


def test_config_file_sets_flags_and_command_line_wins(tmp_path, parse):
    config = _write_json(tmp_path / "c.json", {"learning_rate": 3e-5, "batch_size": 16,
                                               "optimizer": "lamb", "jit_compile": True})
    flag_values = parse(f"--config_file={config}", "--batch_size=8")
    train_flags.apply_config_file(flag_values)
    assert flag_values.learning_rate == 3e-5
    assert flag_values.optimizer == "lamb"
    assert flag_values.jit_compile is True
    assert flag_values.batch_size == 8  # the command line wins


@pytest.mark.parametrize("values, message", [
    ({"learing_rate": 1e-4}, "'learing_rate', which is not a flag"),
    ({"optimizer": "sgd"}, "bad value 'sgd' for optimizer"),
    ({"batch_size": "many"}, "bad value 'many' for batch_size"),
    ([1, 2], "JSON object"),
])
def test_bad_config_file_names_the_problem(tmp_path, parse, values, message):
    flag_values = parse(f"--config_file={_write_json(tmp_path / 'c.json', values)}")
    with pytest.raises(ValueError, match=message):
        train_flags.apply_config_file(flag_values)


def test_missing_config_file(parse):
    flag_values = parse("--config_file=/nonexistent/c.json")
    with pytest.raises(FileNotFoundError, match="/nonexistent/c.json"):
        train_flags.apply_config_file(flag_values)


def test_flags_are_the_config_fields(parse):
    """Every TrainingConfig field is a flag of the same name, type and default."""
    flag_values = parse("--batch_size=8", "--mixed_precision=bfloat16", "--jit_compile",
                        "--warmup_steps=7")
    config = train_flags.config_from_flags(TrainingConfig, flag_values)
    assert config == TrainingConfig(batch_size=8, mixed_precision="bfloat16",
                                    jit_compile=True, warmup_steps=7)
    assert train_flags.config_from_flags(TrainingConfig, parse()) == TrainingConfig()
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1, got 0"):
        train_flags.config_from_flags(TrainingConfig, parse("--batch_size=0"))


@pytest.mark.parametrize("changes, message", [
    ({"epochs": 1.5}, "epochs must be a whole number"),
    ({"optimizer": "sgd"}, "optimizer must be one of"),
    ({"warmup_proportion": 2}, "warmup_proportion must be in"),
])
def test_training_config_checks_values(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**changes)
    with pytest.raises(ValueError, match="Unknown training setting"):
        TrainingConfig().replace(epoch=2)


def test_setup_sets_precision(tmp_path):
    strategy = strategy_lib.setup(TrainingConfig(mixed_precision="bfloat16"))
    try:
        assert strategy.num_replicas_in_sync == 1
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        assert strategy_lib.get_strategy(TrainingConfig()) is strategy  # built once
    finally:
        keras.config.set_dtype_policy("float32")


def test_optimizer_from_config():
    config = TrainingConfig(optimizer="lamb", learning_rate=1e-3, warmup_proportion=0.2,
                            grad_accum_steps=2)
    optimizer = optimization.from_config(config, 100)
    assert isinstance(optimizer, keras.optimizers.Lamb)
    assert optimizer.gradient_accumulation_steps == 2
    schedule = optimizer._learning_rate
    assert isinstance(schedule, WarmupPolynomialDecay)
    assert (schedule.num_warmup_steps, schedule.steps_per_update) == (20, 2)
    assert TrainingConfig(warmup_steps=7).num_warmup_steps(100) == 7


def test_resolved_config_is_written(tmp_path, parse):
    flag_values = parse("--learning_rate=2e-5", f"--model_dir={tmp_path}")
    path = train_config.write_resolved_config(
        str(tmp_path / "export"), train_flags.resolved_flags(flag_values),
        train_flags.config_from_flags(TrainingConfig, flag_values), {"labels": ["a", "b"]})
    written = json.loads(open(path).read())
    assert written["learning_rate"] == 2e-5
    assert written["model_dir"] == str(tmp_path)
    assert written["labels"] == ["a", "b"]
    assert "verbosity" not in written  # absl's own flags are left out


def test_malloc_arena_cap():
    from bert_tf.train import memory

    with pytest.raises(ValueError, match="max_arenas must be >= 0"):
        memory.limit_malloc_arenas(-1)
    assert memory.limit_malloc_arenas(0) is False  # glibc's default kept
    assert memory.limit_malloc_arenas(2) is (os.environ.get("MALLOC_ARENA_MAX") is None)
