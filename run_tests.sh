#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the fast test suite in two
# processes (pytest-xdist: most of its time is single-threaded tracing and Python).
# Slow tests: ./run_tests.sh -m slow (one process: they start clusters, servers and
# SIGKILLed runs of their own).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
case " $* " in
  *" -m "*) exec .venv/bin/python -m pytest -q "$@" ;;
  *) exec .venv/bin/python -m pytest -q -n 2 "$@" ;;
esac
