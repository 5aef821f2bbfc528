r"""Pretrains BERT (masked LM + next sentence) on records from bert-create-pretraining-data.

    bert-pretrain --input_files='data/books/*.tfrecord' --preset=mini --model_dir=runs/mini \
        --vocab_file=vocab.txt --train_batch_size=256 --max_seq_length=128 \
        --max_predictions_per_seq=20 --num_train_steps=10000 --warmup_steps=1000 \
        --optimizer=lamb --learning_rate=1e-3 --strategy=mirrored --mixed_precision=bfloat16

The model comes from `--preset` or `--bert_config` (from scratch) or `--init_checkpoint` (a
Google or Hugging Face folder). Started again with the same flags after a crash, the run
continues from the newest checkpoint in `--model_dir` with the same weights, optimizer
state and data position, and ends as an uninterrupted run would. At the end the model is
also written as a Hugging Face folder, `model_dir/pretrained_step_N`, which the
fine-tuning binaries take as `--init_checkpoint`.

`--config_file=configs/pretrain/mini.json` sets any of these flags from a file.
"""
import os

from absl import app, flags, logging

from bert_tf.config import BertConfig
from bert_tf.data import MaskedLMMasker, pretraining_dataset
from bert_tf.model.encoder import BertEncoder
from bert_tf.model.pretraining import BertPretrainingModel
from bert_tf.pretrained import load_pretraining_model, save_pretrained
from bert_tf.text import BertTokenizer
from bert_tf.train import flags as train_flags
from bert_tf.train.pretraining import DynamicLossScale, PretrainingTrainer

train_flags.define_common_flags()
FLAGS = flags.FLAGS
flags.DEFINE_string("input_files", None, "Comma-separated globs of pretraining TFRecords.")
flags.DEFINE_integer("num_train_steps", None, "Optimizer updates to train for.")
flags.DEFINE_string("preset", None, "BERT size to train from scratch: tiny, mini, small, "
                    "medium, base or large.")
flags.DEFINE_string("bert_config", None, "bert_config.json / config.json to train from "
                    "scratch (instead of --preset).")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked-LM slots per sequence.")
flags.DEFINE_bool("dynamic_masking", False, "The records were written with "
                  "--dynamic_masking: mask them in the input pipeline, anew every epoch.")
flags.DEFINE_bool("whole_word_masking", True, "Dynamic masking: mask whole words.")
flags.DEFINE_float("masked_lm_prob", 0.15, "Dynamic masking: fraction of tokens predicted.")
flags.DEFINE_string("vocab_file", None, "vocab.txt of the records; needed for dynamic "
                    "masking and copied into the final export (default: the "
                    "--init_checkpoint folder's).")
flags.DEFINE_integer("shuffle_buffer_size", 10000, "Records in the shuffle buffer.")
flags.mark_flags_as_required(["input_files", "num_train_steps"])

DEFAULT_CHECKPOINT_EVERY_N_STEPS = 1000


def bert_config_from_flags(flag_values=FLAGS):
    """The encoder config: of --init_checkpoint, --bert_config or --preset (exactly one)."""
    given = [name for name in ("init_checkpoint", "bert_config", "preset")
             if flag_values[name].value]
    if len(given) != 1:
        raise ValueError("Give exactly one of --init_checkpoint, --bert_config and --preset, "
                         f"got {given or 'none'}")
    if flag_values.init_checkpoint:
        return None
    if flag_values.bert_config:
        return BertConfig.from_json_file(flag_values.bert_config)
    return BertConfig.from_preset(flag_values.preset)


def build_model(config, flag_values=FLAGS):
    """BertPretrainingModel from --init_checkpoint, or fresh from `config`; call it in the
    strategy's scope."""
    if flag_values.init_checkpoint:
        return load_pretraining_model(flag_values.init_checkpoint)
    return BertPretrainingModel(BertEncoder.from_bert_config(config))


def vocab_file_from_flags(flag_values=FLAGS):
    if flag_values.vocab_file:
        if not os.path.isfile(flag_values.vocab_file):
            raise FileNotFoundError(f"--vocab_file {flag_values.vocab_file} does not exist")
        return flag_values.vocab_file
    if flag_values.init_checkpoint:
        path = os.path.join(flag_values.init_checkpoint, "vocab.txt")
        if os.path.isfile(path):
            return path
    return None


def main(argv):
    del argv
    strategy = train_flags.setup(FLAGS)
    config = bert_config_from_flags()
    vocab_file = vocab_file_from_flags()
    with strategy.scope():
        model = build_model(config)
        optimizer = train_flags.make_optimizer_from_flags(FLAGS.num_train_steps)
        loss_scale = DynamicLossScale() if FLAGS.mixed_precision == "float16" else None
    config = model.encoder.bert_config
    if FLAGS.max_seq_length > config.max_position_embeddings:
        raise ValueError(f"--max_seq_length {FLAGS.max_seq_length} exceeds the model's "
                         f"max_position_embeddings {config.max_position_embeddings}")

    masker = None
    if FLAGS.dynamic_masking:
        if vocab_file is None:
            raise ValueError("--dynamic_masking needs --vocab_file (the vocab of the records)")
        tokenizer = BertTokenizer.from_vocab_file(vocab_file)
        if tokenizer.vocab_size != config.vocab_size:
            raise ValueError(f"--vocab_file has {tokenizer.vocab_size} tokens but the model's "
                             f"vocab_size is {config.vocab_size}")
        masker = MaskedLMMasker.from_tokenizer(
            tokenizer, FLAGS.max_predictions_per_seq, whole_word=FLAGS.whole_word_masking,
            mask_rate=FLAGS.masked_lm_prob)
    dataset = pretraining_dataset(
        FLAGS.input_files, FLAGS.train_batch_size, FLAGS.max_seq_length,
        FLAGS.max_predictions_per_seq, masker=masker, vocab_size=config.vocab_size,
        seed=FLAGS.seed, shuffle_buffer_size=FLAGS.shuffle_buffer_size)

    train_flags.write_resolved_config(FLAGS, FLAGS.model_dir,
                                      extra={"bert_config": config.to_dict("google")})
    trainer = PretrainingTrainer(model, optimizer, strategy, FLAGS.train_batch_size,
                                 jit_compile=FLAGS.jit_compile, loss_scale=loss_scale)
    trainer.train(dataset, FLAGS.model_dir, FLAGS.num_train_steps,
                  FLAGS.checkpoint_every_n_steps or DEFAULT_CHECKPOINT_EVERY_N_STEPS,
                  FLAGS.keep_checkpoints, FLAGS.log_every_n_steps)

    export_dir = os.path.join(FLAGS.model_dir, f"pretrained_step_{FLAGS.num_train_steps}")
    if strategy.extended.should_checkpoint and not os.path.exists(export_dir):
        save_pretrained(model, export_dir, fmt="hf", vocab_path=vocab_file)
        logging.info("Wrote the pretrained model to %s", export_dir)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
