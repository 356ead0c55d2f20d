#!/usr/bin/env bash
# The quick start's main job: set up, then generate a small dataset on the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/synthloom create examples/quickstart.yaml --num-records "${RECORDS:-8}" --output output "$@"
.venv/bin/python -c "
import synthloom, json
r = synthloom.open_run('output/quickstart')
for row in list(r)[:3]:
    print(json.dumps(row, indent=2, default=str)[:1500])
"
