r"""Explains a fine-tuned model's predictions: which words made it say that.

    bert-explain --model_dir=runs/rt/export --text="A warm, funny film." --text="Dull."
    bert-explain --model_dir=runs/rt/export --text="A warm, funny film." --target=rotten \
        --output_html=explain.html --output_png=explain.png
    bert-explain --model_dir=runs/ner/export --text="John lives in Paris" --target=3:B-LOC
    bert-explain --model_dir=runs/squad/export --question="Who designed it?" \
        --text="The tower was designed by Gustave Eiffel's company." --target=end

Prints, for each text, what was explained (the target: by default the prediction) and
each word with its score (Integrated Gradients by default: the scores add up to the
target score's change from the baseline; positive pushed towards the target).
`--output_html` writes a self-contained page (word shading, attention heatmap per layer
and head with a selector; no network needed to view it), `--output_png` a figure of the
first text for reports. Errors in the input (unknown target label, target word past the
text, empty text) are one line, exit status 2.
"""
from absl import flags

from bert_tf_tools import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A fine-tuned task folder (TaskModel.save, or "
                    "bert-finetune's <model_dir>/export).")
flags.DEFINE_multi_string("text", None, "A text to explain (repeat for several); NER: "
                          "whitespace-separated words.")
flags.DEFINE_multi_string("question", None, "QA: the question of each --text (the "
                          "context), one per --text.")
flags.DEFINE_enum("method", "integrated_gradients", ["integrated_gradients",
                                                     "gradient_x_input"],
                  "Attribution method.")
flags.DEFINE_string("target", None, "What to explain (default: the prediction). "
                    "Classification: a label; NER: WORD_INDEX or WORD_INDEX:TAG; QA: "
                    "start or end (of the predicted answer).")
flags.DEFINE_integer("steps", 32, "Integrated Gradients path steps.", lower_bound=1)
flags.DEFINE_string("output_html", None, "Write a self-contained HTML page here.")
flags.DEFINE_string("output_png", None, "Write a PNG figure of the first text here.")
flags.DEFINE_integer("layer", -1, "Attention layer of the PNG (default: the last).")
flags.DEFINE_integer("head", None, "Attention head of the PNG (default: mean of heads).")
flags.mark_flags_as_required(["model_dir", "text"])


def main(argv):
    del argv
    import bert_tf
    from bert_tf.explain import html, plot

    model = bert_tf.load(FLAGS.model_dir)
    want_maps = bool(FLAGS.output_html or FLAGS.output_png)
    inputs = FLAGS.text
    if FLAGS.question:
        if len(FLAGS.question) != len(FLAGS.text):
            raise ValueError(f"{len(FLAGS.question)} --question but {len(FLAGS.text)} "
                             "--text: give one question per context")
        inputs = list(zip(FLAGS.question, FLAGS.text))
    results = model.explain(inputs, method=FLAGS.method, target=FLAGS.target,
                            steps=FLAGS.steps, attention=want_maps)
    for result in results:
        print(f"{result['text']}\n  target: {result['target']}; score {result['score']:.4f}, "
              f"baseline {result['baseline_score']:.4f}")
        for word, score in zip(result["words"], result["scores"]):
            print(f"  {score:+.4f}  {word}")
    if FLAGS.output_html:
        html.write_html(FLAGS.output_html, results,
                        title=f"Explanations: {FLAGS.method} ({FLAGS.model_dir})")
        print(f"wrote {FLAGS.output_html}")
    if FLAGS.output_png:
        plot.save_png(FLAGS.output_png, results[0], layer=FLAGS.layer, head=FLAGS.head)
        print(f"wrote {FLAGS.output_png}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
