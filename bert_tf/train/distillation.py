"""Knowledge distillation: a smaller student trained on a fine-tuned teacher's outputs,
through the one fine-tuning recipe (`bert_tf.train.finetune`).

    student = teacher.distill("train.jsonl", validation_data="dev.jsonl",
                              student_layers=3, temperature=2.0, alpha=0.5, epochs=3)

`TaskModel.distill` (bert_tf/task_model/) is the API and `bert-distill` its binary; this
module holds the settings (`DistillationConfig`) and the run (`distill`);
`distill_student.py` the student's encoder (`student_encoder`) and `distill_loss.py` the
loss (`Distiller`).

The student is a normal task model of the teacher's task (same tokenizer, labels,
max_seq_length), initialised

* from teacher layers (`student_layers=k`, the default kind): the teacher's embeddings,
  k of its Transformer layers, its pooler and its task head, copied. The k layers are
  spread evenly and end at the teacher's top layer, whose output the head was trained on:
  teacher layer (i + 1) * L // k - 1 for student layer i (3 of 6: layers 1, 3, 5, as
  DistilBERT takes one layer in two; 0-based). `teacher_layers=[0, 1, 2]` picks others;
* or fresh from a preset / bert_config.json (`student_preset`, random weights), or from a
  pretrained checkpoint with the teacher's vocabulary (`student_checkpoint`); the head
  starts at random.

Loss of a batch (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"):

    alpha * T^2 * KL(softmax(teacher_logits / T) || softmax(student_logits / T))
    + (1 - alpha) * the task's own loss on the hard labels
    + hidden_weight * MSE(student hidden states, teacher hidden states)

The softmax runs over the logits' last axis, as the task's loss does (classes; NER tags
per position; QA positions), and both label terms are weighted and averaged like the
task's loss (NER: each word's first piece). T^2 keeps the soft term's gradients on the
scale of the hard term's as T changes. Hidden-state matching compares each student
layer's output with that of the teacher layer it maps to (the layer it was copied from,
or `teacher_layers`, or the same even spread) at the real (unpadded) tokens; a student
of another width goes through a learned linear projection, which is trained with the
student and then dropped. The teacher runs alongside the student in every step (frozen,
inference mode: no dropout), so every epoch sees the same targets without storing any.
"""
import dataclasses

import keras

from bert_tf.common.fields import config_field
from bert_tf.train import config as train_config
from bert_tf.train import strategy as strategy_lib
from bert_tf.train.distill_loss import Distiller
from bert_tf.train.finetune import finetune


@dataclasses.dataclass
class DistillationConfig:
    """What student to make and how to weigh the loss (each field is a `bert-distill`
    flag). Give one of `student_layers` / `teacher_layers`, `student_preset`,
    `student_checkpoint`."""

    student_layers: int | None = config_field(
        None, "Student Transformer layers, initialised from as many teacher layers spread "
              "evenly up to the top one (3 of 6: layers 1, 3, 5, 0-based), with the "
              "teacher's embeddings, pooler and head.")
    teacher_layers: list = config_field(
        [], "0-based teacher layers, in order, that the student's layers start from (e.g. "
            "0,1,2: the first three) and are matched to by hidden_weight; default: spread "
            "evenly, ending at the top layer.")
    student_preset: str | None = config_field(
        None, "A fresh student, randomly initialised: a preset name (tiny, mini, small, "
              "medium, base, large) or a bert_config.json / config.json path; the "
              "teacher's vocabulary.")
    student_checkpoint: str | None = config_field(
        None, "A pretrained BERT folder (Google or Hugging Face layout, the teacher's "
              "vocabulary) to start the student's encoder from; its head starts at random.")
    temperature: float = config_field(2.0, "Softmax temperature of the soft targets (the "
                                           "soft term is scaled by its square).")
    alpha: float = config_field(0.5, "Weight of the soft-target term; 1 - alpha weighs the "
                                     "hard labels.")
    hidden_weight: float = config_field(0.0, "Weight of hidden-state matching (MSE between "
                                             "mapped student and teacher layers); 0: off.")

    def __post_init__(self):
        try:
            self.teacher_layers = [int(i) for i in self.teacher_layers]  # flags give str
        except (TypeError, ValueError):
            raise ValueError(f"teacher_layers must be layer numbers, got "
                             f"{self.teacher_layers!r}") from None
        fresh = [name for name in ("student_preset", "student_checkpoint")
                 if getattr(self, name)]
        if len(fresh) > 1:
            raise ValueError("Give student_preset or student_checkpoint, not both")
        if fresh and self.student_layers is not None:
            raise ValueError(f"student_layers makes a student of teacher layers; with "
                             f"{fresh[0]} the student's shape comes from there")
        if not fresh and self.student_layers is None and not self.teacher_layers:
            raise ValueError("Say what student to make: student_layers (teacher layers), "
                             "student_preset or student_checkpoint")
        if self.student_layers is not None and (isinstance(self.student_layers, bool)
                                                or int(self.student_layers) < 1):
            raise ValueError(f"student_layers must be >= 1, got {self.student_layers!r}")
        if (self.student_layers is not None and self.teacher_layers
                and len(self.teacher_layers) != self.student_layers):
            raise ValueError(f"teacher_layers {self.teacher_layers} names "
                             f"{len(self.teacher_layers)} layers for student_layers "
                             f"{self.student_layers}")
        if any(b <= a for a, b in zip(self.teacher_layers, self.teacher_layers[1:])) or (
                self.teacher_layers and self.teacher_layers[0] < 0):
            raise ValueError(f"teacher_layers must be increasing layer numbers >= 0, got "
                             f"{self.teacher_layers}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if not self.hidden_weight >= 0:
            raise ValueError(f"hidden_weight must be >= 0, got {self.hidden_weight}")

    @property
    def from_teacher_layers(self):
        """Whether the student is made of teacher layers (else fresh)."""
        return not (self.student_preset or self.student_checkpoint)


_FIELDS = {field.name for field in dataclasses.fields(DistillationConfig)}


def split_options(options):
    """(DistillationConfig, TrainingConfig overrides) of `TaskModel.distill`'s keyword
    options: DistillationConfig's fields (or a whole one as `distillation=`) and
    TrainingConfig's; ValueError naming an option that is neither."""
    options = dict(options)
    given = options.pop("distillation", None)
    own = {name: options.pop(name) for name in list(options) if name in _FIELDS}
    training = {field.name for field in dataclasses.fields(train_config.TrainingConfig)}
    unknown = sorted(set(options) - training)
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown}: distill takes DistillationConfig's "
                         f"{sorted(_FIELDS)} and TrainingConfig's {sorted(training)}")
    if given is not None:
        if own:
            raise ValueError(f"Give distillation=DistillationConfig(...) or its fields "
                             f"({sorted(own)}), not both")
        return given, options
    return DistillationConfig(**own), options


def distill(task, teacher_model, student_model, layer_map, train_examples, distillation,
            config, eval_examples=None, callbacks=(), strategy=None):
    """Trains `student_model` on `teacher_model`'s outputs and the labels; returns the
    keras History. `finetune` with a `Distiller` as the model that trains: the same
    schedule, length-bucketed batches, checkpoints and exact resume in `model_dir`,
    per-epoch evaluation of the student and its best epoch kept.

    Args:
        task: the `bert_tf.tasks.Task` of both models.
        teacher_model, student_model: keras task models built under `strategy`.
        layer_map: the teacher layer of each student layer (`student_encoder`).
        train_examples, eval_examples: lists of the task's labelled examples.
        distillation: DistillationConfig.
        config: TrainingConfig of the student's training.
    """
    strategy = strategy or strategy_lib.get_strategy(config)
    hard_loss = task.compile_args(None)["loss"]
    if not (isinstance(hard_loss, keras.losses.SparseCategoricalCrossentropy)
            and hard_loss.get_config().get("from_logits")):
        raise ValueError(f"Distillation needs a task whose loss is a softmax cross-entropy "
                         f"over its logits' last axis; the {task.name} task's is "
                         f"{type(hard_loss).__name__}")
    with strategy.scope():
        distiller = Distiller(student_model, teacher_model, hard_loss, layer_map,
                              distillation.temperature, distillation.alpha,
                              distillation.hidden_weight)
    return finetune(task, student_model, train_examples, config, eval_examples,
                    callbacks=callbacks, strategy=strategy, training_model=distiller)

