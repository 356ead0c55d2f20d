#!/usr/bin/env bash
# Run every benchmark (about 10 minutes on 2 cores). Figures: benchmarks/results/*.json; the prose
# and targets are in benchmarks/RESULTS.md. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python benchmarks/bench_model_free.py --save
.venv/bin/python benchmarks/bench_model_client.py
.venv/bin/python benchmarks/bench_engine.py
.venv/bin/python benchmarks/bench_iterate.py
