#!/usr/bin/env bash
# The test command: sets up .venv if needed, then runs the fast test suite.
# Slow tests: ./run_tests.sh -m slow
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup_env.sh
exec .venv/bin/python -m pytest -q "$@"
