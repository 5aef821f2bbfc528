"""Writes docs/explain.png, the README's picture of `bert-explain --output_html`: MiniLM
fine-tuned briefly on Rotten Tomatoes, two reviews explained (Integrated Gradients, with
attention maps), the page rendered by headless Chromium (Debian's `chromium`).

    python scripts/explain_screenshot.py [--output docs/explain.png]

About two minutes on 2 cores. `--html=FILE` keeps the page too.
"""
import argparse
import os
import shutil
import subprocess
import tempfile

TEXTS = ["A warm, funny and beautifully acted film.",
         "Two hours of dull, lifeless dialogue I will never get back."]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default="docs/explain.png")
    parser.add_argument("--html", default=None)
    parser.add_argument("--train_examples", type=int, default=2048)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    import keras

    import bert_tf
    from bert_tf.data import corpora
    from bert_tf.explain import html

    keras.utils.set_random_seed(0)
    train = corpora.rotten_tomatoes("train")[:args.train_examples]
    clf = bert_tf.TextClassifier.from_pretrained(corpora.minilm_path(),
                                                 labels=["fresh", "rotten"], max_seq_length=48)
    clf.fit([t for t, _ in train], [label for _, label in train], epochs=1, batch_size=32,
            learning_rate=5e-5)
    results = clf.explain(TEXTS, attention=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = args.html or os.path.join(tmp, "explain.html")
        html.write_html(page, results, title="bert-explain: Integrated Gradients, MiniLM "
                                             "on Rotten Tomatoes")
        shot = os.path.join(tmp, "shot.png")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=820,900", f"--screenshot={shot}",
                        f"file://{os.path.abspath(page)}"], check=True, capture_output=True,
                       timeout=120)
        from matplotlib import image
        from matplotlib import pyplot as plt
        pixels = image.imread(shot)
        plt.imsave(args.output, pixels)
    print(f"wrote {args.output} ({os.path.getsize(args.output) // 1024} KiB)")


if __name__ == "__main__":
    main()
