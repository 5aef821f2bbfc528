"""Settings dataclasses (`TrainingConfig`, `PretrainingConfig`, each task's config) are
declared with `config_field`: every field carries its help text (and choices), which
`bert_tf.train.flags` turns into the binaries' flags of the same name."""
import dataclasses


def config_field(default, help, **metadata):
    """A dataclass field with its flag's `help` (and e.g. `choices=`) as metadata."""
    metadata = {"help": help, **metadata}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
