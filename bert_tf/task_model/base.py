"""`TaskModel`: a fine-tuning task (`bert_tf.tasks`) with its keras.Model, driven with
raw data (fit / evaluate / predict / explain / save / export), and `load`. The
convenience classes of the built-in tasks are in `classes.py`."""
import dataclasses
import os

import keras

from bert_tf.convert import pretrained
from bert_tf.explain import explainer
from bert_tf.export import exporter
from bert_tf.model.encoder import find_encoder
from bert_tf.tasks import examples as task_examples
from bert_tf.tasks.registry import get_task_class
from bert_tf.tasks.saving import MODEL_FILE, load_task
from bert_tf.train import (config as train_config, distill_student,
                           distillation as distillation_lib, lora, placement,
                           strategy as strategy_lib)
from bert_tf.train.config import TrainingConfig
from bert_tf.train.finetune import finetune


class TaskModel:
    """A fine-tuning task (`bert_tf.tasks`) with its keras.Model.

    Args:
        task: a `bert_tf.tasks.Task`.
        model: its keras.Model, or None while the task still needs labels (it is built
            from `encoder` once `fit` has read them from the training data).
        encoder: the pretrained BertEncoder the model is (to be) built on.
        config: `TrainingConfig`, the defaults of `fit`; the model is built under its
            strategy and mixed precision.

    Built by `from_pretrained` (a new task on a checkpoint) or `load` (a saved one).
    """

    task_name = None  # the task a subclass is for

    def __init__(self, task, model=None, encoder=None, config=None):
        self.task = task
        self.config = config or TrainingConfig()
        self.model = model
        self._encoder = encoder
        self.distillation = None  # a student's DistillationConfig (`distill`)
        # Which epoch the last fit kept (`bert_tf.train.selection`), saved with the model.
        self.selection = None
        limit = find_encoder(model if model is not None else encoder).bert_config \
            .max_position_embeddings
        if task.max_seq_length > limit:
            raise ValueError(f"max_seq_length {task.max_seq_length} exceeds the encoder's "
                             f"max_position_embeddings {limit}: use at most {limit}")
        if model is None and not task.needs_labels():
            self._place(self.config)

    @classmethod
    def from_pretrained(cls, checkpoint, task=None, *, config=None, **options):
        """A new task model on a pretrained checkpoint.

        Args:
            checkpoint: a folder in Google's layout (bert_config.json,
                bert_model.ckpt.*, vocab.txt) or Hugging Face's (config.json,
                model.safetensors or pytorch_model.bin, vocab.txt).
            task: the task's registered name (default: the class's own task).
            config: `TrainingConfig` or None, the defaults of `fit`.
            **options: the task's options (its config dataclass: `labels`,
                `max_seq_length`, `dropout_rate`, ...). A task with labels may leave
                them out: `fit` then takes them from the training data.
        """
        if not (task or cls.task_name):
            raise ValueError("TaskModel.from_pretrained needs task='name' (or use "
                             "TextClassifier, TokenClassifier, QuestionAnswerer)")
        task_class = get_task_class(task or cls.task_name)
        tokenizer = pretrained.load_tokenizer(checkpoint)
        task = task_class(tokenizer, **{**task_class.checkpoint_options(checkpoint), **options})
        config = config or TrainingConfig()
        # Loaded where it will train, so that the model needs no copy to get there.
        strategy = strategy_lib.get_strategy(config)
        with placement.dtype_policy(config.dtype_policy), strategy.scope():
            encoder = pretrained.load_encoder(checkpoint)
        return _class_of(task.name, cls)(task, encoder=encoder, config=config)

    def _place(self, config):
        """Makes `self.model` live under the config's strategy and dtype policy (see
        `bert_tf.train.placement.place`); returns the strategy. The model holds the
        encoder from then on: later rebuilds copy from the model."""
        self.model, strategy = placement.place(self.task.build_model, self.model,
                                               self._encoder, config)
        self._encoder = None
        return strategy

    def fit(self, x, y=None, *, validation_data=None, config=None, callbacks=(),
            class_weight=None, **settings):
        """Fine-tunes on raw training data; returns a keras.callbacks.History.

        Args:
            x: training data: a file path, a list of raw inputs (with `y`, or each
                carrying its label last: `(text, label)`, `(text, text_b, label)`), a
                pandas DataFrame (columns named as the task's column options), a list of
                the task's examples, or a tf.data.Dataset of (input, label) pairs.
            y: labels of a list `x`.
            validation_data: data in one of the same forms (a list's labels as a pair
                `(x_val, y_val)`), scored with the task's metrics after every epoch
                (`val_<metric>` in the History); which epoch's weights fit ends with, and
                early stopping, are the config's `keep_epoch`, `monitor` and
                `early_stopping_patience`. What was kept is logged, is
                `history.selection` and `self.selection`, and is saved with the model.
            config: `TrainingConfig` (default: the one given at construction).
            callbacks: more keras callbacks.
            class_weight: None, "balanced" or {label: weight}, as keras' `fit` takes it
                (classification: the task option `class_weight`, saved with the model).
            **settings: `TrainingConfig` fields to override (epochs=2, batch_size=32,
                learning_rate=5e-5, model_dir="runs/x", mixed_precision="bfloat16",
                lora_rank=8: LoRA, see `bert_tf.train.lora`, ...).
        """
        config = (config or self.config).replace(**settings)
        if class_weight is not None:
            if "class_weight" not in self.task.get_config():
                raise ValueError(f"class_weight is an option of classification tasks; the "
                                 f"{self.task.name} task has none")
            self.task = self.task.replace(class_weight=class_weight)
        self.task, train_examples, eval_examples = task_examples.training_examples(
            self.task, x, y, validation_data)
        keras.utils.set_random_seed(config.seed)
        strategy = self._place(config)
        with strategy.scope():
            lora.from_config(self.model, config)
        with placement.dtype_policy(config.dtype_policy):
            history = finetune(self.task, self.model, train_examples, config, eval_examples,
                               callbacks=callbacks, strategy=strategy)
        self.config, self.selection = config, history.selection
        return history

    def distill(self, x, y=None, *, validation_data=None, config=None, callbacks=(),
                **options):
        """A smaller student of this fine-tuned model, trained on its outputs (soft
        targets) and the labels; returns the student, a task model like this one (same
        task, tokenizer, labels, max_seq_length) that saves, loads, evaluates and exports
        as any other. See `bert_tf.train.distillation` for the student and the loss.

            student = clf.distill("train.jsonl", validation_data="dev.jsonl",
                                  student_layers=3, temperature=2.0, alpha=0.5, epochs=3)

        Args:
            x, y, validation_data, callbacks: as in `fit` (the student's best epoch on
                `validation_data` is kept).
            config: `TrainingConfig` of the student's training (default: this model's).
            **options: `DistillationConfig` fields (student_layers, teacher_layers,
                student_preset, student_checkpoint, temperature, alpha, hidden_weight),
                or a whole one as `distillation=`; and `TrainingConfig` fields to
                override (epochs=3, learning_rate=1e-4, model_dir="runs/student", ...).
        """
        distillation, settings = distillation_lib.split_options(options)
        config = (config or self.config).replace(**settings)
        self.task, train_examples, eval_examples = task_examples.training_examples(
            self.task, x, y, validation_data)
        keras.utils.set_random_seed(config.seed)
        teacher = TaskModel(self.task, self._built_model())  # self stays as it is
        strategy = teacher._place(config)
        with placement.dtype_policy(config.dtype_policy), strategy.scope():
            encoder, layer_map = distill_student.student_encoder(
                find_encoder(teacher.model), distillation, self.task.tokenizer)
        student = _class_of(self.task.name)(self.task, encoder=encoder, config=config)
        if distillation.from_teacher_layers:
            distill_student.copy_head(teacher.model, student.model)
        with placement.dtype_policy(config.dtype_policy):
            history = distillation_lib.distill(
                self.task, teacher.model, student.model, layer_map, train_examples,
                distillation, config, eval_examples, callbacks=callbacks, strategy=strategy)
        student.distillation, student.selection = distillation, history.selection
        return student

    def evaluate(self, x, y=None, batch_size=None):
        """{metric: float} on labelled data (forms as in `fit`): the task's metrics
        (classification: accuracy, macro_f1, mcc; NER: entity precision, recall, f1;
        QA: exact_match, f1, ...)."""
        examples = self.task.make_examples(x, y)
        return self.task.evaluate(self._built_model(), examples,
                                  batch_size or self.config.eval_batch_size,
                                  self.config.bucket_by_length)

    def predict(self, x, batch_size=None):
        """Per-example predictions, in input order (classification: {"label",
        "probabilities"}; NER: a tag per word; QA: the answer, its offsets and n-best).

        Args:
            x: raw inputs (a list, file path or tf.data.Dataset; labels, if any, are
                ignored) or the task's examples.
        """
        return self._predict(task_examples.prediction_examples(self.task, x), batch_size)

    def _predict(self, examples, batch_size=None):  # examples checked already
        return self.task.predict(self._built_model(), examples,
                                 batch_size or self.config.eval_batch_size,
                                 self.config.bucket_by_length)

    def explain(self, x, method="integrated_gradients", target=None, steps=32,
                attention=False, batch_size=8):
        """Why the model said what it did: per-word attributions of a target score.

        Args:
            x: raw inputs, as for `predict` (a list of texts; NER: sentences; a file).
            method: "integrated_gradients" (w.r.t. the word-piece embeddings, from a
                [PAD] baseline that keeps [CLS] and [SEP]; the scores add up to
                score - baseline_score) or "gradient_x_input" (one gradient, fast).
            target: None for each input's prediction, one target for all inputs, or a
                list with one per input. Classification: a label (its logit is
                explained); NER: a word index, or (word index, tag) (that tag's logit
                at the word); QA: "start" or "end" of the predicted answer (that
                logit, in the answer's window; the words are the context's).
            steps: IG's path points (default 32), run as one batch per input.
            attention: also return each input's attention maps.
            batch_size: inputs per graph call (the results do not depend on it).
        Returns:
            One dict per input: "text" (the text explained), "words", "spans"
            (character offsets (start, end) in that text), "scores" (one per word),
            "target" (what was explained), "score" and "baseline_score" (the target
            score at the input and at the baseline), "tokens" (the word pieces, [CLS]
            and [SEP] included) and "token_words" (each token's word, -1 for [CLS] /
            [SEP]); with `attention`, "attention", a float32 array [L, N, T, T] over the
            tokens.

            clf.explain(["A warm, funny film."])[0]["scores"]
        """
        examples = task_examples.prediction_examples(self.task, x)
        return explainer.explain(self.task, self._built_model(), examples, target, method,
                                 steps, attention, batch_size)

    def write_predictions(self, x, path=None):
        """Predicts `x` and writes the task's predictions file (default name
        `task.predictions_file` in the current folder); returns its path."""
        examples = task_examples.prediction_examples(self.task, x)
        path = path or self.task.predictions_file
        self.task.write_predictions(path, examples, self._predict(examples))
        return path

    def _built_model(self):
        if self.model is None:
            self.task.build_model(None)  # raises: says the labels are missing
        return self.model

    def save(self, folder, overwrite=False, extra_config=None):
        """Writes the model (LoRA adapters merged), vocab, task options
        (`task_config.json`) and the training settings last used (`resolved_config.json`,
        plus `extra_config`, e.g. a binary's flags) to `folder`, which `load` reads.

        Raises:
            FileExistsError when `folder` already holds a saved model and not
            `overwrite`.
        """
        if os.path.exists(os.path.join(folder, MODEL_FILE)) and not overwrite:
            raise FileExistsError(f"{folder} already holds a saved model; choose another "
                                  "folder or pass overwrite=True")
        self.task.save(placement.merge_adapters(self._built_model(), self.task.build_model),
                       folder)
        distilled = ({"distillation": dataclasses.asdict(self.distillation)}
                     if self.distillation else {})
        selection = {"selection": self.selection} if self.selection else {}
        train_config.write_resolved_config(folder, extra_config or {}, self.config,
                                           {"task": self.task.name,
                                            **self.task.get_config()}, distilled, selection)
        return folder

    def save_adapters(self, path):
        """Writes a LoRA model's adapters and head (HDF5, a few MB) to `path`, which
        `load_adapters` puts on this task built on the same base checkpoint."""
        return lora.save_adapters(self._built_model(), path)

    def load_adapters(self, path):
        """Loads `save_adapters`' file onto this model (built on the file's base)."""
        with self._place(self.config).scope():
            lora.load_adapters(self.model, path)
        return self

    def export(self, export_base, model_name, dtype="float32", **options):
        """A TF Serving SavedModel `export_base/model_name/VERSION` that takes raw text
        and computes in `dtype`, "float32" or "bfloat16" (float32 outputs either way;
        see `bert_tf.export.precision`); the options are `exporter.export_module`'s
        (version, warmup_texts, batching_device, ...) and `max_seq_length`. Returns the
        version's folder.

            clf.export("exports", "rt_sentiment_bf16", dtype="bfloat16")
        """
        max_seq_length = options.pop("max_seq_length", None)
        module = exporter.serving_module(self.task, self._built_model(), max_seq_length,
                                         dtype)
        return exporter.export_module(module, export_base, model_name, **options)


def load(folder, config=None):
    """The task model saved in `folder` (`TaskModel.save`, or `bert-finetune`'s
    `model_dir/export`), as its task's class (TextClassifier, ...)."""
    task, model = load_task(folder)
    loaded = _class_of(task.name)(task, model, config=config)
    loaded.selection = train_config.read_resolved_config(folder).get("selection")
    return loaded


def _class_of(task_name, default=TaskModel):
    """The API's convenience class of a task (TextClassifier, ...), else `default`: tasks
    are registered once, in bert_tf.tasks."""
    return next((cls for cls in TaskModel.__subclasses__() if cls.task_name == task_name),
                default)
