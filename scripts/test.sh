#!/usr/bin/env bash
# Set up, then run the whole test suite: lint, types, then the tiers.
#   unit + engine   scripted loopback servers and the simulated endpoint (both cores)
#   llama           end-to-end on the embedded llama.cpp model, serially
#   ray             a local Ray cluster on loopback, serially and alone
#   browser         the report and the viewer in headless Chromium, serially
# The serial tiers each need the whole (2-core) machine, so they run one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The test tiers also need the heavy extras the demo does not: Ray (~240 MB) and the metrics exporters.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[ray,metrics]"
bash scripts/setup-browser.sh
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
.venv/bin/mypy src/synthloom
.venv/bin/python -m pytest tests -m "not llama and not ray and not browser" -q "$@"
for tier in llama ray browser; do
  echo "== $tier tier"
  .venv/bin/python -m pytest tests -m "$tier" -q -p no:randomly "$@"
done
