"""A pretraining run, from Python: what `bert-pretrain` does, as one call.

    bert_tf.pretrain(
        PretrainingConfig(input_files="data/books/*.tfrecord", preset="mini",
                          num_train_steps=10000, vocab_file="vocab.txt"),
        TrainingConfig(batch_size=256, optimizer="lamb", learning_rate=1e-3,
                       warmup_steps=1000, model_dir="runs/mini", strategy="mirrored"))

The model comes from `preset` or `bert_config` (from scratch) or `init_checkpoint` (a
Google or Hugging Face folder). Called again with the same settings after a crash, the
run continues from the newest checkpoint in `model_dir` with the same weights, optimizer
state and data position (`PretrainingTrainer`, pretrain_loop.py), and ends as an
uninterrupted run would. At the end the model is also written as a Hugging Face folder,
`model_dir/pretrained_step_N`, which fine-tuning takes as its checkpoint.
"""
import dataclasses
import json
import os

import tensorflow as tf
from absl import logging

from bert_tf.model.config import BertConfig
from bert_tf.data import MaskedLMMasker, pretraining_dataset
from bert_tf.data.create import MaskingOptions
from bert_tf.data.dataset import damaged_files
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.convert.pretrained import load_pretraining_model, save_pretrained
from bert_tf.common.fields import config_field
from bert_tf.text import BertTokenizer
from bert_tf.train import config as train_config
from bert_tf.train import strategy as strategy_lib
from bert_tf.train import optimization
from bert_tf.train.pretrain_loop import DynamicLossScale, PretrainingTrainer

DEFAULT_CHECKPOINT_EVERY_N_STEPS = 1000
# Written in model_dir: the last logging interval's training metrics, held-out metrics.
RESULTS_FILE = "results.json"


@dataclasses.dataclass
class PretrainingConfig(MaskingOptions):
    """What to pretrain on and what model (each field is a `bert-pretrain` flag). The
    record layout and masking settings are `MaskingOptions`, shared with
    bert-create-pretraining-data (with dynamic_masking, masking happens here)."""

    input_files: str | None = config_field(None, "Comma-separated globs of pretraining TFRecords "
                                           "(bert-create-pretraining-data).")
    num_train_steps: int | None = config_field(None, "Optimizer updates to train for.")
    preset: str | None = config_field(None, "BERT size to train from scratch: tiny, mini, small, "
                                      "medium, base or large.")
    bert_config: str | None = config_field(None, "bert_config.json / config.json to train from "
                                           "scratch (instead of preset).")
    init_checkpoint: str | None = config_field(None, "Pretrained BERT folder to continue from "
                                               "(Google or Hugging Face layout).")
    vocab_file: str | None = config_field(None, "vocab.txt of the records; needed for dynamic "
                                          "masking and copied into the final export "
                                          "(default: the init_checkpoint folder's).")
    shuffle_buffer_size: int = config_field(10000, "Records in the shuffle buffer.")
    eval_files: str | None = config_field(None, "Comma-separated globs of held-out records "
                                          "(same settings): scored after training into "
                                          "model_dir/results.json.")
    eval_batches: int = config_field(100, "Batches of eval_files scored, at most.")

    def check(self):
        """ValueError naming the setting when something needed is missing or wrong."""
        for name in ("input_files", "num_train_steps"):
            if not getattr(self, name):
                raise ValueError(f"{name} is required (a flag or config-file key)")
        if self.num_train_steps < 1:
            raise ValueError(f"num_train_steps must be >= 1, got {self.num_train_steps}")
        given = [name for name in ("init_checkpoint", "bert_config", "preset")
                 if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("Give exactly one of init_checkpoint, bert_config and preset, "
                             f"got {given or 'none'}")

    def model_config(self):
        """The encoder config of `bert_config` or `preset`; None with init_checkpoint.

        A preset is a size, whatever the language: its vocab_size is that of
        `vocab_file` when one is given (e.g. a vocab learned by bert-build-vocab)."""
        if self.init_checkpoint:
            return None
        if self.bert_config:
            return BertConfig.from_json_file(self.bert_config)
        config = BertConfig.from_preset(self.preset)
        vocab_file = self.resolved_vocab_file()
        if vocab_file:
            config = dataclasses.replace(
                config, vocab_size=BertTokenizer.from_vocab_file(vocab_file).vocab_size)
        return config

    def resolved_vocab_file(self):
        """`vocab_file`, else the init_checkpoint's vocab.txt if any, else None."""
        if self.vocab_file:
            if not os.path.isfile(self.vocab_file):
                raise FileNotFoundError(f"vocab_file {self.vocab_file} does not exist")
            return self.vocab_file
        if self.init_checkpoint:
            path = os.path.join(self.init_checkpoint, "vocab.txt")
            if os.path.isfile(path):
                return path
        return None


def pretrain(config, training):
    """Pretrains (MLM + NSP) as `config` and `training` (a `TrainingConfig`; its
    `model_dir` is required) say; resumes from `training.model_dir`.

    Returns:
        (model, metrics of the last logging interval, the final export's folder).
    """
    config.check()
    if not training.model_dir:
        raise ValueError("model_dir is required for pretraining (checkpoints go there)")
    strategy = strategy_lib.setup(training)
    bert_config = config.model_config()
    vocab_file = config.resolved_vocab_file()
    with strategy.scope():
        model = (load_pretraining_model(config.init_checkpoint) if config.init_checkpoint
                 else BertPretrainingModel(BertEncoder.from_bert_config(bert_config)))
        optimizer = optimization.from_config(training, config.num_train_steps)
        loss_scale = DynamicLossScale() if training.mixed_precision == "float16" else None
    bert_config = model.encoder.bert_config
    if config.max_seq_length > bert_config.max_position_embeddings:
        raise ValueError(f"max_seq_length {config.max_seq_length} exceeds the model's "
                         f"max_position_embeddings {bert_config.max_position_embeddings}")

    masker = None
    if config.dynamic_masking:
        if vocab_file is None:
            raise ValueError("dynamic_masking needs vocab_file (the vocab of the records)")
        tokenizer = BertTokenizer.from_vocab_file(vocab_file)
        if tokenizer.vocab_size != bert_config.vocab_size:
            raise ValueError(f"vocab_file has {tokenizer.vocab_size} tokens but the model's "
                             f"vocab_size is {bert_config.vocab_size}")
        masker = MaskedLMMasker.from_tokenizer(
            tokenizer, config.max_predictions_per_seq, whole_word=config.whole_word_masking,
            mask_rate=config.masked_lm_prob)
    dataset = pretraining_dataset(
        config.input_files, training.batch_size, config.max_seq_length,
        config.max_predictions_per_seq, masker=masker, vocab_size=bert_config.vocab_size,
        seed=training.seed, shuffle_buffer_size=config.shuffle_buffer_size)

    trainer = PretrainingTrainer(model, optimizer, strategy, training.batch_size,
                                 jit_compile=training.jit_compile, loss_scale=loss_scale)
    try:
        # The settings are recorded once the checkpoints restored: a run with settings
        # that do not fit them fails before it overwrites the record of how they were made.
        metrics = trainer.train(dataset, training.model_dir, config.num_train_steps,
                                training.checkpoint_every_n_steps
                                or DEFAULT_CHECKPOINT_EVERY_N_STEPS,
                                training.keep_checkpoints, training.log_every_n_steps,
                                after_restore=lambda: train_config.write_resolved_config(
                                    training.model_dir, training, config,
                                    {"bert_config": bert_config.to_dict("google")}))
    except tf.errors.DataLossError:
        damaged = damaged_files(config.input_files)
        if not damaged:
            raise
        raise ValueError("Damaged pretraining records: " + "; ".join(
            f"{path} breaks after {count} records ({message})"
            for path, count, message in damaged) + ". Write them again "
            "(bert-create-pretraining-data) or leave them out of input_files; the run "
            "resumes from its last checkpoint") from None

    results_file = os.path.join(training.model_dir, RESULTS_FILE)
    if not metrics and os.path.exists(results_file):  # a finished run given again
        with open(results_file, encoding="utf-8") as f:
            metrics = json.load(f)["train"]
    results = {"train": metrics}
    if config.eval_files:
        held_out = pretraining_dataset(
            config.eval_files, training.batch_size,
            config.max_seq_length, config.max_predictions_per_seq, masker=masker,
            vocab_size=bert_config.vocab_size, seed=training.seed, shuffle=False,
            repeat=False, drop_remainder=False)
        results["eval"] = trainer.evaluate(held_out, config.eval_batches)
        logging.info("Held-out %s: " + "  ".join(
            f"{k} {v:.4f}" for k, v in results["eval"].items()), config.eval_files)
    export_dir = os.path.join(training.model_dir, f"pretrained_step_{config.num_train_steps}")
    if strategy.extended.should_checkpoint:
        with open(results_file, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
        if not os.path.exists(export_dir):
            save_pretrained(model, export_dir, checkpoint_format="hf", vocab_path=vocab_file)
            logging.info("Wrote the pretrained model to %s", export_dir)
    return model, metrics, export_dir
