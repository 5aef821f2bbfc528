"""The files TF Serving reads besides the SavedModel, written at export time.

    <export_base>/models.config                     model_config_list, one entry per model
    <export_base>/batching_parameters.txt           --batching_parameters_file
    <export_base>/<model>/<version>/assets.extra/tf_serving_warmup_requests

The protos come from `tensorflow-serving-api` (pip install tensorflow-serving-api==2.20.*).
serving/README.md explains the batching values and how the server is started on them.
"""
import os
import tempfile

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from bert_tf.export.serving_module import IDS_SIGNATURE, TEXT_SIGNATURE
from bert_tf.model.encoder import INPUT_NAMES

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MODELS_CONFIG_FILE = "models.config"
BATCHING_PARAMETERS_FILE = "batching_parameters.txt"

# A few real sentences (openings of public-domain novels) for the warmup requests.
DEFAULT_WARMUP_TEXTS = (
    "It was the best of times, it was the worst of times.",
    "Call me Ishmael.",
    "It is a truth universally acknowledged, that a single man in possession of a good "
    "fortune, must be in want of a wife.",
    "Happy families are all alike; every unhappy family is unhappy in its own way.",
)

# BatchingParameters for the server's --enable_batching, by the device that runs the
# model. The reasons for each value are in serving/README.md ("Batching").
BATCHING_PRESETS = {
    "cpu": {
        "max_batch_size": 32,
        "batch_timeout_micros": 0,
        "max_enqueued_batches": None,  # = num_batch_threads
        "pad_variable_length_inputs": True,
    },
    "gpu": {
        "max_batch_size": 128,
        "batch_timeout_micros": 2000,
        "max_enqueued_batches": 100,
        "allowed_batch_sizes": (8, 16, 32, 64, 128),
        "pad_variable_length_inputs": True,
    },
}


def _serving_apis():
    try:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
        from tensorflow_serving.config import model_server_config_pb2
    except ImportError as e:
        raise ImportError("Writing TF Serving files needs the tensorflow-serving-api "
                          "package: pip install tensorflow-serving-api==2.20.*") from e
    return model_pb2, predict_pb2, prediction_log_pb2, model_server_config_pb2


def _write_atomically(path, text):
    """Writes `text` to a temp file next to `path`, then renames it over `path`, so
    that a server polling the file never reads half of it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the server may be another user
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# --- warmup requests ---------------------------------------------------------------------
def warmup_requests(module, texts=DEFAULT_WARMUP_TEXTS):
    """Predict requests for every signature of `module`, at batch 1 and batch len(texts).

    Args:
      module: a `ServingModule` (or a module with only raw-text signatures).
      texts: list of str, real example texts (the second text input of a pair task gets
        them rotated by one).

    Returns:
      list of (signature name, {input name: np.ndarray}).
    """
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("Warmup needs at least one non-empty text")
    requests = []
    for batch in (texts[:1], texts):
        segments = [batch[i:] + batch[:i] for i in range(len(module.text_inputs))]
        text_inputs = {name: np.array([t.encode("utf-8") for t in segment], dtype=object)
                       for name, segment in zip(module.text_inputs, segments)}
        requests.append((TEXT_SIGNATURE, text_inputs))
        if IDS_SIGNATURE in module.endpoints():  # a module of raw text only has none
            features = module.preprocess({k: tf.constant(v) for k, v in text_inputs.items()})
            requests.append((IDS_SIGNATURE, {k: features[k].numpy() for k in INPUT_NAMES}))
    return requests


def warmup_records(model_name, requests):
    """`PredictionLog` protos holding a PredictRequest for each (signature, inputs)."""
    _, predict_pb2, prediction_log_pb2, _ = _serving_apis()
    records = []
    for signature, inputs in requests:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        records.append(prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)))
    return records


def write_warmup_file(saved_model_dir, records):
    """Writes `records` as the TFRecord file TF Serving replays when it loads a version."""
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path


def read_warmup_file(saved_model_dir):
    """The `PredictionLog` records of a SavedModel's warmup file."""
    _, _, prediction_log_pb2, _ = _serving_apis()
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No warmup file at {path}")
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(path)]


# --- models.config -----------------------------------------------------------------------
def update_models_config(export_base, model_name, base_path):
    """Adds `model_name` to `<export_base>/models.config`, or updates its base_path.

    Other models' entries, and this model's other settings (version policy, labels),
    are kept as they are.

    Args:
      export_base: folder holding the models (and models.config).
      model_name: str, the name clients request.
      base_path: str, the model's folder as the SERVER sees it (e.g. /models/<name>
        when export_base is mounted at /models in the container).

    Returns:
      The path of models.config.
    """
    _, _, _, model_server_config_pb2 = _serving_apis()
    path = os.path.join(export_base, MODELS_CONFIG_FILE)
    config = model_server_config_pb2.ModelServerConfig()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            try:
                text_format.Parse(f.read(), config)
            except text_format.ParseError as e:
                raise ValueError(f"{path} is not a valid ModelServerConfig text proto "
                                 f"({e}); fix or remove it") from e
        if config.HasField("custom_model_config"):
            raise ValueError(f"{path} uses custom_model_config; bert-export only "
                             "maintains model_config_list")
    entries = config.model_config_list.config
    entry = next((e for e in entries if e.name == model_name), None) or entries.add()
    entry.name = model_name
    entry.base_path = base_path
    entry.model_platform = "tensorflow"
    _write_atomically(path, text_format.MessageToString(config))
    return path


# --- batching ----------------------------------------------------------------------------
def batching_parameters_text(device, num_batch_threads):
    """The text-format BatchingParameters for `device` ("cpu" or "gpu")."""
    if device not in BATCHING_PRESETS:
        raise ValueError(f"Batching device must be one of {sorted(BATCHING_PRESETS)}, "
                         f"got {device!r}")
    if num_batch_threads < 1:
        raise ValueError(f"num_batch_threads must be positive, got {num_batch_threads}")
    preset = BATCHING_PRESETS[device]
    max_enqueued = preset["max_enqueued_batches"] or num_batch_threads
    lines = [f"max_batch_size {{ value: {preset['max_batch_size']} }}",
             f"batch_timeout_micros {{ value: {preset['batch_timeout_micros']} }}",
             f"num_batch_threads {{ value: {num_batch_threads} }}",
             f"max_enqueued_batches {{ value: {max_enqueued} }}"]
    lines += [f"allowed_batch_sizes: {size}" for size in preset.get("allowed_batch_sizes", ())]
    lines.append(f"pad_variable_length_inputs: {str(preset['pad_variable_length_inputs']).lower()}")
    return "\n".join(lines) + "\n"


def write_batching_parameters(export_base, device, num_batch_threads):
    """Writes `<export_base>/batching_parameters.txt` unless one is there already.

    The file configures the whole server (all its models), and an operator may have
    tuned it; an existing file is kept.

    Returns:
      (path, written): written is False when an existing file was kept.
    """
    path = os.path.join(export_base, BATCHING_PARAMETERS_FILE)
    text = batching_parameters_text(device, num_batch_threads)
    if os.path.exists(path):
        return path, False
    _write_atomically(path, text)
    return path, True
