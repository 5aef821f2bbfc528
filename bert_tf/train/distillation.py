"""Knowledge distillation: a smaller student trained on a fine-tuned teacher's outputs,
through the one fine-tuning recipe (`bert_tf.train.finetune`).

    student = teacher.distill("train.jsonl", validation_data="dev.jsonl",
                              student_layers=3, temperature=2.0, alpha=0.5, epochs=3)

`TaskModel.distill` (bert_tf/task_model.py) is the API and `bert-distill` its binary; this
module holds the pieces: the settings (`DistillationConfig`), the student's encoder
(`student_encoder`), the loss (`Distiller`) and the run (`distill`).

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
import tensorflow as tf

from bert_tf.convert import pretrained
from bert_tf.model.config import BertConfig
from bert_tf.model.encoder import find_encoder
from bert_tf.model.encoder import BertEncoder
from bert_tf.common.fields import config_field
from bert_tf.train import config as train_config
from bert_tf.train import strategy as strategy_lib
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


def spread_layers(num_student, num_teacher):
    """The teacher layer each of `num_student` student layers maps to: spread evenly,
    the top layer last, (i + 1) * num_teacher // num_student - 1."""
    return [(i + 1) * num_teacher // num_student - 1 for i in range(num_student)]


# --- the student --------------------------------------------------------------------------
def student_encoder(teacher_encoder, config, tokenizer):
    """(BertEncoder of the student, the teacher layer each of its layers maps to).

    Built in the caller's strategy scope and dtype policy. From teacher layers its
    embeddings, blocks and pooler are copies of the teacher's; else fresh (preset) or
    pretrained (checkpoint).

    Args:
        teacher_encoder: the teacher's BertEncoder.
        config: DistillationConfig.
        tokenizer: the task's BertTokenizer (a checkpoint must share its vocabulary).
    """
    teacher_config = teacher_encoder.bert_config
    num_teacher = teacher_config.num_hidden_layers
    if config.from_teacher_layers:
        layers = config.teacher_layers or spread_layers(config.student_layers, num_teacher)
        if len(layers) > num_teacher or layers[-1] >= num_teacher:
            raise ValueError(
                f"The teacher has {num_teacher} layers (0 to {num_teacher - 1}); "
                + (f"teacher_layers {layers} names others" if config.teacher_layers else
                   f"student_layers {config.student_layers} is more"))
        encoder = BertEncoder.from_bert_config(
            dataclasses.replace(teacher_config, num_hidden_layers=len(layers)))
        encoder.embeddings.set_weights(teacher_encoder.embeddings.get_weights())
        for block, index in zip(encoder.transformer_layers, layers):
            block.set_weights(teacher_encoder.transformer_layers[index].get_weights())
        encoder.pooler.set_weights(teacher_encoder.pooler.get_weights())
        return encoder, layers
    if config.student_preset:
        name = config.student_preset
        bert_config = (BertConfig.from_json_file(name) if name.endswith(".json")
                       else BertConfig.from_preset(name))
        encoder = BertEncoder.from_bert_config(dataclasses.replace(
            bert_config, vocab_size=teacher_config.vocab_size,
            type_vocab_size=teacher_config.type_vocab_size))
    else:
        vocab = pretrained.load_tokenizer(config.student_checkpoint).vocab
        if list(vocab) != list(tokenizer.vocab):
            raise ValueError(f"student_checkpoint {config.student_checkpoint} has another "
                             f"vocabulary ({len(vocab)} tokens) than the teacher "
                             f"({len(tokenizer.vocab)}): the student must read the "
                             "teacher's token ids")
        encoder = pretrained.load_encoder(config.student_checkpoint)
    num_student = encoder.bert_config.num_hidden_layers
    layers = config.teacher_layers or spread_layers(num_student, num_teacher)
    if len(layers) != num_student or layers[-1] >= num_teacher:
        raise ValueError(f"teacher_layers {layers} must name {num_student} of the "
                         f"teacher's {num_teacher} layers, one per student layer")
    return encoder, layers


def copy_head(teacher_model, student_model):
    """Copies the weights of the teacher's layers outside its encoder (the task head) to
    the student's layers of the same names."""
    teacher_encoder = find_encoder(teacher_model)
    for layer in teacher_model.layers:
        if layer is not teacher_encoder and layer.weights:
            student_model.get_layer(layer.name).set_weights(layer.get_weights())


# --- the loss -----------------------------------------------------------------------------
class SoftTargetLoss(keras.losses.Loss):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)) over the last axis, one
    value per row of logits (an example; NER: a position), reduced like a Keras loss.

    Call it as `loss(teacher_logits, student_logits, sample_weight)`."""

    def __init__(self, temperature, reduction="sum_over_batch_size", name="soft_target_loss"):
        super().__init__(name=name, reduction=reduction)
        self.temperature = float(temperature)

    def call(self, teacher_logits, student_logits):
        t = self.temperature
        teacher = tf.nn.log_softmax(teacher_logits / t, axis=-1)
        student = tf.nn.log_softmax(student_logits / t, axis=-1)
        return t * t * tf.reduce_sum(tf.exp(teacher) * (teacher - student), axis=-1)


class HiddenStateLoss(keras.losses.Loss):
    """Mean squared difference over the hidden axis, averaged over the positions weighted
    by `sample_weight` (the input mask). Call it as `loss(teacher, student, mask)`."""

    def __init__(self, name="hidden_state_loss"):
        super().__init__(name=name, reduction="mean_with_sample_weight")

    def call(self, teacher_hidden, student_hidden):
        return tf.reduce_mean(tf.square(student_hidden - teacher_hidden), axis=-1)  # [B, T]


def with_hidden_states(model):
    """A functional model on `model`'s own layers (the same weights) that returns
    {"logits": its output, "hidden": its encoder's per-layer outputs, [B, S, H] each}."""
    encoder = find_encoder(model)
    taps = []

    def call(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        if layer is encoder:
            taps.append(outputs["encoder_outputs"])
        return outputs

    graph = keras.models.clone_model(model, clone_function=lambda layer: layer,
                                     call_function=call)
    if len(taps) != 1:
        raise ValueError(f"Model {model.name!r} must call its BertEncoder once, directly")
    return keras.Model(graph.inputs, {"logits": graph.output, "hidden": taps[0]},
                       name=f"{model.name}_with_hidden_states")


class _Untracked:
    """Holds the teacher out of Keras' and tf.train's sight: its weights are neither
    trained nor written into the student's checkpoints."""

    def __init__(self, model):
        self.model = model


class Distiller(keras.Model):
    """The student as it trains: called, it is the student (training mode: dropout);
    its loss (`compute_loss`) also runs the frozen teacher on the same batch. Trains with
    `model.fit` like any task model: the task's labels (and sample weights) as targets.

    Args:
        student, teacher: the task models (features in, logits out).
        hard_loss: the task's Keras loss on the labels (its `compile_args`).
        layer_map: the teacher layer each student layer is matched to.
        temperature, alpha, hidden_weight: see `DistillationConfig`.

    History and TensorBoard get `soft_loss`, `hard_loss` (and `hidden_loss`) next to the
    total `loss`.
    """

    def __init__(self, student, teacher, hard_loss, layer_map, temperature=2.0, alpha=0.5,
                 hidden_weight=0.0, name="distiller"):
        super().__init__(name=name)
        self.hidden_weight = float(hidden_weight)
        self.alpha = float(alpha)
        self.layer_map = list(layer_map)
        matching = self.hidden_weight > 0
        self.student = with_hidden_states(student) if matching else student
        self._teacher = _Untracked(with_hidden_states(teacher) if matching else teacher)
        self.hard_loss = hard_loss
        self.soft_loss = SoftTargetLoss(temperature, reduction=hard_loss.reduction)
        self.hidden_state_loss = HiddenStateLoss()
        student_width = find_encoder(student).bert_config.hidden_size
        teacher_width = find_encoder(teacher).bert_config.hidden_size
        self.projections = []
        if matching and student_width != teacher_width:
            for i in range(len(self.layer_map)):
                projection = keras.layers.Dense(
                    teacher_width, name=f"hidden_projection_{i}",
                    kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))
                projection.build((None, None, student_width))  # before any restore
                self.projections.append(projection)
        self.soft_tracker = keras.metrics.Mean(name="soft_loss")
        self.hard_tracker = keras.metrics.Mean(name="hard_loss")
        self.hidden_tracker = keras.metrics.Mean(name="hidden_loss") if matching else None

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        teacher = self._teacher.model(x, training=False)
        student_logits = y_pred["logits"] if isinstance(y_pred, dict) else y_pred
        teacher_logits = teacher["logits"] if isinstance(teacher, dict) else teacher
        hard = self.hard_loss(y, student_logits, sample_weight)
        soft = self.soft_loss(tf.stop_gradient(teacher_logits), student_logits, sample_weight)
        loss = self.alpha * soft + (1 - self.alpha) * hard
        terms = [(self.soft_tracker, soft), (self.hard_tracker, hard)]
        if self.hidden_tracker is not None:
            hidden = self._hidden_loss(x["input_mask"], y_pred["hidden"], teacher["hidden"])
            loss += self.hidden_weight * hidden
            terms.append((self.hidden_tracker, hidden))
        # Keras losses come divided by the replicas (their sum is the batch's loss); the
        # trackers, summed over replicas, want each replica's own value.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for tracker, value in terms:
            tracker.update_state(value * replicas)
        return loss

    def _hidden_loss(self, input_mask, student_hidden, teacher_hidden):
        """The hidden-state MSE averaged over the mapped layers, at the real tokens."""
        terms = []
        for i, j in enumerate(self.layer_map):
            student, teacher = student_hidden[i], tf.stop_gradient(teacher_hidden[j])
            if self.projections:
                student = self.projections[i](student)
            # A classifier's last layer computes [CLS] alone ([B, 1, H]): compare what
            # both have.
            width = tf.minimum(tf.shape(student)[1], tf.shape(teacher)[1])
            terms.append(self.hidden_state_loss(teacher[:, :width], student[:, :width],
                                                tf.cast(input_mask[:, :width], "float32")))
        return tf.add_n(terms) / len(terms)


# --- the run ------------------------------------------------------------------------------
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

