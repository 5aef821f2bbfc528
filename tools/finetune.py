r"""Fine-tunes a pretrained BERT on a task (classification, ner, qa); evaluates and predicts.

    bert-finetune --task=classification --init_checkpoint=uncased_L-12_H-768_A-12 \
      --train_file=train.tsv --eval_file=dev.tsv --text_column=sentence \
      --do_train --do_eval --model_dir=runs/sst2 --config_file=configs/finetune/glue.json

    bert-finetune --task=ner --init_checkpoint=$MINILM --train_file=train.txt \
      --eval_file=valid.txt --predict_file=test.txt --do_train --do_eval --do_predict \
      --model_dir=runs/conll

    bert-finetune --task=qa --init_checkpoint=$MINILM --train_file=train-v2.0.json \
      --eval_file=dev-v2.0.json --version_2_with_negative --do_train --do_eval \
      --model_dir=runs/squad --config_file=configs/finetune/squad.json

Flags are the fields of `TrainingConfig` (bert_tf/train/config.py) and of each task's
config dataclass (bert_tf/tasks/<task>.py); a `--config_file` JSON sets any of them.
This binary is `bert_tf.TaskModel` with flags: training evaluates the eval file after
every epoch and ends with the epoch --keep_epoch names (the last, or the best by
--monitor, `model_dir/best.weights.h5`; --early_stopping_patience stops early), then
saves the task model in `model_dir/export` (`model.keras`, `vocab.txt`,
`task_config.json`, `resolved_config.json`, which records the kept epoch). Without --do_train, --do_eval and --do_predict use that saved
model. Metrics go to `model_dir/eval_results.json`, predictions to --predictions_file
(default: the task's `predictions_file` in model_dir). A run killed at any point (backups
each epoch and every --checkpoint_every_n_steps) and started again with the same flags
continues where it stopped, with the batches and weights of an uninterrupted run.
"""
import json
import os

from absl import app, flags

from bert_tf import task_model
from bert_tf.tasks.registry import get_task_class, task_names
from bert_tf.tasks.saving import MODEL_FILE
from bert_tf.train import strategy as strategy_lib
from bert_tf.train import flags as train_flags
from bert_tf.train.config import TrainingConfig
from bert_tf_tools import cli

FLAGS = flags.FLAGS
train_flags.define_config_file_flag()
train_flags.define_flags(TrainingConfig)
# Every task's options; unset ones keep the chosen task's own defaults.
for _name in task_names():
    train_flags.define_flags(get_task_class(_name).config_class, defaults_none=True)
flags.DEFINE_enum("task", None, task_names(), "The fine-tuning task.")
flags.DEFINE_string("init_checkpoint", None, "Pretrained BERT folder, Google "
                    "(bert_config.json, bert_model.ckpt.*) or Hugging Face (config.json, "
                    "model.safetensors) layout, with vocab.txt.")
flags.DEFINE_bool("do_train", False, "Fine-tune on --train_file.")
flags.DEFINE_bool("do_eval", False, "Score --eval_file.")
flags.DEFINE_bool("do_predict", False, "Predict --predict_file.")
flags.DEFINE_string("train_file", None, "Training data (classification: .csv/.tsv/.jsonl; "
                    "ner: CoNLL; qa: SQuAD JSON).")
flags.DEFINE_string("eval_file", None, "Evaluation data, same format, with labels.")
flags.DEFINE_string("predict_file", None, "Data to predict; labels optional.")
flags.DEFINE_string("predictions_file", None, "Where predictions go (default: in "
                    "--model_dir).")
flags.DEFINE_bool("overwrite", False, "With --do_train, replace a model already saved in "
                  "--model_dir/export.")


def _train(config, export_dir):
    """Fine-tunes from --init_checkpoint and saves to `export_dir`; the TaskModel."""
    cli.require("init_checkpoint", "--do_train")
    cli.require("train_file", "--do_train")
    if os.path.exists(os.path.join(export_dir, MODEL_FILE)) and not FLAGS.overwrite:
        raise app.UsageError(f"{export_dir} already holds a fine-tuned model; give another "
                             "--model_dir, or --overwrite to replace it")
    options = train_flags.config_values(get_task_class(FLAGS.task).config_class)
    model = task_model.TaskModel.from_pretrained(FLAGS.init_checkpoint, task=FLAGS.task,
                                                 config=config, **options)
    if FLAGS.do_predict:  # a malformed predict file is found now, not after training
        cli.require("predict_file", "--do_predict")
        model.task.make_examples(FLAGS.predict_file, require_labels=False)
    model.fit(FLAGS.train_file, validation_data=FLAGS.eval_file)
    model.save(export_dir, overwrite=True, extra_config=train_flags.resolved_flags(FLAGS))
    print(f"Saved the fine-tuned model to {export_dir}")
    return model


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_flags.apply_config_file(FLAGS)
    cli.require("task", "bert-finetune")
    cli.require("model_dir", "bert-finetune")
    if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict):
        raise app.UsageError("Nothing to do: give --do_train, --do_eval and/or --do_predict")
    config = train_flags.config_from_flags(TrainingConfig)
    strategy_lib.setup(config)  # the strategy first: before any other TF work
    export_dir = os.path.join(config.model_dir, cli.EXPORT_DIR)
    if FLAGS.do_train:
        model = _train(config, export_dir)
    else:
        model = task_model.load(export_dir, config)
        if model.task.name != FLAGS.task:
            raise app.UsageError(f"--task={FLAGS.task}, but the model in --model_dir was "
                                 f"trained for {model.task.name}")

    if FLAGS.do_eval:
        cli.require("eval_file", "--do_eval")
        results = model.evaluate(FLAGS.eval_file)
        # Which epoch the scored weights are (keep_epoch, monitor): saved with the model.
        selection = {"selection": model.selection} if model.selection else {}
        with open(os.path.join(config.model_dir, cli.EVAL_RESULTS_FILE), "w") as f:
            json.dump({**results, **selection}, f, indent=2)
        print("Evaluation: " + "  ".join(f"{k} {v:.4f}" for k, v in results.items()))

    if FLAGS.do_predict:
        cli.require("predict_file", "--do_predict")
        path = model.write_predictions(
            FLAGS.predict_file,
            FLAGS.predictions_file or os.path.join(config.model_dir,
                                                   model.task.predictions_file))
        print(f"Wrote predictions to {path}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
