"""Writes an export module as a new version in TF Serving's layout.

    path = export_saved_model(module, "exports", "rt_sentiment")   # exports/rt_sentiment/3/

TF Serving watches `<export_base>/<model_name>/` and serves the highest integer-named
folder in it. A version is therefore never changed once it is there: the SavedModel and
its warmup file are written to a hidden staging folder next to the versions (a name the
server ignores), checked, and renamed into place in one step. An existing version is
never overwritten.

Each version also holds `assets.extra/export_config.json` (`EXPORT_CONFIG_FILE`; TF
Serving ignores it): what the export is (its dtype, task and options, signatures, model
name and version), which `bert-predict` shows
(`bert_tf_serving.predictor.read_export_config`).
"""
import json
import os
import re
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.export import tf_serving

# The REST API matches model names with [^/:]+; this also keeps them file-name safe.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Next to the warmup requests: TF Serving ignores assets.extra/ but for those.
EXPORT_CONFIG_FILE = os.path.join("assets.extra", "export_config.json")


def check_model_name(model_name):
    """ValueError unless `model_name` is a name clients can request (`_MODEL_NAME`)."""
    if not _MODEL_NAME.match(model_name or ""):
        raise ValueError(f"Model name {model_name!r} must start with a letter or digit "
                         "and hold only letters, digits, '_', '-' and '.'")


def existing_versions(model_dir):
    """The integer version numbers present in `model_dir`, ascending."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if name.isdigit() and os.path.isdir(os.path.join(model_dir, name)))


def new_version(model_dir, version=None):
    """The version number to export as: `version`, checked to be new, or the next one.

    Raises:
      FileExistsError: `version` exists already.
      ValueError: `version` is not a positive integer.
    """
    existing = existing_versions(model_dir)  # "007" counts as version 7, as in TF Serving
    next_version = (existing or [0])[-1] + 1
    if version is None:
        return next_version
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"Version must be a positive integer, got {version!r}")
    if version in existing or os.path.exists(os.path.join(model_dir, str(version))):
        raise FileExistsError(
            f"Version {version} exists already in {model_dir}; versions are never "
            f"overwritten. Leave --version out to take the next one ({next_version})")
    return version


def export_saved_model(module, export_base, model_name, version=None,
                       warmup_texts=tf_serving.DEFAULT_WARMUP_TEXTS, verify=True):
    """Saves `module` as `<export_base>/<model_name>/<version>/` with warmup requests.

    Args:
      module: a `ServingModule` (its `endpoints()` become the signatures).
      export_base: str, the folder TF Serving's models live in.
      model_name: str, letters, digits, "_", "-", "." (the name clients request).
      version: int or None; None takes the next integer after the highest existing one.
      warmup_texts: list of str, real example texts for the warmup requests.
      verify: bool, load the written SavedModel back and check that every warmup
        request runs on it and gives what the functions it was saved from give, before
        the version is published.

    Returns:
      str, the path of the new version folder.

    Raises:
      FileExistsError: `version` exists already.
      ValueError: a bad model name or version.
    """
    def write(staging):
        functions = write_saved_model(module, staging)
        requests = tf_serving.warmup_requests(module, warmup_texts)
        tf_serving.write_warmup_file(staging, tf_serving.warmup_records(model_name, requests))
        return (lambda: verify_saved_model(staging, functions, requests)) if verify else None

    return publish_version(export_base, model_name, version, write, module.export_config())


def publish_version(export_base, model_name, version, write, config,
                    config_file=EXPORT_CONFIG_FILE):
    """The one way a version folder appears (every export format): `write(staging)` fills
    a staging folder (and may return a check to run once the config is beside it), which
    is then renamed `<export_base>/<model_name>/<version>` (the next version unless given;
    never overwritten), with `config` + model name and version as its `config_file`
    (a path inside the version). Returns the version's folder."""
    check_model_name(model_name)
    model_dir = os.path.join(export_base, model_name)
    os.makedirs(model_dir, exist_ok=True)
    version = new_version(model_dir, version)
    final_dir = os.path.join(model_dir, str(version))

    remove_abandoned_staging(model_dir)
    # The exporting process's id in the name: a later export can tell an abandoned
    # folder (its process is gone) from one still being written.
    staging = tempfile.mkdtemp(prefix=f".{version}.partial-{os.getpid()}-", dir=model_dir)
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; the server may be another user
        check = write(staging)
        write_export_config(staging, {**config, "model_name": model_name,
                                      "version": version}, config_file)
        if check is not None:
            check()
        if os.path.exists(final_dir):  # Another export took the number meanwhile.
            raise FileExistsError(f"Version {version} of {model_name!r} appeared at "
                                  f"{final_dir} while exporting; nothing was replaced")
        os.rename(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final_dir


def write_export_config(saved_model_dir, config, config_file=EXPORT_CONFIG_FILE):
    """Writes `config` (a JSON-able dict) as the version's `config_file`."""
    path = os.path.join(saved_model_dir, config_file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    return path


_STAGING = re.compile(r"^\.\d+\.partial-(?:(\d+)-)?")


def remove_abandoned_staging(model_dir):
    """Deletes the staging folders (`.N.partial-PID-*`) of exports whose process is gone,
    e.g. killed mid-export; those of running exports stay. Returns the deleted paths."""
    removed = []
    for name in sorted(os.listdir(model_dir)):
        match = _STAGING.match(name)
        path = os.path.join(model_dir, name)
        if not match or not os.path.isdir(path):
            continue
        if match.group(1) and _process_exists(int(match.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        logging.info("Removed %s, left by an export that did not finish", path)
        removed.append(path)
    return removed


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_saved_model(module, path):
    """Saves `module.endpoints()` as the SavedModel's signatures with Keras' ExportArchive.

    ExportArchive saves exactly the variables the functions capture. (A Keras 3 model
    saved as an attribute of a tf.Module by `tf.saved_model.save` gets its variables
    saved under a second set of names, which TF1's loader, and so TF Serving, restores
    while the functions read the first set, left uninitialized: keras-team/keras#20095.)

    Returns:
      {signature name: the tf.function that was saved}.
    """
    archive = keras.export.ExportArchive()
    functions = {name: archive.add_endpoint(name, fn, input_signature=signature)
                 for name, (fn, signature) in module.endpoints().items()}
    archive.write_out(path, verbose=False)
    return functions


def verify_saved_model(saved_model_dir, functions, requests):
    """Runs each (signature, inputs) request on the written SavedModel and on the
    functions it was saved from: a graph or variable that did not survive the round
    trip shows up here, before any server loads the version.

    Args:
      saved_model_dir: str, the SavedModel folder.
      functions: {signature name: the function that was saved}.
      requests: list of (signature name, {input name: np.ndarray}).

    Raises:
      ValueError: an output differs (names the signature and output).
    """
    loaded = tf.saved_model.load(saved_model_dir)
    for signature, inputs in requests:
        tensors = {name: tf.constant(value) for name, value in inputs.items()}
        got = loaded.signatures[signature](**tensors)
        for name, want in functions[signature](tensors).items():
            want, saved = want.numpy(), got[name].numpy()
            same = (saved.shape == want.shape and np.allclose(saved, want, atol=1e-5)
                    if want.dtype.kind == "f" else np.array_equal(saved, want))
            if not same:
                raise ValueError(f"The exported SavedModel's {signature}/{name} differs "
                                 "from the model it was exported from")
