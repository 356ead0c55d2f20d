"""Faults lose nothing: a killed process resumes exactly; an endpoint that vanishes is waited for."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig, subprocess_endpoint

from .conftest import model

RECORDS = 120


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.01, jitter=0.5)) as base_url:
        yield base_url


def _write_config(tmp_path: Path, base_url: str) -> Path:
    config = {
        "name": "killed",
        "models": [model("m", base_url, max_parallel_requests=8)],
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {
                "name": "topic",
                "type": "sampler",
                "sampler": "category",
                "params": {"values": ["a", "b", "c"]},
            },
            {"name": "text", "type": "llm-text", "model": "m", "prompt": "{{ id }} about {{ topic }}"},
        ],
        "run": {"buffer_size": 10, "max_row_groups_in_flight": 2},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _create_command(config: Path, out: Path, *extra: str) -> list[str]:
    """`synthloom create` for the test's config, in a process of its own (so it can be killed)."""
    return [
        sys.executable,
        "-m",
        "synthloom",
        "create",
        str(config),
        "-n",
        str(RECORDS),
        "-o",
        str(out),
        "--no-progress",
        *extra,
    ]


def _start(config: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _create_command(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], limit: float = 60) -> bool:
    """Poll until `condition` holds or the process ends; True when the condition held."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return condition()
        time.sleep(0.005)
    raise AssertionError("condition not reached")


def _parts(run: Path) -> list[Path]:
    return sorted((run / "data").glob("part-*.parquet")) if (run / "data").exists() else []


def _check_complete(run: Path) -> None:
    ids: list[str] = []
    for part in _parts(run):
        table = pq.read_table(part)  # every file readable
        ids.extend(table.column("id").to_pylist())
        assert all(t.startswith("Simulated reply to: ") for t in table.column("text").to_pylist())
    assert len(ids) == RECORDS
    assert len(set(ids)) == RECORDS  # no duplicated row
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "completed"
    assert meta["committed_records"] == RECORDS
    assert sorted(int(k) for k in meta["row_groups"]) == list(range(RECORDS // 10))
    assert not list((run / "data").glob(".*.tmp"))


@pytest.mark.parametrize(
    "kill_when",
    ["before_first_commit", "after_first_commit", "mid_run", "while_writing", "during_final_summary"],
)
def test_sigkill_then_resume_gives_exactly_the_requested_records(
    kill_when: str, tmp_path: Path, slow_server: str
) -> None:
    config = _write_config(tmp_path, slow_server)
    out = tmp_path / "out"
    run = out / "killed"
    proc = _start(config, out)
    conditions = {
        "before_first_commit": lambda: (run / "metadata.json").exists(),
        "after_first_commit": lambda: len(_parts(run)) >= 1,
        "mid_run": lambda: len(_parts(run)) >= RECORDS // 20,
        "while_writing": lambda: (
            bool(list((run / "data").glob(".part-*.tmp"))) if (run / "data").exists() else False
        ),
        # Every group committed; the process is writing usage.json and the final metadata.
        "during_final_summary": lambda: len(_parts(run)) == RECORDS // 10,
    }
    reached = _wait_for(conditions[kill_when], proc)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if kill_when == "while_writing" and not reached:
        pytest.skip("the run finished before a write could be caught in progress")
    committed_before = len(_parts(run))
    assert committed_before < RECORDS // 10 or kill_when in ("while_writing", "during_final_summary")

    result = subprocess.run(
        _create_command(config, out, "--resume", "always"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    _check_complete(run)


def test_resumed_rows_are_identical_to_an_uninterrupted_run(tmp_path: Path, slow_server: str) -> None:
    config = _write_config(tmp_path, slow_server)
    proc = _start(config, tmp_path / "a")
    _wait_for(lambda: len(_parts(tmp_path / "a" / "killed")) >= 3, proc)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    synthloom.create(config, RECORDS, tmp_path / "a", resume="always")
    synthloom.create(config, RECORDS, tmp_path / "b", resume="never")
    resumed = sorted((r["id"], r["topic"], r["text"]) for r in synthloom.open_run(tmp_path / "a" / "killed"))
    fresh = sorted((r["id"], r["topic"], r["text"]) for r in synthloom.open_run(tmp_path / "b" / "killed"))
    assert resumed == fresh


async def test_run_waits_for_an_endpoint_that_comes_back(tmp_path: Path) -> None:
    endpoint = SimulatedEndpoint(SimulatedEndpointConfig(latency=0.005))
    await endpoint.start()
    port = endpoint.port
    config = DatasetConfig.model_validate(
        {
            "name": "outage",
            "models": [model("m", endpoint.base_url, max_retries=1)],
            "columns": [{"name": "t", "type": "llm-text", "model": "m", "prompt": "hi"}],
            "run": {"buffer_size": 10, "max_row_groups_in_flight": 1, "endpoint_deadline": 60},
        }
    )
    run = asyncio.create_task(synthloom.acreate(config, 60, tmp_path))
    while not _parts(tmp_path / "outage"):
        await asyncio.sleep(0.005)
    await endpoint.stop()
    await asyncio.sleep(1.5)  # the outage itself: nothing listens on the port meanwhile
    revived = SimulatedEndpoint(SimulatedEndpointConfig(), port=port)
    await revived.start()
    try:
        result = await asyncio.wait_for(run, 60)
    finally:
        await revived.stop()
    assert len(result) == 60
    assert result.failures == []


async def test_endpoint_gone_past_the_deadline_stops_with_a_clear_error(tmp_path: Path) -> None:
    endpoint = SimulatedEndpoint(SimulatedEndpointConfig())
    await endpoint.start()
    base_url = endpoint.base_url
    await endpoint.stop()
    config = DatasetConfig.model_validate(
        {
            "name": "gone",
            "models": [model("m", base_url, max_retries=0)],
            "columns": [{"name": "t", "type": "llm-text", "model": "m", "prompt": "hi"}],
            "run": {"buffer_size": 5, "endpoint_deadline": 0.2, "failure_window": 5, "max_failure_rate": 0.5},
        }
    )
    with pytest.raises(synthloom.EarlyShutdownError):
        # The deadline itself is under test: skip the check that refuses a dead endpoint at the start.
        await synthloom.acreate(config, 20, tmp_path, check_endpoints=False)
    failures = synthloom.open_run(tmp_path / "gone").failures
    assert failures and "endpoint_deadline" in failures[0]["error"]


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = DatasetConfig.model_validate({"columns": [{"name": "x", "type": "sampler", "sampler": "uuid"}]})
    with pytest.raises(synthloom.OutputError, match="cannot write to output directory"):
        synthloom.create(config, 5, blocker / "out")


async def test_waiting_out_an_outage_spends_none_of_a_cells_retries(tmp_path: Path) -> None:
    # The client itself does not retry (max_retries=0): every failure reaches the engine. The cell may
    # retry a server error once; the dropped connection before it is an outage, not a retry.
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        endpoint.script({"drop": True}, {"status": 503})
        config = DatasetConfig.model_validate(
            {
                "name": "blip",
                "models": [model("m", endpoint.base_url, max_retries=0)],
                "columns": [{"name": "t", "type": "llm-text", "model": "m", "prompt": "hi"}],
                "run": {"buffer_size": 1, "cell_retries": 1, "endpoint_deadline": 60},
            }
        )
        result = await synthloom.acreate(config, 1, tmp_path)
        assert endpoint.stats()["drops"] == 1 and endpoint.stats()["server_errors"] == 1
    assert result.failures == [] and len(result) == 1


def test_a_full_disk_names_the_write_that_failed_not_the_bookkeeping_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills while row group 1 is written: every later write fails the same way. The error the
    # user sees is the data write's, not that of metadata.json or usage.json written after it.
    import errno

    from synthloom.store import run_directory

    real_commit = run_directory.RunDirectory.commit_row_group
    full = {"now": False}

    def commit(self: run_directory.RunDirectory, index: int, table: Any, note: Any = None) -> None:
        if index == 1:
            full["now"] = True
            raise run_directory._output_error(
                f"cannot write {self.part_path(index)}", OSError(errno.ENOSPC, "No space left on device")
            )
        real_commit(self, index, table, note)

    real_write = run_directory.RunDirectory._atomic_write

    def atomic_write(self: run_directory.RunDirectory, path: Path, data: bytes) -> None:
        if full["now"]:
            raise run_directory._output_error(f"cannot write {path}", OSError(errno.ENOSPC, "No space"))
        real_write(self, path, data)

    monkeypatch.setattr(run_directory.RunDirectory, "commit_row_group", commit)
    monkeypatch.setattr(run_directory.RunDirectory, "_atomic_write", atomic_write)
    config = DatasetConfig.model_validate(
        {
            "name": "full",
            "columns": [{"name": "x", "type": "sampler", "sampler": "uuid"}],
            "run": {"buffer_size": 2, "max_row_groups_in_flight": 1},
        }
    )
    with pytest.raises(synthloom.OutputError) as caught:
        synthloom.create(config, 6, tmp_path)
    assert "part-00001" in str(caught.value) and "disk is full" in str(caught.value)
    assert "metadata.json" not in str(caught.value) and "usage.json" not in str(caught.value)
