"""TensorFlow's start in a bert_tf process without its one certain, meaningless error
line: `probe_devices_quietly()` (the binaries call it before absl's `app.run`, the
package on first use of a public name, `bert-create-pretraining-data`'s worker
processes as they start). TensorFlow is imported only inside it, and only on a machine
without a CUDA driver.
"""
import contextlib
import ctypes
import os
import re
import sys
import tempfile

_probed = False  # TF probes once per process; so does this

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


def probe_devices_quietly():
    """Lets TF probe for CUDA now, with the certain cuInit failure of a machine without
    a driver left out. TF probes once per process, and early: importing TF registers an
    absl after-init callback (tensorflow/python/distribute/combinations.py) that lists
    the GPUs as soon as `app.run` has parsed the flags, before `main`. Listing the
    physical devices does not fix them: a binary can still choose its devices
    (tf.config.set_visible_devices) afterwards."""
    global _probed
    if _probed or _has_cuda_driver():
        return
    _probed = True
    with _stderr_without(_CUINIT_WITHOUT_DRIVER):
        # Imported here too: importing TF after app.run's init runs the callback at once.
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        tf.config.list_physical_devices()
