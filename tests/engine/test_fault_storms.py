"""Storms: a server that fails in every way at once, a 429 storm mid-run, and a disk that fills up."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom import DatasetConfig
from synthloom.interface.cli import cli
from synthloom.models import adaptive_limiter
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model


def _parts(run: Path) -> list[Path]:
    return sorted((run / "data").glob("part-*.parquet"))


def _failure_lines(run: Path) -> list[dict[str, Any]]:
    path = run / "failures.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check_consistent(run: Path) -> dict[str, Any]:
    """metadata.json agrees with the data files and failures.jsonl."""
    meta = json.loads((run / "metadata.json").read_text())
    rows = {int(p.name[5:10]): pq.read_table(p).num_rows for p in _parts(run)}
    assert meta["committed_records"] == sum(rows.values())
    assert {int(k): v["records"] for k, v in meta["row_groups"].items()} == rows
    committed = set(rows)
    failures = [f for f in _failure_lines(run) if f["row_group"] in committed]
    assert meta["failed_records"] == len(failures)
    for index, group in meta["row_groups"].items():
        in_file = sum(1 for f in failures if f["row_group"] == int(index))
        assert group["failed"] == in_file
        assert group["records"] + group["failed"] == group["size"]
    assert not list((run / "data").glob(".*.tmp"))
    return meta


# ---- everything goes wrong at once ------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "maxLength": 30}, "score": {"type": "integer"}},
    "required": ["answer", "score"],
}


async def test_structured_columns_survive_a_storm_of_5xx_malformed_hangs_and_drops(tmp_path: Path) -> None:
    storm = SimulatedEndpointConfig(
        latency=0.005,
        error_rate=0.2,
        malformed_rate=0.1,
        hang_rate=0.05,
        hang_seconds=1.0,
        drop_rate=0.05,
        seed=11,
    )
    async with SimulatedEndpoint(storm) as endpoint:
        config = DatasetConfig.model_validate(
            {
                "name": "storm",
                "models": [model("m", endpoint.base_url, timeout=0.3, max_retries=6)],
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {
                        "name": "a",
                        "type": "llm-structured",
                        "model": "m",
                        "prompt": "A {{ id }}",
                        "schema": SCHEMA,
                    },
                    {
                        "name": "b",
                        "type": "llm-structured",
                        "model": "m",
                        "prompt": "B {{ a.answer }}",
                        "schema": SCHEMA,
                    },
                ],
                "run": {"buffer_size": 10, "max_row_groups_in_flight": 3, "max_failure_rate": 0.9},
            }
        )
        result = await asyncio.wait_for(synthloom.acreate(config, 60, tmp_path), 25)
        stats = endpoint.stats()
    run = tmp_path / "storm"
    # Every storm kind actually happened.
    assert stats["server_errors"] and stats["malformed"] and stats["hangs"] and stats["drops"], stats
    # Every record is either in the data or in failures.jsonl with a reason.
    assert len(result) + len(result.failures) == 60
    assert len(result) >= 50
    for f in result.failures:
        assert f["error"] and f["error_type"] and f["column"] in ("a", "b") and f["attempts"] >= 1
    rows = list(result)
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert isinstance(row["a"]["answer"], str) and isinstance(row["b"]["score"], int)
    usage = json.loads((run / "usage.json").read_text())
    assert usage["models"]["m"]["retries"] > 0
    meta = _check_consistent(run)
    assert meta["status"] == "completed" and meta["committed_records"] == len(result)


# ---- a 429 storm --------------------------------------------------------------------------------


@pytest.mark.parametrize("jitter", [0.0, 0.3])
async def test_429_storm_backs_off_then_recovers(
    jitter: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiters: list[adaptive_limiter.AdaptiveLimiter] = []
    original_init = adaptive_limiter.AdaptiveLimiter.__init__

    def spy_init(self: adaptive_limiter.AdaptiveLimiter, *args: Any, **kwargs: Any) -> None:
        # The 429 signal alone: on a loaded machine the client's own event loop makes latency grow with
        # concurrency, and the latency signal rightly holds the level low (the limiter tests cover it).
        original_init(self, *args, **{**kwargs, "latency_tolerance": 1e9})
        limiters.append(self)

    monkeypatch.setattr(adaptive_limiter.AdaptiveLimiter, "__init__", spy_init)
    timeline: dict[str, Any] = {}
    # With jitter, latency noise at a low level must not read as queueing (it once held the level at ~4).
    server_config = SimulatedEndpointConfig(latency=0.015, jitter=jitter, capacity=64)
    async with SimulatedEndpoint(server_config) as endpoint:
        config = DatasetConfig.model_validate(
            {
                "name": "storm429",
                "models": [model("m", endpoint.base_url, max_parallel_requests=64)],
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {"name": "t", "type": "llm-text", "model": "m", "prompt": "hi {{ id }}"},
                ],
                "run": {"buffer_size": 200, "max_row_groups_in_flight": 4},
            }
        )

        async def weather() -> None:
            # The storm comes once the run is at speed (a level well above the storm's capacity) ...
            while not limiters or endpoint.stats()["requests"] < 400 or limiters[0].limit < 16:
                await asyncio.sleep(0.005)
            limiter = limiters[0]
            timeline["before"] = limiter.stats().as_dict()
            endpoint.update(capacity=4)
            # ... and lasts until the level came down to it (however slowly a loaded machine gets there).
            started = time.monotonic()
            while limiter.limit > 8 or time.monotonic() - started < 0.6:
                await asyncio.sleep(0.005)
            timeline["storm"] = limiter.stats().as_dict()
            endpoint.update(capacity=64)
            timeline["storm_requests"] = endpoint.stats()["requests"]

        weatherman = asyncio.create_task(weather())
        # The guards only stop a hang: a loaded machine may take minutes, and that is not a failure.
        result = await asyncio.wait_for(synthloom.acreate(config, 4000, tmp_path), 600)
        await asyncio.wait_for(weatherman, 60)
        server = endpoint.stats()
    assert len(result) == 4000 and result.failures == []
    assert server["requests"] - timeline["storm_requests"] > 500  # the run went on well past the storm
    before, storm = timeline["before"], timeline["storm"]
    usage = json.loads((tmp_path / "storm429" / "usage.json").read_text())
    final = usage["limiters"]["m"]
    # Down during the storm, up again after it.
    assert storm["decreases"] > before["decreases"]
    assert storm["limit"] < before["limit"] <= 64, (before, storm)
    assert final["increases"] > storm["increases"]
    assert final["limit"] > storm["limit"], (storm, final)
    assert final["rate_limited"] > 0 and final["peak_in_flight"] <= 64
    # Not a flood: 429s stay a small share of everything sent.
    assert server["rate_limited"] / server["requests"] < 0.3, server
    assert usage["models"]["m"]["requests"] == 4000


# ---- the disk fills up --------------------------------------------------------------------------

RECORDS = 60


def _disk_config(tmp_path: Path) -> Path:
    path = tmp_path / "disk.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "disk",
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {"name": "n", "type": "sampler", "sampler": "uniform", "params": {"low": 0, "high": 9}},
                    {"name": "e", "type": "expression", "expr": "{{ id }}-{{ n }}"},
                ],
                "run": {"buffer_size": 10, "max_row_groups_in_flight": 1},
            }
        )
    )
    return path


def _fill_disk_on_commit(monkeypatch: pytest.MonkeyPatch, nth: int) -> list[str]:
    """`os.replace` onto a part file raises ENOSPC from the `nth` such call on."""
    real_replace = os.replace
    calls: list[str] = []

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        name = Path(dst).name
        if name.startswith("part-") and name.endswith(".parquet"):
            calls.append(name)
            if len(calls) >= nth:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def _check_intact(run: Path, committed: int) -> None:
    parts = _parts(run)
    assert [p.name for p in parts] == [f"part-{i:05d}.parquet" for i in range(committed)]
    for part in parts:
        assert pq.read_table(part).num_rows == 10
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]


def test_disk_full_stops_with_a_clear_error_and_resume_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _disk_config(tmp_path)
    out = tmp_path / "out"
    calls = _fill_disk_on_commit(monkeypatch, nth=3)
    with pytest.raises(synthloom.OutputError, match="disk is full") as raised:
        synthloom.create(config, RECORDS, out)
    assert "part-00002.parquet" in str(raised.value) and "resume" in str(raised.value)
    assert calls == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    run = out / "disk"
    _check_intact(run, committed=2)
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "failed" and meta["committed_records"] == 20
    assert synthloom.open_run(run).to_arrow().num_rows == 20  # what was committed reads back

    monkeypatch.undo()
    result = synthloom.create(config, RECORDS, out, resume="always")
    assert len(result) == RECORDS
    ids = [r["id"] for r in result]
    assert len(set(ids)) == RECORDS
    meta = _check_consistent(run)
    assert meta["status"] == "completed" and meta["committed_records"] == RECORDS


def test_disk_full_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _disk_config(tmp_path)
    out = tmp_path / "out"
    _fill_disk_on_commit(monkeypatch, nth=2)
    args = ["create", str(config), "-n", str(RECORDS), "-o", str(out), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "disk is full" in error_lines[0], result.output
    _check_intact(out / "disk", committed=1)

    monkeypatch.undo()
    result = CliRunner().invoke(cli, [*args, "--resume", "always"])
    assert result.exit_code == 0, result.output
    assert synthloom.open_run(out / "disk").to_arrow().num_rows == RECORDS
