"""Export to TF Serving: SavedModels that take raw text and return task outputs.

    module = TaskServingModule.for_task(*load_task("runs/rt/export"))  # a fine-tuned task
    module = EncoderServingModule(encoder, tokenizer, max_seq_length=128)  # or features
    export_saved_model(module, "exports", "rt_sentiment")   # exports/rt_sentiment/1/

The modules: serving_module.py (the base and its three signatures), encoder.py, task.py
(any fine-tuned task, through its serving hooks: no task is named here).
saved_model.py writes a version in TF Serving's layout; tf_serving.py the files the
server reads besides (warmup requests, models.config, batching parameters);
keras_layer.py loads a saved encoder as a layer of a new Keras model; exporter.py puts
them together (`export`), and the `bert-export` binary (tools/export.py) is its main.
"""
