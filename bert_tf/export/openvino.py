"""`bert-export --format=openvino`: one OpenVINO IR that takes raw strings, its tokenizer
inside, as the SavedModel has its own.

    path = export_openvino(module, "exports", "rt_ov")   # exports/rt_ov/1/model.xml (.bin)
    compiled = openvino.Core().compile_model(f"{path}/model.xml", "CPU")
    compiled(np.array(["A fine film."]))   # label_id, label, probabilities

`model.xml` is two graphs joined (`openvino_tokenizers.connect_models`): the tokenizer,
openvino-tokenizers' conversion of a transformers `BertTokenizerFast` built from the
model's own vocab and casing (truncating at the task's max_seq_length, each batch padded
to its longest row), and the model, `openvino.convert_model` of the export module's ids
function (runtime.py: the Keras model and the task's `postprocess_ids`, traced by
TensorFlow). Its weights stay float32 (`compress_to_fp16=False`); what the CPU computes
in is a compile-time hint, recorded as the export's `dtype` in `export_config.json`
("bfloat16": OpenVINO's bf16 inference precision; float32: f32, set explicitly, as
OpenVINO's own default is bf16 on AMX CPUs and on the AVX512_BF16 EPYC measured).
`tokenizer.xml`, the tokenizer alone, gives bert-predict each text's packed length for
length-sorted batches.
Before the version is published its outputs are checked against the SavedModel graph's
(`runtime.check_parity`, float32) on the warmup texts.
"""
import os
import tempfile

from bert_tf.export import runtime, saved_model

MODEL_FILE = "model.xml"
TOKENIZER_FILE = "tokenizer.xml"
# What `dtype` asks of OpenVINO's CPU plugin (its INFERENCE_PRECISION_HINT).
INFERENCE_PRECISION = {"float32": "f32", "bfloat16": "bf16"}


def tokenizer_model(tokenizer, max_seq_length, text_inputs=1):
    """openvino-tokenizers' BERT tokenizer for bert_tf's `tokenizer` (its vocab and
    casing): raw strings -> input_ids, token_type_ids, attention_mask (int32 [B, S])."""
    import openvino as ov
    import openvino_tokenizers
    import transformers

    with tempfile.TemporaryDirectory() as folder:
        vocab_file = os.path.join(folder, "vocab.txt")
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("\n".join(tokenizer.vocab) + "\n")
        fast = transformers.BertTokenizerFast(vocab_file, do_lower_case=tokenizer.lower_case,
                                              model_max_length=max_seq_length)
    return openvino_tokenizers.convert_tokenizer(
        fast, tokenizer_output_type=ov.Type.i32, truncation=True, max_length=max_seq_length,
        number_of_inputs=text_inputs)


def raw_text_model(module):
    """(the joined raw strings -> outputs ov.Model, the tokenizer's ov.Model)."""
    import openvino as ov
    import openvino_tokenizers

    runtime.check_text_inputs(module, "OpenVINO")
    tokenizer = tokenizer_model(module.tokenizer, module.max_seq_length)
    joined_tokenizer = tokenizer_model(module.tokenizer, module.max_seq_length)  # consumed
    graph, output_names = runtime.frozen_graph(runtime.ids_function(module))
    with tempfile.TemporaryDirectory() as folder:
        # Read from a file by OpenVINO's C++ TensorFlow reader: its Python one, given the
        # GraphDef itself, turns string constants (the label names) into "b'fresh'".
        path = os.path.join(folder, "model.pb")
        with open(path, "wb") as f:
            f.write(graph.SerializeToString())
        model = ov.convert_model(path)
    for port in model.inputs:  # the placeholders: "input_word_ids:0" -> "input_word_ids"
        port.get_tensor().set_names({port.any_name.split(":")[0]})
    for port in model.outputs:  # "Identity_1:0" (and its producer's names) -> "label_id"
        port.get_tensor().set_names({output_names[name.split(":")[0]] for name in
                                     port.get_names() if name.split(":")[0] in output_names})
    joined = openvino_tokenizers.connect_models(joined_tokenizer, model, name_map={
        "input_ids": "input_word_ids", "attention_mask": "input_mask",
        "token_type_ids": "input_type_ids"})
    # connect_models keeps the outputs, not the sinks: the tokenizer's vocab cache
    # (ReadValue/Assign) would be left without its Assign and fail to compile.
    joined.add_sinks(joined_tokenizer.get_sinks())
    joined.inputs[0].get_tensor().set_names({module.text_inputs[0]})
    return joined, tokenizer


def compile_model(path, dtype, core=None):
    """`path` (an IR) compiled for the CPU computing in `dtype` (INFERENCE_PRECISION)."""
    import openvino as ov
    core = core or ov.Core()
    return core.compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT":
                                            INFERENCE_PRECISION[dtype]})


def export_openvino(module, export_base, model_name, version=None, warmup_texts=None,
                    dtype="float32"):
    """Writes `module` (a float32 ServingModule of a task with one text input) as
    `<export_base>/<model_name>/<version>/model.xml` (+ .bin, tokenizer.xml,
    export_config.json); returns the version's folder. `dtype`: what OpenVINO computes
    in at run time (INFERENCE_PRECISION)."""
    import openvino as ov

    from bert_tf.export import tf_serving

    if dtype not in INFERENCE_PRECISION:
        raise ValueError(f"dtype must be one of {', '.join(INFERENCE_PRECISION)}; got {dtype!r}")
    joined, tokenizer = raw_text_model(module)

    def write(folder):
        ov.save_model(joined, os.path.join(folder, MODEL_FILE), compress_to_fp16=False)
        ov.save_model(tokenizer, os.path.join(folder, TOKENIZER_FILE))
        compiled = compile_model(os.path.join(folder, MODEL_FILE), "float32")
        runtime.check_parity(module, lambda texts: {
            output.any_name: value for output, value in compiled(
                texts[module.text_inputs[0]]).items()},
            warmup_texts or tf_serving.DEFAULT_WARMUP_TEXTS, "OpenVINO")

    path = saved_model.publish_version(export_base, model_name, version, write, {
        **module.export_config(), "format": "openvino", "dtype": dtype,
        "signatures": None, "outputs": [output.any_name for output in joined.outputs]},
        config_file=runtime.EXPORT_CONFIG_FILE)
    print(f"Exported {model_name} version {os.path.basename(path)} for OpenVINO to "
          f"{os.path.join(path, MODEL_FILE)} (computing in {dtype}): "
          f"{module.text_inputs[0]} (string [B]) -> "
          + ", ".join(output.any_name for output in joined.outputs))
    return path
