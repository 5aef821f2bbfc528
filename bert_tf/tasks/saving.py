"""A fine-tuned task on disk: the folder `save_task` writes and `load_task` reads (what
`TaskModel.save`, `bert-finetune`'s `model_dir/export` and `bert-export` use).

    folder/model.keras          the task's keras.Model (BertEncoder & co. are registered
                                Keras serializables)
    folder/vocab.txt            the tokenizer's vocabulary
    folder/task_config.json     {"task": name, "lower_case": ..., the task's options}
"""
import json
import os

import keras

from bert_tf.tasks.registry import get_task_class
from bert_tf.text.tokenizer import BertTokenizer

MODEL_FILE = "model.keras"
VOCAB_FILE = "vocab.txt"
TASK_CONFIG_FILE = "task_config.json"


def save_task(task, model, folder):
    """Writes what `load_task` (and export) needs: the model as .keras, the vocab and
    `task_config.json` (task name, casing, the task's options)."""
    os.makedirs(folder, exist_ok=True)
    model.save(os.path.join(folder, MODEL_FILE))
    with open(os.path.join(folder, VOCAB_FILE), "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in task.tokenizer.vocab))
    config = {"task": task.name, "lower_case": task.tokenizer.lower_case,
              **task.get_config()}
    with open(os.path.join(folder, TASK_CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def load_task(folder):
    """(task, model) from a folder written by `Task.save`.

    Raises:
        FileNotFoundError naming the missing file; ValueError for an unknown task.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Model folder {folder} does not exist")
    for file_name in (TASK_CONFIG_FILE, MODEL_FILE, VOCAB_FILE):
        if not os.path.isfile(os.path.join(folder, file_name)):
            raise FileNotFoundError(f"{folder} has no {file_name}: not a saved bert_tf task "
                                    "model (see Task.save)")
    with open(os.path.join(folder, TASK_CONFIG_FILE), encoding="utf-8") as f:
        config = json.load(f)
    name = config.pop("task", None)
    try:
        task_class = get_task_class(name)
    except ValueError as e:
        raise ValueError(f"{folder}/{TASK_CONFIG_FILE}: {e}") from None
    tokenizer = BertTokenizer.from_vocab_file(os.path.join(folder, VOCAB_FILE),
                                              lower_case=config.pop("lower_case"))
    task = task_class(tokenizer, **config)
    # Custom objects (BertEncoder & co.) are registered when bert_tf.model is imported.
    model = keras.saving.load_model(os.path.join(folder, MODEL_FILE), compile=False)
    return task, model
