"""Export module for a fine-tuned `bert_tf.tasks` task: the task's own preprocess and
postprocess around its model, so that the served graph is the one training and
evaluation ran (one copy of "raw text -> features -> outputs").

    task, model = load_task("runs/rt/export")              # the folder Task.save wrote
    module = TaskServingModule.for_task(task, model)
    module.serve_text({"text": tf.constant(["a fine film"])})
    # classification: label (string [B]), label_id (int32 [B]), probabilities [B, C]

The module knows no task by name: what each signature returns is the task's
`serving_outputs` (raw text) and `serving_outputs_ids` (ids), after its
`serving_preprocess` (see bert_tf/tasks/base.py; NER and QA define their own in
tasks/ner/serving.py and tasks/qa/serving.py). A task with a `text_signature_alias`
gets the raw-text signature under that name too (embedding: `embed`).

A task that can explain (an `ExplainTarget`, bert_tf/tasks/explain_target.py) gets a fourth
signature, `explain`: the raw-text inputs and the target's parts (int32 [B], -1 for the
prediction; classification `label_id`, NER `word` and `tag_id`, QA `answer_end`: 0
start, 1 end) in; out, per row, the
words (`words` string [B, W], "" pads), their character offsets (`word_start`,
`word_end` int32 [B, W], -1 pads), Integrated Gradients scores (`scores` float32 [B, W],
`EXPLAIN_STEPS` path steps, all in the graph), `num_words`, the target score at the
input and at the baseline (`score`, `baseline_score`), the resolved target
(`target_<part>`) and `error` ("" or why the row could not be explained: no text, a
target word past the text, a target part out of range).
"""
import tensorflow as tf

from bert_tf.explain.explainer import explain_fn
from bert_tf.export.serving_module import ERROR_OUTPUT, TEXT_SIGNATURE, ServingModule
from bert_tf.tasks.explain_target import ExplainTarget

EXPLAIN_SIGNATURE = "explain"
EXPLAIN_STEPS = 32


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
        return self.task.serving_preprocess(texts)

    def export_config(self):
        return {**super().export_config(), "task": self.task.name,
                "task_config": self.task.get_config()}

    def sequence_lengths(self, texts):
        # The task's own measure: QA packs several windows per long context.
        return {"sequence_length": self.task.sequence_lengths(self.task.tokenize(texts))}

    def postprocess(self, model_outputs, preprocessed):
        return self.task.serving_outputs(model_outputs, preprocessed)

    def postprocess_ids(self, model_outputs, features):
        return self.task.serving_outputs_ids(model_outputs, features)

    # --- explanations -------------------------------------------------------------------
    def explain_target_spec(self):
        """The target parts of the `explain` signature, or None if the task has none."""
        if isinstance(self.task, ExplainTarget):
            return self.task.explain_target_spec()
        return None

    def explain(self, inputs):
        """`explain`: raw texts and target parts [B] -> dense explanation outputs."""
        texts = {name: inputs[name] for name in self.text_inputs}
        target = {name: inputs[name] for name in self.explain_target_spec()}
        error = self.text_errors(texts)
        # Out-of-range target parts: the row is explained for its prediction, and says so.
        for name, (low, high) in self.task.explain_target_ranges().items():
            value = target[name]
            bad = (value < low) | (value >= high)
            message = f"{name} outside [{low}, {high})" if high < 2 ** 31 - 1 else \
                f"{name} must be >= {low}"
            error = tf.where(bad & tf.equal(error, ""), message, error)
            target[name] = tf.where(bad, tf.fill(tf.shape(value), low), value)
        out = explain_fn(self.task, self.model, steps=EXPLAIN_STEPS)(texts, target)
        num_words = tf.cast(out["words"].row_lengths(), tf.int32)
        if "word" in target:
            past = inputs["word"] >= num_words
            error = tf.where(past & tf.equal(error, ""),
                             "target word is past the text's words", error)
        return {"words": out["words"].to_tensor(""),
                "word_start": out["word_start"].to_tensor(-1),
                "word_end": out["word_end"].to_tensor(-1),
                "scores": out["scores"].to_tensor(0.0),
                "num_words": num_words,
                "score": out["score"], "baseline_score": out["baseline_score"],
                **{name: value for name, value in out.items() if name.startswith("target_")},
                ERROR_OUTPUT: error}

    def signature_summary(self):
        summary = super().signature_summary()
        if self.explain_target_spec() is None:
            return summary
        return (summary + "; explain: the raw-text inputs and the target (int32 [B], -1: "
                "the prediction) -> words, offsets, scores")

    def endpoints(self):
        endpoints = super().endpoints()
        if self.task.text_signature_alias:  # the raw-text signature under its task's name
            endpoints[self.task.text_signature_alias] = endpoints[TEXT_SIGNATURE]
        spec = self.explain_target_spec()
        if spec is not None:
            inputs = {name: tf.TensorSpec([None], tf.string, name=name)
                      for name in self.text_inputs}
            inputs.update(spec)
            endpoints[EXPLAIN_SIGNATURE] = (self.explain, [inputs])
        return endpoints
