"""The shared absl flags: config files, precision, optimizer and the resolved-config record."""
import json
import os

import keras
import pytest
from absl import flags

from bert_tf.train import flags as train_flags
from bert_tf.train.optimization import WarmupPolynomialDecay

train_flags.define_common_flags()
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
    config = _write_json(tmp_path / "c.json", {"learning_rate": 3e-5, "train_batch_size": 16,
                                               "optimizer": "lamb", "jit_compile": True})
    flag_values = parse(f"--config_file={config}", "--train_batch_size=8")
    train_flags.apply_config_file(flag_values)
    assert flag_values.learning_rate == 3e-5
    assert flag_values.optimizer == "lamb"
    assert flag_values.jit_compile is True
    assert flag_values.train_batch_size == 8  # the command line wins


@pytest.mark.parametrize("values, message", [
    ({"learing_rate": 1e-4}, "'learing_rate', which is not a flag"),
    ({"optimizer": "sgd"}, "bad value 'sgd' for optimizer"),
    ({"train_batch_size": "many"}, "bad value 'many' for train_batch_size"),
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


def test_setup_sets_precision_and_needs_model_dir(tmp_path, parse):
    with pytest.raises(ValueError, match="--model_dir"):
        train_flags.setup(parse())
    strategy = train_flags.setup(parse(f"--model_dir={tmp_path}", "--mixed_precision=bfloat16"))
    assert strategy.num_replicas_in_sync == 1
    assert keras.config.dtype_policy().name == "mixed_bfloat16"


def test_optimizer_from_flags(parse):
    flag_values = parse("--optimizer=lamb", "--learning_rate=1e-3", "--warmup_proportion=0.2",
                        "--grad_accum_steps=2")
    optimizer = train_flags.make_optimizer_from_flags(100, flag_values)
    assert isinstance(optimizer, keras.optimizers.Lamb)
    assert optimizer.gradient_accumulation_steps == 2
    schedule = optimizer._learning_rate
    assert isinstance(schedule, WarmupPolynomialDecay)
    assert (schedule.num_warmup_steps, schedule.steps_per_update) == (20, 2)
    assert train_flags.num_warmup_steps(100, parse("--warmup_steps=7")) == 7


def test_resolved_config_is_written(tmp_path, parse):
    flag_values = parse("--learning_rate=2e-5", f"--model_dir={tmp_path}")
    path = train_flags.write_resolved_config(flag_values, str(tmp_path / "export"),
                                             extra={"labels": ["a", "b"]})
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
