"""What the raw-text exports for CPU runtimes besides TF Serving share (openvino.py; see
`RUNTIME_FORMATS`): the model's ids function and the parity check. Their versioned folder
is `saved_model.publish_version`'s, as a SavedModel's.

    fn = ids_function(module)                 # int32 features -> the ids outputs
    check_parity(module, run, texts, "OpenVINO")   # against the SavedModel's graph

Each runtime file takes raw strings, its tokenizer inside it as in the SavedModel, and
returns the outputs of the module's ids signature (`postprocess_ids`: for classification
`label_id`, `label`, `probabilities`), which is all a graph fed by another tokenizer can
know. A version is written like a SavedModel's (saved_model.py): staged, checked, renamed
into place, never overwritten; `EXPORT_CONFIG_FILE` beside the model says what it is.
"""
import numpy as np
import tensorflow as tf

from bert_tf.model.encoder import INPUT_NAMES

RUNTIME_FORMATS = ("openvino",)
EXPORT_CONFIG_FILE = "export_config.json"
# float32: the runtime's outputs within this of the SavedModel's on the same texts.
FLOAT32_TOLERANCE = 1e-5


def ids_function(module):
    """tf.function: {input_word_ids, input_mask, input_type_ids} int32 [B, S] -> the
    module's ids outputs (`postprocess_ids` of its model), without serve_ids' request
    checks (the runtime's own tokenizer makes the features)."""
    specs = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES}

    @tf.function(input_signature=[specs])
    def outputs(features):
        return module.postprocess_ids(module.model(features, training=False), features)

    return outputs


def frozen_graph(function):
    """(GraphDef of `function` with its variables folded in as constants, {graph node:
    output name}): what graph converters take (OpenVINO makes captured variables state
    it cannot run); the inputs are placeholders named as `function`'s TensorSpecs."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)
    concrete = function.get_concrete_function()
    names = sorted(concrete.structured_outputs)  # tf.nest's order of the outputs
    frozen = convert_variables_to_constants_v2(concrete)
    return (frozen.graph.as_graph_def(),
            {tensor.name.split(":")[0]: name for name, tensor in zip(names, frozen.outputs)})


def check_text_inputs(module, runtime, most=1):
    """ValueError unless the module takes at most `most` text inputs."""
    if len(module.text_inputs) > most:
        raise ValueError(f"The {runtime} export takes at most {most} text input(s); this "
                         f"model's task takes {list(module.text_inputs)}: export it as a "
                         "SavedModel (--format=saved_model)")


def check_parity(module, run, texts, runtime, tolerance=FLOAT32_TOLERANCE):
    """Runs `texts` through the SavedModel's raw-text graph (`module.serve_text`) and
    `run({text input: np.ndarray of str}) -> {name: np.ndarray}`; ValueError naming the
    output unless every output of `run` is in the SavedModel's with the same shape and
    values (floats within `tolerance`). This is what stops a task whose ids outputs are
    not its raw-text ones (e.g. several windows per text) from being exported."""
    texts = {module.text_inputs[0]: list(texts)}
    want = {name: value.numpy() for name, value in module.serve_text(
        {name: tf.constant(values) for name, values in texts.items()}).items()}
    got = run({name: np.array(values) for name, values in texts.items()})
    for name, value in got.items():
        reference = want.get(name)
        if reference is None:
            raise ValueError(f"The {runtime} export's output {name!r} is not in the "
                             f"SavedModel's raw-text outputs {sorted(want)}")
        value = np.asarray(value)
        if reference.dtype.kind in "SOU":
            reference, value = _as_text(reference), _as_text(value)
        same = value.shape == reference.shape and (
            np.allclose(value, reference, atol=tolerance) if reference.dtype.kind == "f"
            else np.array_equal(value, reference))
        if not same:
            raise ValueError(
                f"The {runtime} export's {name!r} differs from the SavedModel's on the "
                f"check texts (shapes {value.shape} vs {reference.shape}"
                + (f", max difference {np.max(np.abs(value - reference)):.2e}"
                   if value.shape == reference.shape and reference.dtype.kind == "f" else "")
                + f"): this task's raw-text outputs cannot be served through {runtime}")


def _as_text(array):
    """A string array (bytes or str elements) as str elements."""
    return np.vectorize(lambda v: v.decode("utf-8") if isinstance(v, bytes) else str(v),
                        otypes=[object])(array)
