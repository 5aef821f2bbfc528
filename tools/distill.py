r"""Distils a fine-tuned task model (classification, ner) into a smaller student: trains it
on the teacher's soft targets and the labels, evaluates it and saves it.

    bert-distill --teacher_dir=runs/rt/export --train_file=data/train.jsonl \
      --eval_file=data/validation.jsonl --student_layers=3 --temperature=2 --alpha=0.5 \
      --model_dir=runs/rt_student --epochs=3 --learning_rate=1e-4

    bert-distill --teacher_dir=runs/conll/export --train_file=train.txt \
      --eval_file=valid.txt --student_preset=mini --hidden_weight=1 --model_dir=runs/s

This binary is `bert_tf.load(teacher_dir).distill(...)` with flags: the fields of
`DistillationConfig` (bert_tf/train/distillation.py: --student_layers, --teacher_layers,
--student_preset, --student_checkpoint, --temperature, --alpha, --hidden_weight) and of
`TrainingConfig` (the optimizer, schedule, strategy, checkpoints, ... of bert-finetune);
a `--config_file` JSON sets any of them. The teacher folder is a saved task model
(bert-finetune's `MODEL_DIR/export`, or `TaskModel.save`); the data files are in its
task's format and read with its options. The student's best epoch on --eval_file is
kept and saved in `model_dir/export` as bert-finetune saves a model, so
`bert-finetune --do_eval / --do_predict`, `bert-export` and `bert-explain` take it as it
is. Its metrics on --eval_file go to `model_dir/eval_results.json`, printed next to the
teacher's. A run killed and started again with the same flags continues where it
stopped, as bert-finetune's does.
"""
import json
import os

from absl import app, flags

from bert_tf import task_model
from bert_tf.tasks.saving import MODEL_FILE
from bert_tf.train import strategy as strategy_lib
from bert_tf.train import flags as train_flags
from bert_tf.train.config import TrainingConfig
from bert_tf.train.distillation import DistillationConfig
from bert_tf_tools import cli

FLAGS = flags.FLAGS
train_flags.define_config_file_flag()
train_flags.define_flags(TrainingConfig)
train_flags.define_flags(DistillationConfig)
flags.DEFINE_string("teacher_dir", None, "The fine-tuned teacher: a saved task model folder "
                    "(bert-finetune's MODEL_DIR/export, or TaskModel.save).")
flags.DEFINE_string("train_file", None, "Training data in the teacher task's format "
                    "(classification: .csv/.tsv/.jsonl; ner: CoNLL), with labels.")
flags.DEFINE_string("eval_file", None, "Evaluation data, same format: picks the student's "
                    "best epoch and is scored at the end.")
flags.DEFINE_bool("overwrite", False, "Replace a model already saved in --model_dir/export.")


def _metrics(results):
    return "  ".join(f"{name} {value:.4f}" for name, value in results.items())


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    train_flags.apply_config_file(FLAGS)
    for name in ("teacher_dir", "train_file", "model_dir"):
        cli.require(name, "bert-distill")
    distillation = train_flags.config_from_flags(DistillationConfig)
    config = train_flags.config_from_flags(TrainingConfig)
    if not os.path.isdir(FLAGS.teacher_dir):
        raise FileNotFoundError(f"--teacher_dir {FLAGS.teacher_dir} does not exist")
    strategy_lib.setup(config)  # the strategy first: before any other TF work
    export_dir = os.path.join(config.model_dir, cli.EXPORT_DIR)
    if os.path.exists(os.path.join(export_dir, MODEL_FILE)) and not FLAGS.overwrite:
        raise app.UsageError(f"{export_dir} already holds a model; give another "
                             "--model_dir, or --overwrite to replace it")
    teacher = task_model.load(FLAGS.teacher_dir, config)
    student = teacher.distill(FLAGS.train_file, validation_data=FLAGS.eval_file,
                              distillation=distillation)
    student.save(export_dir, overwrite=True, extra_config=train_flags.resolved_flags(FLAGS))
    print(f"Saved the student to {export_dir}")
    if FLAGS.eval_file:
        results = student.evaluate(FLAGS.eval_file)
        with open(os.path.join(config.model_dir, cli.EVAL_RESULTS_FILE), "w") as f:
            json.dump(results, f, indent=2)
        print(f"Evaluation: student {_metrics(results)}")
        print(f"            teacher {_metrics(teacher.evaluate(FLAGS.eval_file))}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
