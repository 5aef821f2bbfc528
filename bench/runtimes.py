"""bench/e2e.py's engines on CPU runtimes besides TensorFlow: OpenVINO as a peer, and
bert_tf's own raw-text OpenVINO export (imports inside the functions, in the children).

* `openvino[_bf16]`, the peer: the transformers copy of the benchmarked model
  (peers.transformers_reference writes it) converted by `openvino.convert_model` from
  the PyTorch module (dynamic batch and length), compiled for the CPU with the
  INFERENCE_PRECISION_HINT f32 or bf16 (OpenVINO's own default on AMX CPUs and on the
  AVX512_BF16 EPYC measured is bf16), fed by the HF fast tokenizer in Python: raw text
  -> tokenizer -> logits -> softmax, batches in packed-length order.
* `ov_export[_bf16]`: `bert-export --format=openvino` of the benchmarked task (raw strings
  in, tokenizer inside), run by bert-predict's `OpenVinoPredictor` in f32 / bf16.
"""
import time

PRECISION = {"float32": "f32", "bfloat16": "bf16"}


def engine(name, paths, data, args):
    """(run, results, batch order, detail) of e2e engine `name` (see the module docstring);
    `paths`: e2e's run paths ("hf": the transformers copy, "ov_export": the export)."""
    dtype = "bfloat16" if name.endswith("_bf16") else "float32"
    if name.startswith("ov_export"):
        return openvino_export_engine(paths["ov_export"], data["texts"], args, dtype)
    return openvino_peer_engine(paths["hf"], data["texts"], data["labels"], args, dtype)


def convert_transformers(hf_folder, max_seq_length):
    """The transformers sequence classifier in `hf_folder` as an `ov.Model` (inputs
    input_ids, attention_mask, token_type_ids int64 [?, ?]; output logits)."""
    import openvino as ov
    import torch
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        hf_folder, dtype=torch.float32).eval()
    example = {name: torch.ones(2, max_seq_length, dtype=torch.int64)
               for name in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        return ov.convert_model(model, example_input=example,
                                input=[(name, [-1, -1], ov.Type.i64) for name in example])


def openvino_peer_engine(hf_folder, texts, labels, args, dtype):
    """(run, results, batch order, detail): OpenVINO on the transformers copy (see the
    module docstring), at `dtype` ("float32" or "bfloat16")."""
    import numpy as np
    import openvino as ov
    import transformers

    started = time.perf_counter()
    compiled = ov.Core().compile_model(convert_transformers(hf_folder, args.max_seq_length),
                                       "CPU", {"INFERENCE_PRECISION_HINT": PRECISION[dtype],
                                               "INFERENCE_NUM_THREADS": args.threads})
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_folder, use_fast=True)
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True,
                                             max_length=args.max_seq_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable").tolist()

    def run():
        rows = [None] * len(texts)
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            encoded = tokenizer([texts[i] for i in batch], truncation=True, padding=True,
                                max_length=args.max_seq_length, return_tensors="np")
            logits = compiled(dict(encoded))[0]
            probabilities = np.exp(logits - logits.max(-1, keepdims=True))
            probabilities /= probabilities.sum(-1, keepdims=True)
            for row, probs in zip(batch, probabilities):
                rows[row] = probs
        return rows

    def results(rows):
        return [{"label": labels[int(p.argmax())], "probabilities": p.tolist()} for p in rows]

    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    return run, results, order, (
        f"openvino {ov.__version__} from the torch copy (convert_model, "
        f"{time.perf_counter() - started:.0f} s with compile), HF fast tokenizer, "
        f"precision {precision.get_type_name()}")


def openvino_export_engine(export, texts, args, dtype):
    """(run, results, batch order, detail): bert-predict's `OpenVinoPredictor` on the
    `bert-export --format=openvino` version `export`, computing in `dtype`."""
    import numpy as np

    from bert_tf_serving.runtimes import OpenVinoPredictor

    predictor = OpenVinoPredictor(export, batch_size=args.batch_size, dtype=dtype)
    order = np.argsort(predictor.lengths({"text": texts}), kind="stable").tolist()

    def results(rows):
        return [{"label": str(row["label"]), "probabilities": row["probabilities"].tolist()}
                for row in rows]

    return (lambda: predictor({"text": texts}), results, order,
            f"bert-export --format=openvino, OpenVinoPredictor, raw strings in, "
            f"precision "
            f"{predictor.compiled.get_property('INFERENCE_PRECISION_HINT').get_type_name()}")
