"""Every request the server answered is in the run's account after SIGKILLs: the spend journal
(`spend.jsonl`) is folded into `metadata.json` (`usage_paid`) on resume, apart from what the committed
rows cost (`usage_committed`). The kills are forced at chosen points: the simulated endpoint lets
exactly K requests through (`answer_limit`) and holds the rest, so the run is caught mid-group."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpointConfig, subprocess_endpoint

from .conftest import model
from .test_usage_accounting import read_metadata, wait_for

RECORDS = 60
PARALLEL = 4


@pytest.fixture
def held_server() -> Iterator[str]:
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.005, answer_limit=0)) as base_url:
        yield base_url


def _admin(base_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    root = base_url.removesuffix("/v1")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(root + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def _answered(base_url: str) -> int:
    return int(_admin(base_url, "GET", "/stats")["answered"])


def _journal_lines(run: Path) -> int:
    """The journal's complete lines of answered requests."""
    try:
        data = (run / "spend.jsonl").read_bytes()
    except FileNotFoundError:
        return 0
    lines = data.splitlines(keepends=True)
    return sum(1 for line in lines if line.endswith(b"\n") and b'"status":200' in line)


def _config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "storm",
                "models": [
                    model(
                        "m",
                        base_url,
                        max_parallel_requests=PARALLEL,
                        timeout=300,  # a held request is never given up on
                        pricing={"input_per_million": 1.0, "output_per_million": 2.0},
                    )
                ],
                "columns": [
                    {"name": "id", "type": "sampler", "sampler": "uuid"},
                    {"name": "text", "type": "llm-text", "model": "m", "prompt": "{{ id }}"},
                ],
                "run": {"buffer_size": 10, "max_row_groups_in_flight": 2},
            }
        )
    )
    return path


def _start(config: Path, out: Path, *, resume: bool) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "synthloom", "create", str(config), "-n", str(RECORDS)]
    command += ["-o", str(out), "--no-progress"] + (["--resume", "always"] if resume else [])
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _journal_in_flight(run: Path, session: int) -> int | None:
    """The last count of requests in flight the journal holds for `session` (None: none yet)."""
    try:
        data = (run / "spend.jsonl").read_bytes()
    except FileNotFoundError:
        return None
    last = None
    for line in data.splitlines(keepends=True):
        if line.endswith(b"\n") and b'"in_flight"' in line:
            entry = json.loads(line)
            if entry["session"] == session:
                last = entry["in_flight"]
    return last


def _held(base_url: str) -> int:
    return int(_admin(base_url, "GET", "/stats")["held"])


def test_answered_requests_stay_paid_after_kills_at_chosen_points(tmp_path: Path, held_server: str) -> None:
    config, out = _config(tmp_path, held_server), tmp_path / "out"
    run = out / "storm"
    # Two kills, each once the server answered exactly `limit` requests in all, holds the next ones,
    # and the journal holds both (every line flushed): the account must then be exact.
    held_at_kill = []
    for session, limit in enumerate((13, 31)):
        _admin(held_server, "POST", "/admin/config", {"answer_limit": limit})
        proc = _start(config, out, resume=session > 0)

        def caught(k: int = limit, session: int = session) -> bool:
            held = _held(held_server)
            return (
                _answered(held_server) == k
                and _journal_lines(run) >= k
                and held > 0
                and _journal_in_flight(run, session) == held
            )

        try:
            wait_for(caught, proc)
            held_at_kill.append(_held(held_server))
        finally:
            _kill(proc)
        assert _journal_lines(run) == limit == _answered(held_server)
    # A third kill as soon as more are answered, with no wait for the journal: what is lost is at
    # most the replies that reached the process and not yet their line (fewer than in flight).
    _admin(held_server, "POST", "/admin/config", {"answer_limit": None})
    proc = _start(config, out, resume=True)
    try:
        wait_for(lambda: _answered(held_server) >= 40, proc)
    finally:
        _kill(proc)
    answered_at_third_kill = _answered(held_server)
    lost_bound = answered_at_third_kill - _journal_lines(run)
    assert 0 <= lost_bound <= PARALLEL

    resume = ["-o", str(out), "--no-progress", "--resume", "always"]
    finished = subprocess.run(
        [sys.executable, "-m", "synthloom", "create", str(config), "-n", str(RECORDS), *resume],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    meta = synthloom.open_run(run).metadata
    answered = _answered(held_server)
    assert [s["status"] for s in meta["sessions"]] == ["killed", "killed", "killed", "completed"]
    paid, committed = meta["usage_paid"]["m"], meta["usage_committed"]["m"]
    # Paid: everything the server answered, the three killed sessions included (answers a resumed
    # session took from the response cache are counted apart, unpaid).
    # Requests in flight when a session was killed count as paid too (`unread`: sent, perhaps answered,
    # never read); here the server held them, so they are exactly what it held at the first two kills.
    sent = paid["requests"] - paid["cached"]
    unread = paid.get("unread", 0)
    assert paid["failures"] == 0 and sent - unread <= answered
    assert answered - (sent - unread) <= lost_bound
    assert answered - sent <= PARALLEL  # with the in-flight counts, at most a loop turn's sends are missing
    first_two = meta["sessions"][:2]
    assert [s["paid"]["m"]["unread"] for s in first_two] == held_at_kill
    assert [
        s["paid"]["m"]["requests"] - s["paid"]["m"]["cached"] - s["paid"]["m"]["unread"] for s in first_two
    ] == [13, 18]
    assert sum(s["paid"]["m"]["requests"] for s in meta["sessions"]) == paid["requests"]
    # Paid for the rows you have: one request per committed record; the killed sessions' unfinished
    # groups were paid for and regenerated.
    assert committed["requests"] == RECORDS and committed["requests"] - committed["cached"] < sent
    assert paid["cost"] > committed["cost"] > 0
    assert paid["input_tokens"] > committed["input_tokens"]
    # The summary line of `create` shows both.
    assert "paid" in finished.stdout and "for the rows kept" in finished.stdout


def test_a_journal_that_cannot_be_written_fails_the_run_as_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthloom.models import spend_journal

    real = spend_journal._write_all
    calls = {"n": 0}

    def write_all(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] >= 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(spend_journal, "_write_all", write_all)

    from synthloom.testing import SimulatedEndpoint

    async def go() -> None:
        async with SimulatedEndpoint(SimulatedEndpointConfig()) as ep:
            config = DatasetConfig.model_validate(
                {
                    "name": "full",
                    "models": [model("m", ep.base_url, max_parallel_requests=1)],
                    "columns": [{"name": "t", "type": "llm-text", "model": "m", "prompt": "hi"}],
                    "run": {"buffer_size": 2, "max_row_groups_in_flight": 1},
                }
            )
            with pytest.raises(synthloom.OutputError) as caught:
                await synthloom.acreate(config, 20, tmp_path)
            message = str(caught.value)
            assert "spend.jsonl" in message and "disk is full" in message
            assert "Traceback" not in message

    import asyncio

    asyncio.run(go())
    meta = read_metadata(tmp_path / "full")
    assert meta["status"] == "failed" and meta["sessions"][-1]["status"] == "failed"
    assert meta["committed_records"] < 20


def test_a_full_disk_marks_the_session_failed_not_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills while row group 1 is written; every later write fails too until the session's
    # reserve is freed, which is the room its end is recorded in.
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
        if full["now"] and (self.root / ".reserve").exists():
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
    with pytest.raises(synthloom.OutputError, match=r"part-00001.*disk is full"):
        synthloom.create(config, 6, tmp_path)
    meta = read_metadata(tmp_path / "full")
    assert meta["status"] == "failed" and meta["sessions"][-1]["status"] == "failed"
    assert not (tmp_path / "full" / ".reserve").exists()
    monkeypatch.undo()
    synthloom.create(config, 6, tmp_path, resume="always")
    meta = read_metadata(tmp_path / "full")
    assert [s["status"] for s in meta["sessions"]] == ["failed", "completed"]
