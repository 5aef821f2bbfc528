"""bert-explain end to end (a subprocess on a tiny saved classifier): printed word
scores, the self-contained HTML page, the PNG, one-line errors, and the page rendered
in headless Chromium (skipped where Debian's `chromium` is not installed)."""
import functools
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def saved_classifier(tiny_classifier_folder):
    return tiny_classifier_folder  # labels fresh / rotten


def _explain(*args):
    # `-m tools.explain` from the repository root: this checkout's binary (installed, it
    # is `bert-explain`, i.e. bert_tf_tools.explain).
    return subprocess.run([sys.executable, "-m", "tools.explain", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


@pytest.fixture(scope="module")
def outputs(saved_classifier, tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain_out")
    html, png = str(folder / "explain.html"), str(folder / "explain.png")
    relative = functools.partial(os.path.relpath, start=ROOT)  # as a user may type them
    proc = _explain(f"--model_dir={relative(saved_classifier)}", "--text=A warm, funny film.",
                    "--text=Two hours I will never get back.",
                    f"--output_html={relative(html)}", f"--output_png={relative(png)}",
                    "--steps=8")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, html, png


def test_prints_each_word_with_its_score(outputs):
    stdout, _, _ = outputs
    assert "A warm, funny film.\n  target: label '" in stdout
    for word in ("A", "warm", ",", "funny", "film", ".", "Two", "back"):
        assert re.search(rf"^  [+-]\d\.\d{{4}}  {re.escape(word)}$", stdout, re.M), word


def test_html_page_is_self_contained(outputs):
    _, html, _ = outputs
    page = open(html, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)\s*=|https?://|@import", page)  # nothing to fetch
    assert page.count('class="word"') == 6 + 8
    assert 'id="layer0"' in page and 'id="head1"' in page and "<canvas" in page


def test_png_is_written(outputs):
    _, _, png = outputs
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_target_is_one_line(saved_classifier):
    proc = _explain(f"--model_dir={saved_classifier}", "--text=Fine.", "--target=meh")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "bert_tf: error: input 0: unknown target label 'meh'; the task's labels are "
        "['fresh', 'rotten']")


def test_page_renders_in_headless_chromium(outputs, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    _, html, _ = outputs
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=900,1100",
                    f"--screenshot={shot}", f"file://{html}"],
                   capture_output=True, timeout=120, check=True)
    from matplotlib import image
    pixels = image.imread(str(shot))[..., :3]
    not_white = np.mean(pixels.min(axis=-1) < 0.95)
    assert not_white > 0.02, f"blank screenshot ({not_white:.1%} non-white pixels)"
    coloured = np.mean(pixels.max(axis=-1) - pixels.min(axis=-1) > 0.2)
    assert coloured > 0.005, "no shaded words or heatmap in the screenshot"


@pytest.mark.slow  # a binary run on QA: ~14 s
def test_qa_takes_a_question_per_context(tiny_reader_folder):
    proc = _explain(f"--model_dir={tiny_reader_folder}", "--question=Who designed it?",
                    "--text=Gustave Eiffel designed it.", "--target=end", "--steps=4")
    assert proc.returncode == 0, proc.stderr
    assert "target: the answer's end" in proc.stdout
    assert re.search(r"^  [+-]\d\.\d{4}  Eiffel$", proc.stdout, re.M), proc.stdout
