"""bert_tf's absl binaries (see cli.py for how every one starts and fails)."""
from . import cli

# This package loads before any binary's module, so before TensorFlow.
cli.quiet_tensorflow_environment()
