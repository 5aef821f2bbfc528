"""The precision an export computes in: float32 (the default) or bfloat16.

    model = in_dtype(model, "bfloat16", task.build_model)  # same weights, computes in bf16
    module = exporter.serving_module(task, model, dtype="bfloat16")  # what export does
    model_dtype(model)                                      # "bfloat16"

A bfloat16 export is the model rebuilt under Keras' "bfloat16" dtype policy with its
weights cast to bf16: the variables are stored in bf16 (half the size, and no per-call
cast of every kernel, which "mixed_bfloat16" with its float32 variables adds to each
request: 3% more CPU time per batch of 32 RT snippets on MiniLM, measured on an AVX2
EPYC, where the matmuls themselves are no faster; relatively more where they are) and
every matmul (the Dense layers, attention's two batched matmuls) runs in bf16. Float32 by design, as under mixed precision (bert_tf/model): the attention softmax,
LayerNorm's statistics (Keras computes them in float32) and each task's logits layer
(dtype="float32"), so the outputs (probabilities, logits, scores) are float32 as in a
float32 export. The signatures are the same; `explain` runs on the bf16 model too
(gradients in bf16: scores of the same sign and ranking, completeness looser than
float32's, see the README).

bfloat16 pays off only where matmuls run natively in bf16: CPUs with AVX512_BF16 or AMX
(`bert_tf.common.hardware.native_bf16`), and GPUs. Elsewhere TensorFlow converts to float32 and
back, no faster and typically slower than float32: exporting in bf16 on such a CPU logs
a warning (`warn_if_slow`).
"""
from absl import logging

from bert_tf.common import hardware
from bert_tf.model.encoder import BertEncoder, find_encoder
from bert_tf.train.placement import dtype_policy

EXPORT_DTYPES = ("float32", "bfloat16")


def check_dtype(dtype):
    """`dtype` if it is one of EXPORT_DTYPES; ValueError in one line otherwise."""
    if dtype not in EXPORT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(EXPORT_DTYPES)}; got {dtype!r}")
    return dtype


def model_dtype(model):
    """What `model` (a task model or encoder) computes its matmuls in: "float32",
    "bfloat16", "float16", or the quantization mode ("int8", ...) of a model quantized
    with `model.quantize`."""
    modes = {layer.dtype_policy.quantization_mode for layer in model._flatten_layers()
             if getattr(layer.dtype_policy, "quantization_mode", None)}
    if modes:
        return "+".join(sorted(modes))
    return find_encoder(model).compute_dtype


def in_dtype(model, dtype, build=None):
    """`model` computing in `dtype`: `model` itself if it does already, else the same
    model rebuilt under the Keras dtype policy `dtype` with its weights cast.

    Args:
        model: a keras.Model holding one BertEncoder, or a BertEncoder.
        dtype: one of EXPORT_DTYPES.
        build: callable(encoder) -> model, how `model` is built on its encoder (a task's
            `build_model`); None when `model` is the BertEncoder itself.
    Returns:
        a keras.Model of the same architecture and weights.
    Raises:
        ValueError: an unknown dtype, or a quantized model (its int8 weights have no
            float version to cast).
    """
    check_dtype(dtype)
    encoder = find_encoder(model)
    if encoder.dtype_policy.name == dtype and model_dtype(model) == dtype:
        return model
    if model_dtype(model) not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"The model is quantized ({model_dtype(model)}); it cannot be "
                         f"exported as {dtype}: export the model it was quantized from")
    with dtype_policy(dtype):
        new_encoder = BertEncoder.from_bert_config(encoder.bert_config)
        rebuilt = build(new_encoder) if build is not None else new_encoder
    rebuilt.set_weights(model.get_weights())  # cast to each variable's dtype
    return rebuilt


def warn_if_slow(dtype):
    """Logs a warning when `dtype` will run slower than float32 on this machine's CPU
    (bfloat16 without native bf16 instructions); returns the message, or None."""
    if dtype != "bfloat16" or hardware.native_bf16():
        return None
    why = ("has no avx512_bf16 or amx_bf16 flag in /proc/cpuinfo"
           if hardware.native_bf16() is False else "cannot be checked (no /proc/cpuinfo)")
    message = (f"bfloat16 export: this CPU ({hardware.cpu_model()}) {why}, so TensorFlow "
               "converts the bf16 matmuls to float32 and back here: the export gains "
               "nothing and typically runs SLOWER than a float32 one on this machine. bf16 "
               "is faster on CPUs with AVX512_BF16 or AMX and on GPUs; for this CPU export "
               "float32.")
    logging.warning(message)
    return message
