"""Export module for a fine-tuned `bert_tf.tasks` task: the task's own preprocess and
postprocess around its model, so that the served graph is the one training and
evaluation ran (one copy of "raw text -> features -> outputs").

    task, model = load_task("runs/rt/export")              # the folder Task.save wrote
    module = TaskServingModule.for_task(task, model)
    module.serve_text({"text": tf.constant(["a fine film"])})
    # classification: label (string [B]), label_id (int32 [B]), probabilities [B, C]

Tasks whose outputs are not dense [B, ...] tensors (NER's tags per word) have a subclass
(ner.py); the `bert-export` binary picks the module by task name.
"""
from bert_tf.export.serving_module import ServingModule


class TaskServingModule(ServingModule):
    """Serves `model` through `task.preprocess` and `task.postprocess`.

    The raw-text inputs are the task's `raw_input_spec()` ("text", "text_b", ...).

    Args:
      task: a `bert_tf.tasks.Task` with `pad_to_max_length=False`, so that each request
        is padded only to its longest row (see `for_task`).
      model: the task's keras.Model.
      name: module name.
    """

    def __init__(self, task, model, name=None):
        if task.pad_to_max_length:
            raise ValueError("Serve a task built with pad_to_max_length=False (see "
                             "for_task): requests should not pay for padding")
        super().__init__(model, task.tokenizer, task.max_seq_length,
                         tuple(task.raw_input_spec()), name=name)
        self.task = task

    @classmethod
    def for_task(cls, task, model, max_seq_length=None):
        """The module for a trained task, rebuilt to pad each batch to its longest row.

        Args:
          task: the `Task` (as `load_task` returns it).
          model: its keras.Model.
          max_seq_length: int or None; None keeps the length the task was trained with.
        """
        return cls(task.replace(max_seq_length=max_seq_length or task.max_seq_length,
                                pad_to_max_length=False), model)

    def preprocess(self, texts):
        return self.task.preprocess(texts)

    def sequence_lengths(self, texts):
        # The task's own measure: QA packs several windows per long context.
        return {"sequence_length": self.task.sequence_lengths(self.task.tokenize(texts))}

    def postprocess(self, model_outputs, preprocessed):
        return self.task.postprocess(model_outputs, preprocessed)
