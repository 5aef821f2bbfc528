"""How every bert_tf binary starts and fails: `run(main)` is absl's `app.run(main)`, except
that an error in what the user gave (a bad flag value, a missing or malformed file: a
ValueError or OSError, whose messages name the file, line, flag or value) is printed as
one line, `bert-finetune: error: ...`, with exit status 2, instead of under a traceback.
Other exceptions are bugs and keep their traceback; BERT_TF_TRACEBACK=1 shows it for
every error.

A binary prints its own lines, and TensorFlow's warnings and errors, not TensorFlow's
start-up chatter (`quiet_tensorflow_environment`, `run`); `--verbosity=0` (or higher)
brings back TF's Python INFO lines, `TF_CPP_MIN_LOG_LEVEL=0` its C++ ones.

Imports only the standard library, absl and `bert_tf.common.tf_startup` (the light
package init and no TensorFlow; TF only inside `run`, on a machine without a CUDA
driver): `bert-predict` stays free of bert_tf's TensorFlow modules.
"""
import importlib.util
import logging as python_logging
import os
import sys

from absl import app, flags

from bert_tf.common import tf_startup

USER_ERRORS = (ValueError, OSError)
# Where the training binaries (bert-finetune, bert-distill) put, inside --model_dir, the
# saved task model and the evaluation metrics.
EXPORT_DIR = "export"
EVAL_RESULTS_FILE = "eval_results.json"


def require(flag_name, purpose):
    """A usage error unless flag `flag_name` has a value (after any --config_file)."""
    if not flags.FLAGS[flag_name].value:
        raise app.UsageError(f"--{flag_name} is required for {purpose}")


def quiet_tensorflow_environment():
    """Before TensorFlow loads (bert_tf_tools/__init__.py calls this, so before any
    binary's imports): TF's C++ INFO lines off unless TF_CPP_MIN_LOG_LEVEL is set.

    Those lines are start-up chatter, the same on every run: which CPU instructions the
    wheel was compiled for, that oneDNN's kernels are on (bert_tf turns them on), that
    the CUDA stub found no driver. Level 1 keeps TF's C++ warnings and errors.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")


class _WithoutTensorFlowInfo(python_logging.Filter):
    """Drops INFO (and DEBUG) records logged by TensorFlow's own Python code: the
    SavedModel writer's `signature_serialization`, `functional_saver`, "Assets written
    to", `fingerprinting_utils` lines. Its warnings and errors, and bert_tf's INFO
    lines (progress, summaries), pass."""

    def __init__(self):
        super().__init__()
        spec = importlib.util.find_spec("tensorflow")  # finds it, does not import it
        self._folders = tuple(os.path.join(folder, "")
                              for folder in spec.submodule_search_locations)

    def filter(self, record):
        return (record.levelno >= python_logging.WARNING
                or not record.pathname.startswith(self._folders))


def _quiet_tensorflow_logs():
    """TF's Python INFO lines off, unless --verbosity was given. TF logs them through
    absl's logger and its own "tensorflow" logger; absl's app.run sets the verbosity to
    INFO when --verbosity is not given, for the binaries' own lines."""
    if flags.FLAGS["verbosity"].present:
        return
    without_info = _WithoutTensorFlowInfo()
    for name in ("absl", "tensorflow"):
        python_logging.getLogger(name).addFilter(without_info)


def run(main, pass_unknown_flags=False):
    """`app.run(main)` with one-line messages for `USER_ERRORS`, and without TF's
    start-up chatter (see the module's docstring). With `pass_unknown_flags`, flags no
    absl flag names reach `main` in argv (bert-index-beam's Beam pipeline options)."""
    def checked_main(argv):
        _quiet_tensorflow_logs()
        tf_startup.probe_devices_quietly()  # for a binary that imports TF in main (bert-explain)
        try:
            return main(argv)
        except USER_ERRORS as e:
            if os.environ.get("BERT_TF_TRACEBACK"):
                raise
            program = os.path.basename(sys.argv[0]) if sys.argv else "bert_tf"
            if program in ("__main__.py", "-m", "-c") or program.endswith(".py"):
                program = "bert_tf"
            print(f"{program}: error: {e}", file=sys.stderr)
            sys.exit(2)

    if "tensorflow" in sys.modules:  # before TF's after-init callback lists the GPUs
        tf_startup.probe_devices_quietly()
    app.run(checked_main, flags_parser=_parse_known_flags if pass_unknown_flags
            else app.parse_flags_with_usage)


def _parse_known_flags(argv):
    """absl's flags of argv parsed, as `app.parse_flags_with_usage` does; the others
    returned (after the program name) for main."""
    try:
        return flags.FLAGS(argv, known_only=True)
    except flags.Error as e:
        print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
        print("Pass --helpshort or --helpfull to see help on flags.", file=sys.stderr)
        sys.exit(1)
