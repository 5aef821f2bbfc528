"""BERT's optimizers: AdamW or LAMB with linear warmup, polynomial decay and no weight decay
on LayerNorm and bias variables.

    optimizer = make_optimizer("adamw", learning_rate=5e-5, num_train_steps=1000,
                               num_warmup_steps=100)

Both are the Keras 3 optimizers (AdamW with its per-variable update fused, `FusedAdamW`);
gradient accumulation is theirs too (`gradient_accumulation_steps`): k micro-batches are
averaged into one update.
"""
import keras
import tensorflow as tf
from keras import ops

# Keras matches these patterns against `variable.name`, which is only the last path
# component (`embeddings/layer_norm/gamma` is named "gamma"), so Google's "LayerNorm" /
# "layer_norm" would never match. In BERT, gamma and beta are exactly the LayerNorm scales
# and offsets; "bias" also covers the heads' `output_bias`, as Google's regex does.
NO_WEIGHT_DECAY_NAMES = ("gamma", "beta", "bias")

OPTIMIZERS = ("adamw", "lamb")


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to `learning_rate`, then polynomial decay to `end_learning_rate`.

    lr(step) = learning_rate * step / num_warmup_steps                 if step < warmup
             = (learning_rate - end) * (1 - (step - warmup) / (total - warmup)) ** power
               + end                                                   otherwise
    and `end_learning_rate` after `num_train_steps`.

    Args:
        learning_rate: float, the peak rate reached at the end of warmup.
        num_train_steps: int, optimizer updates in the whole run.
        num_warmup_steps: int, updates of linear warmup (0 for none).
        end_learning_rate: float, the rate at `num_train_steps`.
        power: float, 1.0 is linear decay (as in BERT).
        steps_per_update: int, micro-batches per update under gradient accumulation: Keras
            calls the schedule with the micro-batch count, this turns it into updates.
    """

    def __init__(self, learning_rate, num_train_steps, num_warmup_steps=0,
                 end_learning_rate=0.0, power=1.0, steps_per_update=1):
        if num_train_steps <= 0:
            raise ValueError(f"num_train_steps must be positive, got {num_train_steps}")
        if not 0 <= num_warmup_steps <= num_train_steps:
            raise ValueError(f"num_warmup_steps must be in [0, num_train_steps="
                             f"{num_train_steps}], got {num_warmup_steps}")
        if steps_per_update < 1:
            raise ValueError(f"steps_per_update must be >= 1, got {steps_per_update}")
        self.learning_rate = learning_rate
        self.num_train_steps = num_train_steps
        self.num_warmup_steps = num_warmup_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.steps_per_update = steps_per_update

    def __call__(self, step):
        step = ops.cast(ops.floor_divide(step, self.steps_per_update), "float32")
        warmup_rate = self.learning_rate * step / max(self.num_warmup_steps, 1)
        decay_steps = max(self.num_train_steps - self.num_warmup_steps, 1)
        progress = ops.minimum(step - self.num_warmup_steps, decay_steps) / decay_steps
        decayed_rate = ((self.learning_rate - self.end_learning_rate)
                        * ops.power(1.0 - progress, self.power) + self.end_learning_rate)
        return ops.where(step < self.num_warmup_steps, warmup_rate, decayed_rate)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "num_train_steps": self.num_train_steps,
                "num_warmup_steps": self.num_warmup_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power,
                "steps_per_update": self.steps_per_update}


@keras.saving.register_keras_serializable(package="bert_tf")
class FusedAdamW(keras.optimizers.AdamW):
    """Keras's AdamW, the same update, in two passes over each variable instead of ~15.

    Keras writes Adam's update as element-wise ops (m: 3, v: 4, the step: 5, weight
    decay: 3), and each one reads and writes the whole variable: on a CPU, where memory
    bandwidth bounds them, that is a visible part of a BERT-base step (measured: README,
    "Benchmarks", bench.train_step). TF's `ResourceApplyAdam` kernel does m, v and the
    step in one pass, with Keras's formula (bias-corrected step size, epsilon added to
    sqrt(v)); the decoupled weight decay is one scaled subtraction before it, as Keras
    orders them.
    """

    def __init__(self, *args, name="adamw", **kwargs):
        super().__init__(*args, name=name, **kwargs)
        if self.amsgrad:
            raise ValueError("FusedAdamW has no amsgrad; use keras.optimizers.AdamW")

    def _apply_weight_decay(self, variables):
        pass  # in update_step, where it is applied per variable before its Adam step

    def update_step(self, gradient, variable, learning_rate):
        # Keras calls this inside `Strategy.extended.update`, so under a distribution
        # strategy `variable` is one replica's component and `.handle` of a distributed
        # slot is that replica's too.
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        if self._use_weight_decay(variable):
            variable.assign_sub(variable * (lr * ops.cast(self.weight_decay, dtype)))
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=ops.power(beta_1, step), beta2_power=ops.power(beta_2, step), lr=lr,
            beta1=beta_1, beta2=beta_2, epsilon=ops.cast(self.epsilon, dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), dtype))  # dense, as Keras's


def make_optimizer(name, learning_rate, num_train_steps, num_warmup_steps=0,
                   weight_decay=0.01, end_learning_rate=0.0, power=1.0, grad_accum_steps=1,
                   beta_1=0.9, beta_2=0.999, epsilon=1e-6, global_clipnorm=1.0):
    """A Keras AdamW or LAMB optimizer with BERT's schedule and weight-decay exclusions.

    Args:
        name: "adamw" (fine-tuning, BERT's original pretraining) or "lamb" (large-batch
            pretraining).
        learning_rate: float, peak learning rate.
        num_train_steps: int, optimizer updates (not micro-batches) in the run.
        num_warmup_steps: int, updates of linear warmup.
        weight_decay: float, decoupled weight decay (0 disables it).
        end_learning_rate: float, rate at the end of the decay.
        power: float, polynomial decay power.
        grad_accum_steps: int, micro-batches averaged into one update (1 = none).
        beta_1, beta_2, epsilon: Adam moments; epsilon 1e-6 as in Google's BERT.
        global_clipnorm: float or None; BERT clips the global gradient norm to 1.0.
    Returns:
        keras.optimizers.Optimizer, unbuilt. (Under a mixed_float16 policy, `model.compile`
        wraps it in a `keras.optimizers.LossScaleOptimizer`.)
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; use one of {OPTIMIZERS}")
    if grad_accum_steps < 1:
        raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}")
    schedule = WarmupPolynomialDecay(learning_rate, num_train_steps, num_warmup_steps,
                                     end_learning_rate, power, steps_per_update=grad_accum_steps)
    optimizer_class = FusedAdamW if name == "adamw" else keras.optimizers.Lamb
    optimizer = optimizer_class(
        learning_rate=schedule, weight_decay=float(weight_decay), beta_1=beta_1,
        beta_2=beta_2, epsilon=epsilon, global_clipnorm=global_clipnorm,
        # Keras wants None (not 1) when there is no accumulation.
        gradient_accumulation_steps=grad_accum_steps if grad_accum_steps > 1 else None)
    if weight_decay:
        optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY_NAMES))
    return optimizer


def from_config(config, num_updates):
    """`make_optimizer` as a `TrainingConfig` says.

    Args:
        num_updates: int, optimizer updates in the run (micro-batches divided by
            `grad_accum_steps`).
    """
    return make_optimizer(config.optimizer, config.learning_rate, num_updates,
                          config.num_warmup_steps(num_updates),
                          weight_decay=config.weight_decay,
                          grad_accum_steps=config.grad_accum_steps)
