r"""Runs raw texts through an exported SavedModel in this process (no TF Serving needed).

    bert-predict --saved_model=exports/rt_sentiment/1 --text="A fine film." --text="Dull."
    bert-predict --saved_model=exports/rt_sentiment/1 --input_file=reviews.txt
    bert-predict --saved_model=exports/rt_ov/1 --text="A fine film."  # --format=openvino
    bert-predict --saved_model=exports/squad/1 --input=question="Who designed it?" \
      --input=context="The tower was designed by Gustave Eiffel's company."
    bert-predict --saved_model=exports/squad/1 --input_file=questions.jsonl
    bert-predict --saved_model=exports/squad_docs/1 --input=question="Who designed it?"
    bert-predict --saved_model=exports/rt_sentiment/1 --signature=explain --text="Dull."
    bert-predict --saved_model=exports/rt_sentiment/1 --signature=explain --text="Dull." \
      --int_input=label_id=1

Prints one JSON line per input row, in input order: the row's texts and the signature's
outputs. `--input_file` is a text file (one `text` per line) or, ending in `.jsonl`, one
JSON object of named texts per line (e.g. {"question": ..., "context": ...}). A question
answering over documents export (`bert-export --index_dir`) takes only `question` and
prints the answer, its passage and document ids, offsets in the document and scores. Imports only
TensorFlow and TensorFlow Text, as TF Serving does: what works here works there.

Texts go in batches of --batch_size, sorted by length so that each batch (padded in the
graph to its longest text) holds texts of similar length; the results are put back in
input order. The sort key is the exact packed length from the SavedModel's
`sequence_lengths` signature (its own in-graph tokenizer) when the export has one, else
the texts' character counts (a proxy: it leaves about 7x more padding on real text).
A line on stderr says what the export computes in (float32, or bfloat16 for a
`bert-export --dtype=bfloat16` export: its `assets.extra/export_config.json`).
"""
import json
import sys

from absl import app, flags

from bert_tf_serving import predictor
from bert_tf_serving.inputs import InputError, define_input_flags, request_inputs
from bert_tf_serving.protocol import jsonable
from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("saved_model", None, "SavedModel folder (<export_base>/<name>/<version>), "
                    "or a bert-export --format=openvino version folder or its model.xml.")
define_input_flags()
flags.DEFINE_string("input_file", None, "UTF-8 file: one text per line, or .jsonl with one "
                    "object of named texts per line.")
flags.DEFINE_string("signature", "serving_default", "Signature to run (explain: each "
                    "word's score; see bert-explain).")
flags.DEFINE_integer("batch_size", 64, "Texts per call of the signature; texts are sorted "
                     "by length into batches.", lower_bound=1)
flags.mark_flag_as_required("saved_model")


def main(argv):
    del argv
    try:
        inputs = request_inputs(FLAGS.text, FLAGS.text_b, FLAGS.input, FLAGS.int_input,
                                FLAGS.input_file)
    except InputError as e:
        raise app.UsageError(str(e)) from None
    model = predictor.open_predictor(FLAGS.saved_model, FLAGS.signature, FLAGS.batch_size)
    # On stderr, so that stdout stays one JSON line per row.
    print(f"bert-predict: {FLAGS.saved_model} computes in {model.dtype}", file=sys.stderr)
    rows = model(inputs)
    for i, row in enumerate(rows):
        print(json.dumps(jsonable({**{name: texts[i] for name, texts in inputs.items()}, **row}),
                         ensure_ascii=False))


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
