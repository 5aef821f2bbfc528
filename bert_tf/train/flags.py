"""absl flags made from the config dataclasses: one definition of each setting, the
same name as a flag, a config-file key and a dataclass field.

    from bert_tf.train import flags as train_flags
    from bert_tf.train.config import TrainingConfig
    train_flags.define_flags(TrainingConfig)
    FLAGS = flags.FLAGS

    def main(argv):
        train_flags.apply_config_file(FLAGS)
        config = train_flags.config_from_flags(TrainingConfig, FLAGS)

`--config_file` names a JSON file (see configs/) whose keys are flag names; a flag given
on the command line wins over the file. No flag is marked required: the file may supply
any of them, and the binaries check what they need after reading it.
"""
import dataclasses
import json
import os
import types
import typing

from absl import flags

FLAGS = flags.FLAGS


def _base_type(field):
    """The field's type without `| None`: bool, int, float, str, tuple or list."""
    kind = field.type
    if isinstance(kind, str):  # postponed annotations are not used in bert_tf
        raise TypeError(f"field {field.name}: string annotation {kind!r}")
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    return typing.get_origin(kind) or kind


def define_flags(config_class, skip=(), defaults_none=False, flag_values=FLAGS):
    """Defines a flag for each field of the dataclass `config_class`.

    A flag already defined (by another config class with a field of the same name) is
    left as it is, so classes that share a setting share its flag.

    Args:
        config_class: a dataclass whose fields carry `metadata["help"]` (and optionally
            `metadata["choices"]`).
        skip: field names to define no flag for.
        defaults_none: every flag defaults to None (`config_from_flags` then leaves the
            field to its class default): for settings whose default depends on the class
            chosen at run time (a task's max_seq_length).
    """
    for field in dataclasses.fields(config_class):
        if field.name in skip or field.name in flag_values:
            continue
        help_text = field.metadata.get("help", field.name)
        default = None if defaults_none else _field_default(field)
        kind = _base_type(field)
        choices = field.metadata.get("choices")
        if kind is bool:
            flags.DEFINE_bool(field.name, default, help_text, flag_values=flag_values)
        elif choices and kind is str:
            flags.DEFINE_enum(field.name, default, list(choices), help_text,
                              flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(field.name, default, help_text, flag_values=flag_values)
        elif kind is float:
            flags.DEFINE_float(field.name, default, help_text, flag_values=flag_values)
        elif kind in (list, tuple):
            flags.DEFINE_list(field.name, None if default is None else list(default),
                              help_text, flag_values=flag_values)
        else:
            flags.DEFINE_string(field.name, default, help_text, flag_values=flag_values)


def _field_default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def config_values(config_class, flag_values=FLAGS):
    """{field: flag value} for the fields of `config_class` that have a flag whose value
    is not None."""
    return {field.name: flag_values[field.name].value
            for field in dataclasses.fields(config_class)
            if field.name in flag_values and flag_values[field.name].value is not None}


def config_from_flags(config_class, flag_values=FLAGS, **overrides):
    """An instance of `config_class` from the flags (unset ones keep the class default);
    a bad value is a ValueError naming the flag."""
    values = {**config_values(config_class, flag_values), **overrides}
    try:
        return config_class(**values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Bad flag value: {e}") from e


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


def define_config_file_flag(flag_values=FLAGS):
    if "config_file" not in flag_values:
        flags.DEFINE_string("config_file", None, "JSON file of flag values (keys are flag "
                            "names); flags given on the command line win.",
                            flag_values=flag_values)


def resolved_flags(flag_values=FLAGS):
    """{name: value} of every flag the program defined (absl's own flags left out)."""
    return {flag.name: flag.value
            for module, module_flags in flag_values.flags_by_module_dict().items()
            if not module.startswith("absl.")
            for flag in module_flags}
