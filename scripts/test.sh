#!/usr/bin/env bash
# Set up, then run the whole test suite: lint, types, unit, engine and end-to-end tiers.
# The end-to-end tier uses the embedded llama.cpp model and runs serially (2-core machines).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
.venv/bin/mypy src/synthloom
.venv/bin/python -m pytest tests -m "not llama" -q "$@"
.venv/bin/python -m pytest tests -m llama -q -p no:randomly "$@"
