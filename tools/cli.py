"""How every bert_tf binary starts and fails: `run(main)` is absl's `app.run(main)`, except
that an error in what the user gave (a bad flag value, a missing or malformed file: a
ValueError or OSError, whose messages name the file, line, flag or value) is printed as
one line, `bert-finetune: error: ...`, with exit status 2, instead of under a traceback.
Other exceptions are bugs and keep their traceback; BERT_TF_TRACEBACK=1 shows it for
every error.

A binary prints its own lines, and TensorFlow's warnings and errors, not TensorFlow's
start-up chatter (`quiet_tensorflow_environment`, `run`); `--verbosity=0` (or higher)
brings back TF's Python INFO lines, `TF_CPP_MIN_LOG_LEVEL=0` its C++ ones.

Imports only the standard library and absl (TensorFlow only inside `run`, on a machine
without a CUDA driver): `bert-predict` stays free of bert_tf.
"""
import contextlib
import ctypes
import importlib.util
import logging as python_logging
import os
import re
import sys
import tempfile

from absl import app, flags

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


# TF's pip wheel is built with CUDA: the first time TF lists its devices (the start of
# any computation), its CUDA platform calls cuInit (xla/stream_executor/cuda/
# cuda_platform.cc, unconditionally; CUDA_VISIBLE_DEVICES does not stop it) and logs the
# failure as an error. On a machine where libcuda.so.1, the driver, cannot be loaded,
# that failure is certain and says nothing: TF's stub returns error 303 for every call.
# Only that line is dropped, and only then; on a machine with a driver every line stays.
_CUINIT_WITHOUT_DRIVER = re.compile(r"\] failed call to cuInit: .*\(303\)$")


def _has_cuda_driver():
    try:
        ctypes.CDLL("libcuda.so.1")  # what TF's CUDA stub loads (the same dlopen search)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _stderr_without(pattern):
    """Runs the block with file descriptor 2 (C++ code's stderr too) in a temporary
    file, then writes what it caught to stderr, less the lines matching `pattern`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not pattern.search(line)))
            sys.stderr.flush()


def _list_devices_quietly():
    """Lets TF probe for CUDA now, with the certain cuInit failure of a machine without
    a driver left out. TF probes once per process, and early: importing TF registers an
    absl after-init callback (tensorflow/python/distribute/combinations.py) that lists
    the GPUs as soon as `app.run` has parsed the flags, before `main`. Listing the
    physical devices does not fix them: a binary can still choose its devices
    (tf.config.set_visible_devices) afterwards."""
    if _has_cuda_driver():
        return
    with _stderr_without(_CUINIT_WITHOUT_DRIVER):
        # Imported here too: importing TF after app.run's init runs the callback at once.
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        tf.config.list_physical_devices()


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
        _list_devices_quietly()  # a binary that imports TF in main (bert-explain) needs it
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
        _list_devices_quietly()
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
