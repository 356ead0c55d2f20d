"""synthloom's orchestration overhead beside the peer (NeMo Data Designer), measured in the same run.

Scenario:
  orchestration  the latency-0 diamond of `bench_engine.py orchestration` (2,000 records, 6,000 LLM cells,
                 lineage on, the default), then the same diamond written in the peer's API
                 (`peer_diamond.py`), each against its own simulated endpoint in a child process
                 (latency 0, no capacity limit), back to back: LLM cells per second, client CPU ms per
                 cell, and synthloom's advantage on both.

The peer runs in its own virtualenv, outside this repository (it is not a dependency of synthloom):

    python3 -m venv /tmp/ddvenv && /tmp/ddvenv/bin/pip install data-designer
    python benchmarks/bench_peer.py                       # PEER_PYTHON=/other/venv/bin/python to move it

Without it the scenario says so in its figures (`peer.status`) and reports synthloom alone.
Results go to benchmarks/results/peer.json and the "Orchestration beside the peer" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_engine import orchestration as synthloom_orchestration
from harness import run_scenarios, server_stats

from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

HERE = Path(__file__).parent
PEER_SCRIPT = HERE / "peer_diamond.py"
PEER_PYTHON = Path(os.environ.get("PEER_PYTHON", "/tmp/ddvenv/bin/python"))

# The peer's best settings in a sweep on this machine (2,000 records, wall s): buffer_size 250 / 500 /
# 1,000 (its default) / 2,000 at 256 parallel requests: 41.5 / 39.5 / 45.8 / 45.8; then at buffer 500,
# max_parallel_requests 256 / 64 / 16 / 4 (its default): 39.5 / 32.6 / 29.2 / 29.3.
PEER_BUFFER_SIZE = 500
PEER_MAX_PARALLEL = 16
PEER_TIMEOUT_S = 1800


def _peer_unavailable() -> str | None:
    """Why the peer cannot run here, or None when it can."""
    if not PEER_PYTHON.exists():
        return f"peer not installed: {PEER_PYTHON} does not exist (see this module's docstring)"
    probe_args = [str(PEER_PYTHON), "-c", "import data_designer.interface"]
    probe = subprocess.run(probe_args, capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        return f"peer not importable with {PEER_PYTHON}: {probe.stderr.strip().splitlines()[-1:]}"
    return None


def _peer(records: int) -> dict[str, Any]:
    """The peer's diamond against a fresh simulated endpoint; its own figures, or why there are none."""
    reason = _peer_unavailable()
    if reason is not None:
        return {"status": reason}
    with subprocess_endpoint(SimulatedEndpointConfig()) as base_url:
        args = [str(PEER_PYTHON), str(PEER_SCRIPT), base_url, str(records)]
        args += [str(PEER_BUFFER_SIZE), str(PEER_MAX_PARALLEL)]
        run = subprocess.run(args, capture_output=True, text=True, timeout=PEER_TIMEOUT_S)
        stats = server_stats(base_url)
    if run.returncode != 0:
        tail = run.stderr.strip().splitlines()[-5:]
        return {"status": f"peer run failed (exit {run.returncode})", "stderr_tail": tail}
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    cells = records * 3
    return {
        "status": "ran",
        "version": figures["version"],
        "records": figures["records"],
        "complete_records": figures["complete_records"],
        "llm_cells": cells,
        "server_requests": stats.get("requests"),
        "wall_s": round(figures["wall_s"], 2),
        "cells_per_s": round(cells / figures["wall_s"], 1),
        "client_cpu_s": round(figures["cpu_s"], 2),
        "client_cpu_ms_per_cell": round(figures["cpu_s"] / cells * 1000, 3),
        "settings": {"buffer_size": PEER_BUFFER_SIZE, "max_parallel_requests": PEER_MAX_PARALLEL},
    }


def orchestration(records: int) -> dict[str, Any]:
    ours = synthloom_orchestration(records)
    ours["settings"] = {"buffer_size": 500, "max_parallel_requests": 256, "lineage": "on (default)"}
    peer = _peer(records)
    result: dict[str, Any] = {"synthloom": ours, "peer": peer}
    if peer["status"] == "ran":
        result["cells_per_s_ratio"] = round(ours["cells_per_s"] / peer["cells_per_s"], 2)
        cpu_ratio = peer["client_cpu_ms_per_cell"] / ours["client_cpu_ms_per_cell"]
        result["cpu_per_cell_ratio"] = round(cpu_ratio, 2)
    else:
        print(f"peer did not run: {peer['status']}; reporting synthloom only", file=sys.stderr)
    return result


SCENARIOS = {"orchestration": (orchestration, 2000)}


def main() -> None:
    run_scenarios(__doc__, SCENARIOS, "peer")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
