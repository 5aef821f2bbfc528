"""What a distillation step computes: the soft-target and hidden-state losses, the
student and teacher with their per-layer hidden states exposed, and `Distiller`, the
keras.Model that trains the student on the frozen teacher's outputs plus the labels.
"""
import keras
import tensorflow as tf

from bert_tf.model.encoder import find_encoder


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
