"""What a run spends is committed with each row group, so the account in metadata.json survives a kill:
every committed group's usage is counted in exactly one session, and the sessions sum to the total."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig, subprocess_endpoint

from .conftest import model

COUNTS = ("requests", "failures", "rate_limited", "retries", "input_tokens", "output_tokens")
RECORDS = 150


def summed(entries: Any, alias: str, key: str) -> float:
    """`key` of `alias` summed over usage dicts (`{alias: {key: n}}`); absent entries count 0."""
    return sum((entry or {}).get(alias, {}).get(key, 0) for entry in entries)


# ---- in one process -------------------------------------------------------------------------------


async def test_row_group_usage_sums_to_the_run_usage(tmp_path: Path) -> None:
    # A small capacity gives 429s, two scripted 400s give failed exchanges: every counter moves.
    async with SimulatedEndpoint(SimulatedEndpointConfig(capacity=3, latency=0.01)) as ep:
        ep.script(*[{"status": 400, "body": "no"}] * 2)
        config = DatasetConfig.model_validate(
            {
                "name": "spend",
                "models": [
                    model("m", ep.base_url, pricing={"input_per_million": 3.0, "output_per_million": 7.0}),
                    model("j", ep.base_url),
                ],
                "columns": [
                    {"name": "k", "type": "sampler", "sampler": "category", "params": {"values": ["a", "b"]}},
                    {"name": "text", "type": "llm-text", "model": "m", "prompt": "Write about {{ k }}"},
                    {"name": "review", "type": "llm-text", "model": "j", "prompt": "Review {{ text }}"},
                ],
                "run": {"buffer_size": 10, "max_row_groups_in_flight": 3},
            }
        )
        result = await synthloom.acreate(config, 60, tmp_path)
    assert result.path is not None
    usage = json.loads((result.path / "usage.json").read_text())
    meta = result.metadata
    groups = [g.get("usage") for g in meta["row_groups"].values()]
    assert len(groups) == 6 and all(groups)
    assert usage["models"]["m"]["rate_limited"] + usage["models"]["j"]["rate_limited"] > 0
    assert usage["models"]["m"]["failures"] + usage["models"]["j"]["failures"] == 2
    for alias in ("m", "j"):
        for key in COUNTS:
            assert summed(groups, alias, key) == usage["models"][alias][key], (alias, key)
            assert meta["usage_total"][alias][key] == usage["models"][alias][key], (alias, key)
            assert meta["sessions"][0]["usage"][alias][key] == usage["models"][alias][key], (alias, key)
    assert usage["models"]["m"]["cost"] > 0
    assert summed(groups, "m", "cost") == pytest.approx(usage["models"]["m"]["cost"], abs=1e-5)
    assert meta["usage_total"]["m"]["cost"] == pytest.approx(usage["models"]["m"]["cost"], abs=1e-5)


# ---- across a kill --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.02, jitter=0.5)) as base_url:
        yield base_url


def read_metadata(run: Path) -> dict[str, Any]:
    try:
        return json.loads((run / "metadata.json").read_text())  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        return {}


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], limit: float = 60) -> None:
    """Poll until `condition` holds (the other process gives no other signal); fail if it ends first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        assert proc.poll() is None, "the run ended before the condition held"
        time.sleep(0.005)
    raise AssertionError("condition not reached")


def test_usage_of_a_killed_session_stays_in_the_account(tmp_path: Path, slow_server: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "spent",
                "models": [model("m", slow_server, max_parallel_requests=4)],
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {"name": "text", "type": "llm-text", "model": "m", "prompt": "{{ id }}"},
                ],
                "run": {"buffer_size": 10, "max_row_groups_in_flight": 2},
            }
        )
    )
    out = tmp_path / "out"
    run = out / "spent"
    command = [sys.executable, "-m", "synthloom", "create", str(config), "-n", str(RECORDS)]
    proc = subprocess.Popen(
        [*command, "-o", str(out), "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: len(read_metadata(run).get("row_groups", {})) >= 2, proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    at_kill = read_metadata(run)
    parts = {int(p.stem.removeprefix("part-")) for p in (run / "data").glob("part-*.parquet")}
    listed = {int(k) for k in at_kill["row_groups"]}
    assert listed <= parts and len(parts) < RECORDS // 10
    # A kill between a group's file and its metadata line leaves the group committed without its spend.
    unaccounted = parts - listed

    # Resumed by the same command line as the killed run (both read the source from disk).
    finished = subprocess.run(
        [*command, "-o", str(out), "--no-progress", "--resume", "always"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    resumed = synthloom.open_run(run)
    assert len(resumed) == RECORDS
    meta = resumed.metadata
    killed, final = meta["sessions"]
    assert (killed["status"], final["status"], meta["status"]) == ("killed", "completed", "completed")

    # The killed session keeps what it committed and spent: one request per record it committed.
    assert killed["records_committed"] == sum(at_kill["row_groups"][str(i)]["records"] for i in listed) > 0
    assert killed["usage"]["m"]["requests"] == killed["records_committed"]
    assert killed["usage"]["m"]["input_tokens"] > 0 and killed["usage"]["m"]["output_tokens"] > 0
    assert killed["usage"] == at_kill["sessions"][0]["usage"]

    groups = meta["row_groups"]
    assert sorted(int(k) for k in groups) == list(range(RECORDS // 10))
    for index, entry in groups.items():
        if int(index) in unaccounted:
            assert "usage" not in entry
        else:
            assert entry["usage"]["m"]["requests"] == entry["records"] == 10, index

    # Every committed group's spend counted once: the groups sum to the total, and so do the sessions.
    for key in COUNTS:
        by_groups = summed((g.get("usage") for g in groups.values()), "m", key)
        by_sessions = summed((s["usage"] for s in meta["sessions"]), "m", key)
        assert by_groups == by_sessions == meta["usage_total"]["m"][key], key
    assert meta["usage_total"]["m"]["requests"] == RECORDS - 10 * len(unaccounted)
    # usage.json is the resumed session's own account, which committed every group it ran.
    assert resumed.usage["models"]["m"]["requests"] == final["usage"]["m"]["requests"]
    assert final["records_committed"] == RECORDS - killed["records_committed"] - 10 * len(unaccounted)
