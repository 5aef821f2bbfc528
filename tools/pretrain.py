r"""Pretrains BERT (masked LM + next sentence) on records from bert-create-pretraining-data.

    bert-pretrain --input_files='data/books/*.tfrecord' --preset=mini --model_dir=runs/mini \
        --vocab_file=vocab.txt --batch_size=256 --max_seq_length=128 \
        --max_predictions_per_seq=20 --num_train_steps=10000 --warmup_steps=1000 \
        --optimizer=lamb --learning_rate=1e-3 --strategy=mirrored --mixed_precision=bfloat16

Flags are the fields of `PretrainingConfig` (bert_tf/train/pretrain.py) and
`TrainingConfig` (bert_tf/train/config.py); `--config_file=configs/pretrain/mini.json`
sets any of them. This binary is `bert_tf.pretrain` with flags: started again with the
same flags after a crash, the run continues from the newest checkpoint in `--model_dir`
and ends as an uninterrupted run would. At the end the model is also written as a
Hugging Face folder, `model_dir/pretrained_step_N`, which `bert-finetune` takes as
`--init_checkpoint`, and `model_dir/results.json` holds the last training metrics and,
with `--eval_files`, the masked-LM and NSP accuracy on held-out records. With --preset,
the model's vocab size is that of --vocab_file (any language's learned vocab).
"""
from absl import app, flags

from bert_tf.train import flags as train_flags
from bert_tf.train.config import TrainingConfig
from bert_tf.train.pretrain import PretrainingConfig, pretrain
from bert_tf_tools import cli

FLAGS = flags.FLAGS
train_flags.define_config_file_flag()
train_flags.define_flags(PretrainingConfig)
# Epochs and length bucketing are fine-tuning's: pretraining counts updates.
train_flags.define_flags(TrainingConfig, skip=("epochs", "eval_batch_size",
                                               "bucket_by_length"))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_flags.apply_config_file(FLAGS)
    config = train_flags.config_from_flags(PretrainingConfig)
    training = train_flags.config_from_flags(TrainingConfig)
    try:
        config.check()
    except ValueError as e:  # settings are flags here: say it without a traceback
        raise app.UsageError(str(e)) from None
    pretrain(config, training)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
