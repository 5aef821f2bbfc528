r"""Fine-tunes a pretrained BERT on classification, NER or SQuAD; evaluates and predicts.

    bert-finetune --task=classification --init_checkpoint=uncased_L-12_H-768_A-12 \
      --train_file=train.tsv --eval_file=dev.tsv --text_column=sentence \
      --do_train --do_eval --model_dir=runs/sst2 --config_file=configs/finetune/glue.json

    bert-finetune --task=ner --init_checkpoint=$MINILM --train_file=train.txt \
      --eval_file=valid.txt --predict_file=test.txt --do_train --do_eval --do_predict \
      --model_dir=runs/conll

    bert-finetune --task=squad --init_checkpoint=$MINILM --train_file=train-v2.0.json \
      --eval_file=dev-v2.0.json --version_2_with_negative --do_train --do_eval \
      --model_dir=runs/squad --config_file=configs/finetune/squad.json

Training evaluates the eval file after every epoch and keeps the best epoch
(`model_dir/best.weights.h5`), then saves the task model in `model_dir/export`:
`model.keras`, `vocab.txt`, `task_config.json` (labels, casing, sequence length) and
`resolved_config.json` (every flag of the run). Without --do_train, --do_eval and
--do_predict use that saved model. Metrics go to `model_dir/eval_results.json`,
predictions to --predictions_file (default `model_dir/predictions.jsonl`, `.conll` for
NER, `.json` for SQuAD: {id: answer} as the official scoring script reads it, with the
n-best lists and v2.0 null odds beside it).
A crashed run restarts from its last backup when started again with the same flags.
"""
import json
import math
import os

from absl import app, flags, logging

from bert_tf import pretrained
from bert_tf.tasks import classification, load_task, ner, squad
from bert_tf.train import flags as train_flags
from bert_tf.train import trainer

FLAGS = flags.FLAGS
train_flags.define_common_flags()
TASKS = {"classification": classification.ClassificationTask, "ner": ner.NerTask,
         "squad": squad.SquadTask}
PREDICTIONS_FILES = {"classification": "predictions.jsonl", "ner": "predictions.conll",
                     "squad": "predictions.json"}
flags.DEFINE_enum("task", None, list(TASKS), "The fine-tuning task.")
flags.DEFINE_bool("do_train", False, "Fine-tune on --train_file.")
flags.DEFINE_bool("do_eval", False, "Score --eval_file.")
flags.DEFINE_bool("do_predict", False, "Predict --predict_file.")
flags.DEFINE_string("train_file", None, "Training data (classification: .csv/.tsv/.jsonl; "
                    "ner: CoNLL; squad: SQuAD JSON).")
flags.DEFINE_string("eval_file", None, "Evaluation data, same format, with labels.")
flags.DEFINE_string("predict_file", None, "Data to predict; labels optional.")
flags.DEFINE_string("predictions_file", None, "Where predictions go (default: in "
                    "--model_dir).")
flags.DEFINE_list("labels", None, "Label vocabulary (default: sorted labels of "
                  "--train_file; ner: 'O' first).")
flags.DEFINE_float("classifier_dropout", 0.1, "Dropout before the task's output layer.")
flags.DEFINE_bool("pad_to_max_length", False, "Pad every batch to --max_seq_length "
                  "(needed on TPUs) instead of to its longest sequence.")
flags.DEFINE_bool("bucket_by_length", True, "Batch examples of similar length together, "
                  "so that padding to each batch's longest wastes little; no effect with "
                  "--pad_to_max_length.")
# Classification.
flags.DEFINE_string("text_column", "text", "Column of the text (a name, or a 0-based "
                    "index for headerless files).")
flags.DEFINE_string("text_b_column", None, "Column of the second text of pair tasks.")
flags.DEFINE_string("label_column", "label", "Column of the label.")
# NER.
flags.DEFINE_enum("tag_scheme", None, list(ner.TAG_SCHEMES), "Convert tags to this "
                  "scheme on reading (default: keep the file's).")
# SQuAD.
flags.DEFINE_integer("doc_stride", 128, "squad: pieces between the starts of a long "
                     "context's windows.")
flags.DEFINE_integer("max_query_length", 64, "squad: question pieces kept.")
flags.DEFINE_integer("max_answer_length", 30, "squad: the longest answer, in pieces.")
flags.DEFINE_integer("n_best_size", 20, "squad: spans in each n-best list.")
flags.DEFINE_bool("version_2_with_negative", False, "squad: SQuAD v2.0, questions may "
                  "have no answer.")
flags.DEFINE_float("null_score_diff_threshold", 0.0, "squad v2.0: answer nothing when "
                   "the null score beats the best span's by more than this.")

EXPORT_DIR = "export"
EVAL_RESULTS_FILE = "eval_results.json"


def _task_options():
    """The task's constructor options from flags, labels aside."""
    common = {"max_seq_length": FLAGS.max_seq_length,
              "pad_to_max_length": FLAGS.pad_to_max_length}
    if FLAGS.task == "classification":
        return {**common, "dropout_rate": FLAGS.classifier_dropout,
                "text_column": FLAGS.text_column, "text_b_column": FLAGS.text_b_column,
                "label_column": FLAGS.label_column}
    if FLAGS.task == "ner":
        return {**common, "dropout_rate": FLAGS.classifier_dropout,
                "tag_scheme": FLAGS.tag_scheme}
    return {**common, "doc_stride": FLAGS.doc_stride,
            "max_query_length": FLAGS.max_query_length,
            "max_answer_length": FLAGS.max_answer_length, "n_best_size": FLAGS.n_best_size,
            "version_2_with_negative": FLAGS.version_2_with_negative,
            "null_score_diff_threshold": FLAGS.null_score_diff_threshold}


def _require(flag_name, purpose):
    if not FLAGS[flag_name].value:
        raise app.UsageError(f"--{flag_name} is required for {purpose}")


def train(strategy):
    """Fine-tunes from --init_checkpoint; returns (task, model) with the best weights."""
    _require("init_checkpoint", "--do_train")
    _require("train_file", "--do_train")
    tokenizer = pretrained.load_tokenizer(FLAGS.init_checkpoint)
    train_examples, data_labels = _read_train_examples()
    labels = FLAGS.labels or data_labels
    task = TASKS[FLAGS.task](tokenizer, **({"labels": labels} if labels else {}),
                             **_task_options())
    task.bucket_by_length = FLAGS.bucket_by_length
    evaluate_fn = (task.evaluator(task.read_examples(FLAGS.eval_file), FLAGS.eval_batch_size)
                   if FLAGS.eval_file else None)

    if FLAGS.num_train_epochs != int(FLAGS.num_train_epochs) or FLAGS.num_train_epochs < 1:
        raise app.UsageError(f"--num_train_epochs must be a whole number >= 1 for "
                             f"fine-tuning, got {FLAGS.num_train_epochs}")
    epochs = int(FLAGS.num_train_epochs)
    steps_per_epoch = math.ceil(len(train_examples) / FLAGS.train_batch_size)
    num_updates = max(epochs * steps_per_epoch // FLAGS.grad_accum_steps, 1)
    logging.info("%d training examples, %d labels, %d epochs of %d steps", len(train_examples),
                 len(labels or ()), epochs, steps_per_epoch)

    with strategy.scope():
        model = task.build_model(pretrained.load_encoder(FLAGS.init_checkpoint))
        optimizer = train_flags.make_optimizer_from_flags(num_updates)
    trainer.train(
        model, task.make_dataset(train_examples, FLAGS.train_batch_size, training=True,
                                 seed=FLAGS.seed),
        strategy=strategy, model_dir=FLAGS.model_dir, epochs=epochs,
        compile_args=task.compile_args(optimizer), jit_compile=FLAGS.jit_compile,
        evaluate_fn=evaluate_fn, best_metric=task.best_metric if evaluate_fn else None,
        checkpoint_every_n_steps=FLAGS.checkpoint_every_n_steps,
        keep_checkpoints=FLAGS.keep_checkpoints, log_every_n_steps=FLAGS.log_every_n_steps,
        global_batch_size=FLAGS.train_batch_size)

    export_dir = os.path.join(FLAGS.model_dir, EXPORT_DIR)
    task.save(model, export_dir)
    train_flags.write_resolved_config(FLAGS, export_dir,
                                      extra={"labels": labels} if labels else None)
    logging.info("Saved the fine-tuned model to %s", export_dir)
    return task, model


def _read_train_examples():
    """(examples, their label vocabulary or None) of --train_file; read before the task
    exists, since the task's labels may come from this data."""
    if FLAGS.task == "classification":
        examples = classification.read_examples(FLAGS.train_file, FLAGS.text_column,
                                                FLAGS.text_b_column, FLAGS.label_column)
        return examples, classification.label_vocabulary(examples)
    if FLAGS.task == "ner":
        examples = ner.read_conll(FLAGS.train_file, tag_scheme=FLAGS.tag_scheme)
        return examples, ner.label_vocabulary(examples)
    return squad.read_squad(FLAGS.train_file,
                            version_2_with_negative=FLAGS.version_2_with_negative), None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    strategy = train_flags.setup(FLAGS)  # applies --config_file first
    _require("task", "bert-finetune")
    if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict):
        raise app.UsageError("Nothing to do: give --do_train, --do_eval and/or --do_predict")
    if FLAGS.do_train:
        task, model = train(strategy)
    else:
        with strategy.scope():
            task, model = load_task(os.path.join(FLAGS.model_dir, EXPORT_DIR))
        if task.name != FLAGS.task:
            raise app.UsageError(f"--task={FLAGS.task}, but the model in --model_dir was "
                                 f"trained for {task.name}")
        task.bucket_by_length = FLAGS.bucket_by_length

    if FLAGS.do_eval:
        _require("eval_file", "--do_eval")
        results = task.evaluate(model, task.read_examples(FLAGS.eval_file),
                                FLAGS.eval_batch_size)
        with open(os.path.join(FLAGS.model_dir, EVAL_RESULTS_FILE), "w") as f:
            json.dump(results, f, indent=2)
        print("Evaluation: " + "  ".join(f"{k} {v:.4f}" for k, v in results.items()))

    if FLAGS.do_predict:
        _require("predict_file", "--do_predict")
        examples = task.read_examples(FLAGS.predict_file, require_labels=False)
        labelled = [ex for ex in examples if ex.is_labelled]
        if labelled:  # labels the model does not know are an error here too, by row
            task.targets(labelled)
        path = FLAGS.predictions_file or os.path.join(FLAGS.model_dir,
                                                      PREDICTIONS_FILES[task.name])
        task.write_predictions(path, examples,
                               task.predict(model, examples, FLAGS.eval_batch_size))
        print(f"Wrote {len(examples)} predictions to {path}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
