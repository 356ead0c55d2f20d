"""A process killed after a row group's file is written but before `metadata.json` lists it: the
resume adopts the group from its file, and the group's usage, session and failed rows are not lost
(the file carries its note; failed rows are written before the data). The kill is forced at that
point: the child process exits from inside the metadata update of its second group."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

import synthloom
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

from .conftest import model

RECORDS = 30

CHILD = """
import os, sys
from synthloom.store.metadata import RunMetadata
import synthloom

real = RunMetadata.group_committed

def group_committed(self, index, **kwargs):
    if index == 1:
        os._exit(9)  # killed: group 1's file is on disk, the metadata does not list it
    return real(self, index, **kwargs)

RunMetadata.group_committed = group_committed
synthloom.create(sys.argv[1], int(sys.argv[2]), sys.argv[3], progress=False)
"""


def _config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "config.yaml"
    columns = [
        {"name": "id", "type": "sampler", "sampler": "uuid"},
        {"name": "text", "type": "llm-text", "model": "m", "prompt": "Say {{ id }}"},
    ]
    # No retries: the server's 5xx answers fail their rows, so a group has failed rows to lose.
    run = {"buffer_size": 10, "max_row_groups_in_flight": 1, "allow_partial": True, "cell_retries": 0}
    pricing = {"input_per_million": 1.0, "output_per_million": 2.0}
    models = [model("m", base_url, pricing=pricing, max_retries=0)]
    path.write_text(yaml.safe_dump({"name": "adopt", "models": models, "columns": columns, "run": run}))
    return path


def test_a_group_written_before_the_kill_keeps_its_usage_and_session(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.001, error_rate=0.3, seed=3)) as base_url:
        config = _config(tmp_path, base_url)
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(config), str(RECORDS), str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == 9, child.stderr
        run = out / "adopt"
        listed = yaml.safe_load((run / "metadata.json").read_text())["row_groups"]
        assert set(listed) == {"0"} and (run / "data" / "part-00001.parquet").exists()
        # The group's failed rows reached failures.jsonl before its data did.
        failures = [json.loads(line) for line in (run / "failures.jsonl").read_text().splitlines()]
        failed_in_1 = sum(1 for f in failures if f["row_group"] == 1)
        assert failed_in_1 > 0

        result = synthloom.create(config, RECORDS, out, resume="always", progress=False)

    meta = result.metadata
    group = meta["row_groups"]["1"]
    assert group["session"] == 0 and group["usage"]["m"]["requests"] >= group["records"] > 0
    assert group["failed"] == failed_in_1
    assert meta["sessions"][0]["records_committed"] == listed["0"]["records"] + group["records"]
    # Every committed group's usage is in the run's account of what the rows cost.
    per_group = sum(g["usage"]["m"]["requests"] for g in meta["row_groups"].values())
    assert meta["usage_committed"]["m"]["requests"] == per_group
    assert all("usage" in g for g in meta["row_groups"].values())
    # The note stays in the run: the dataset and its exports carry no trace of it.
    assert result.to_arrow().schema.metadata is None or all(
        not key.startswith(b"synthloom") for key in result.to_arrow().schema.metadata
    )
    assert b"synthloom.row_group" in pq.read_schema(run / "data" / "part-00001.parquet").metadata
