"""The engines several benchmarks run besides bert_tf's own: keras-hub's `BertBackbone`
models, transformers' PyTorch fine-tuning loop, and an export run through `bert-predict`'s
`Predictor`. Imports happen inside the functions, in the children that need them.

Equal models: keras-hub's `BertBackbone` always uses the tanh GELU approximation, while
published BERT configs (and HF `BertModel`, and bert_tf) use the exact erf GELU that
`hidden_act` names; `use_config_activation` gives the keras-hub peer the config's
activation, so that every engine computes the same function.
"""
import time

# transformers' fine-tuning recipe: AdamW's epsilon and the global gradient-norm clip.
ADAM_EPSILON = 1e-6
CLIP_NORM = 1.0


# --- keras-hub ------------------------------------------------------------------------------
def use_config_activation(backbone, hidden_act):
    """Sets a keras-hub `BertBackbone`'s feed-forward activation to `hidden_act`."""
    from bert_tf.model.transformer import activation_fn
    for block in backbone.transformer_layers:
        block._feedforward_intermediate_dense.activation = activation_fn(hidden_act)
    return backbone


def keras_hub_backbone(config, dtype=None):
    """A keras-hub `BertBackbone` with the shapes, dropout and activation of a BertConfig."""
    import keras_hub
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, dropout=config.hidden_dropout_prob,
        max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size, dtype=dtype)
    return use_config_activation(backbone, config.hidden_act)


def keras_hub_features(features):
    """bert_tf's encoder inputs under keras-hub's names."""
    return {"token_ids": features["input_word_ids"], "segment_ids": features["input_type_ids"],
            "padding_mask": features["input_mask"]}


# --- bert-predict's Predictor on an export ----------------------------------------------------
def savedmodel_runner(saved_model, inputs, batch_size):
    """(run, order, detail) for end-to-end prediction through an exported SavedModel with
    `bert-predict`'s `Predictor`: `run()` takes the raw inputs {name: list of str} through
    `serving_default` in length-sorted batches and returns one {output: value} per input,
    in input order; `order` is the batch order (for the padding figure)."""
    import numpy as np

    from bert_tf_serving.predictor import LENGTHS_SIGNATURE, Predictor

    predictor = Predictor(saved_model, batch_size=batch_size)
    order = np.argsort(predictor.lengths(inputs), kind="stable").tolist()
    key = ("exact lengths" if LENGTHS_SIGNATURE in predictor.loaded.signatures
           else "character-count order")
    return (lambda: predictor(inputs), order,
            f"bert-predict Predictor, serving_default, {key}, {predictor.dtype} export")


# --- transformers: BERT's fine-tuning recipe in a plain PyTorch loop -----------------------------
def torch_train(model, batches, args, num_examples, num_steps):
    """Trains a transformers model on `batches()` (an iterable of (inputs dict, labels),
    reshuffled each call) for `args.epochs`, with torch AdamW (no weight decay on biases
    and LayerNorm) and linear warmup/decay over `num_steps(args, num_examples)`'s (per
    epoch, total, warmup) steps, gradients clipped to CLIP_NORM; returns per-step (end
    time, batch size) after a (start time, 0)."""
    import torch
    import transformers

    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.learning_rate, betas=(0.9, 0.999), eps=ADAM_EPSILON)
    _, total, warmup = num_steps(args, num_examples)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, warmup, total)
    model.train()
    steps = [(time.perf_counter(), 0)]
    for _ in range(args.epochs):
        for inputs, labels in batches():
            model(**inputs, labels=labels).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            steps.append((time.perf_counter(), len(labels)))
    model.eval()
    return steps


def shuffled_batches(num_examples, batch_size, rng):
    """Row indexes of one epoch's batches, in a new random order."""
    order = rng.permutation(num_examples)
    for start in range(0, num_examples, batch_size):
        yield order[start:start + batch_size]
