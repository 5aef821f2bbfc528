"""LoRA fine-tuning: low-rank adapters on the encoder's projections (Keras 3's own
`Dense.enable_lora`), the rest of the encoder frozen, the task head trained fully.

    lora.from_config(model, config)      # what fit(lora_rank=8) does; under strategy.scope()
    lora.trainable_count(model)          # what the optimizer updates
    lora.plain_weights(model)            # get_weights() of the model with adapters merged
    lora.save_adapters(model, "rt.adapters.h5")
    lora.load_adapters(other_model, "rt.adapters.h5")  # the same task on the same base

An adapted Dense computes x @ (W + alpha / r * A @ B) + b: W and b frozen, A [in, r]
(he_uniform) and B [r, out] (zeros, so training starts from the pretrained model)
trained; alpha / r is PEFT's `lora_alpha / r` scaling. `TARGETS` names the projections.

What trains besides the adapters: the pooler and the task's own layers. The pooler is
BERT's pretrained [CLS] layer, which only the task head reads (the classifier's input):
trained as part of the head, it costs H * H + H parameters (148k on MiniLM, 0.7 % of the
model) and in PEFT terms it is a `modules_to_save` beside the classifier (bench/peers.py
does the same). Tasks that do not read it (NER, QA) give it no gradient, so it stays as
it was. Everything else of the encoder (embeddings, LayerNorms, biases, kernels) is
frozen.

A saved or exported LoRA model is a plain one: `plain_weights` folds each adapter into
its kernel (in float32, then the kernel's dtype) and leaves the adapters out, so a
served graph has no extra matmul and the variables of a full fine-tuning's export.
Keras' own `save_weights` of an adapted Dense also writes the merged kernel, but loading
that file back zeroes the adapters, which stops further training (both A and B zero have
zero gradients): the trainer keeps a LoRA run's best epoch as an adapter file instead
(`save_weights` / `load_weights` here).

An adapter file (HDF5) holds the settings, a fingerprint of the frozen base kernels and
every trained variable, keyed by its layer's position in the model and its name (the
same in every build of the same task model; layer names are not: Keras numbers unnamed
ones per process).
"""
import h5py
import numpy as np

from bert_tf.model.encoder import find_encoder

TARGETS = {"attention": ("query", "key", "value", "attention_output"),
           "attention_ffn": ("query", "key", "value", "attention_output", "intermediate",
                             "output_dense")}


def has_adapters(model):
    """Whether any layer of `model` (any keras.Model) has LoRA adapters."""
    return any(getattr(layer, "lora_enabled", False) for layer in model._flatten_layers())


def adapted_layers(model):
    """[(block index, attribute, Dense)] of the encoder projections with adapters."""
    return [(index, name, getattr(block, name))
            for index, block in enumerate(find_encoder(model).transformer_layers)
            for name in TARGETS["attention_ffn"] if getattr(block, name).lora_enabled]


def settings(model):
    """(rank, alpha, targets) of `model`'s adapters, or None if it has none."""
    layers = adapted_layers(model)
    if not layers:
        return None
    names = tuple(dict.fromkeys(name for _, name, _ in layers))
    targets = next((key for key, value in TARGETS.items() if value == names), None)
    if targets is None or len(layers) != len(names) * len(
            find_encoder(model).transformer_layers):
        raise ValueError(f"The model has adapters on {names} of some blocks only; "
                         f"bert_tf adapts every block's {' or '.join(TARGETS)} projections")
    return layers[0][2].lora_rank, float(layers[0][2].lora_alpha), targets


def enable(model, rank, alpha, targets):
    """Adds rank-`rank` adapters (scale `alpha / rank`) on every block's `targets`
    projections (a key of TARGETS) and freezes the rest of the encoder but the pooler;
    a model that has these adapters already is left as it is. Call it under the
    strategy scope the model was built in. Returns `model`."""
    if targets not in TARGETS:
        raise ValueError(f"lora_targets must be one of {list(TARGETS)}, got {targets!r}")
    current = settings(model)
    if current is not None:
        if current != (rank, float(alpha), targets):
            raise ValueError(f"The model has LoRA adapters (rank, alpha, targets) = "
                             f"{current}; fit it with those, or save it and load it "
                             f"(merged) to add others")
        return model
    encoder = find_encoder(model)
    for block in encoder.transformer_layers:
        for name in TARGETS[targets]:
            getattr(block, name).enable_lora(rank, lora_alpha=alpha)
    trained = {id(v) for v in encoder.pooler.weights}
    trained |= {id(v) for _, _, layer in adapted_layers(model)
                for v in (layer.lora_kernel_a, layer.lora_kernel_b)}
    for variable in encoder.weights:
        variable.trainable = id(variable) in trained
    return model


def from_config(model, config):
    """Applies a TrainingConfig's LoRA settings to `model` (nothing for lora_rank 0);
    ValueError when a model with adapters is to be fine-tuned fully."""
    if config.lora_rank:
        return enable(model, config.lora_rank, config.lora_alpha, config.lora_targets)
    if has_adapters(model):
        raise ValueError(f"The model has LoRA adapters {settings(model)} (rank, alpha, "
                         "targets): fit it with lora_rank set to theirs, or save it and "
                         "load it (merged) to fine-tune it fully")
    return model


def trainable_count(model):
    """Parameters the optimizer updates."""
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def merged_kernel(layer):
    """An adapted Dense's W + alpha / r * A @ B, in float32, cast to W's dtype."""
    kernel = np.asarray(layer._kernel.numpy(), np.float32)  # Keras' frozen base kernel
    delta = (layer.lora_alpha / layer.lora_rank) * (np.asarray(layer.lora_kernel_a.numpy())
                                                    @ np.asarray(layer.lora_kernel_b.numpy()))
    return (kernel + delta).astype(layer._kernel.dtype)


def plain_weights(model):
    """`model.get_weights()` as the same task model without adapters has them: each
    adapted kernel merged, the adapters left out (what its `set_weights` takes)."""
    by_kernel = {id(layer._kernel): layer for _, _, layer in adapted_layers(model)}
    adapters = {id(v) for layer in by_kernel.values()
                for v in (layer.lora_kernel_a, layer.lora_kernel_b)}
    return [merged_kernel(by_kernel[id(v)]) if id(v) in by_kernel else v.numpy()
            for v in model.weights if id(v) not in adapters]


def base_fingerprint(model):
    """The sum of |W| over the adapted kernels (float64): tells the base an adapter file
    was trained on from another."""
    return float(sum(np.abs(np.asarray(layer._kernel.numpy())).sum(dtype=np.float64)
                     for _, _, layer in adapted_layers(model)))


def _trained_variables(model):
    """{key: variable} of the trainable variables, keyed "<layer position>.<name>"."""
    return {f"{index:04d}.{variable.name}": variable
            for index, layer in enumerate(model._flatten_layers())
            for variable in layer._trainable_variables if variable.trainable}


def save_adapters(model, path):
    """Writes `model`'s LoRA settings and trained variables (adapters, pooler, head) to
    the HDF5 file `path`; returns `path`."""
    current = settings(model)
    if current is None:
        raise ValueError("The model has no LoRA adapters to save: fit it with lora_rank > 0")
    with h5py.File(path, "w") as f:
        f.attrs.update(rank=current[0], alpha=current[1], targets=current[2],
                       base_fingerprint=base_fingerprint(model))
        for key, variable in _trained_variables(model).items():
            f[key] = variable.numpy()
    return path


def load_adapters(model, path):
    """Puts the adapters and trained variables of `save_adapters`' file on `model`, the
    same task model built on the same base checkpoint (adding the adapters if it has
    none yet; under its strategy scope). Returns `model`."""
    with h5py.File(path, "r") as f:
        enable(model, int(f.attrs["rank"]), float(f.attrs["alpha"]), str(f.attrs["targets"]))
        if not np.isclose(base_fingerprint(model), f.attrs["base_fingerprint"], rtol=1e-6):
            raise ValueError(f"{path}: these adapters were trained on another base "
                             "checkpoint; build the model on the one they were trained on")
        variables = _trained_variables(model)
        if set(variables) != set(f) or any(f[key].shape != tuple(variables[key].shape)
                                           for key in variables):
            raise ValueError(f"{path} holds the trained weights of another task model "
                             "(another task, labels or head); build the one it was "
                             "saved from")
        for key, variable in variables.items():
            variable.assign(f[key][()])
    return model


def save_weights(model, path):
    """`model.save_weights(path)`; for a LoRA model, its adapter file (exact, see the
    module doc)."""
    if has_adapters(model):
        save_adapters(model, path)
    else:
        model.save_weights(path)


def load_weights(model, path):
    """Reads what `save_weights` wrote back into the same model."""
    if has_adapters(model):
        load_adapters(model, path)
    else:
        model.load_weights(path)
