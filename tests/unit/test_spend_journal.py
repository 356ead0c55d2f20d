"""The spend journal: lines written as exchanges end, read back per session and model; a torn line
(a session killed mid-write, a short write on a full disk) is skipped, never an error."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import orjson
import pytest

from synthloom.errors import OutputError
from synthloom.models import spend_journal
from synthloom.models.results import CallUsage
from synthloom.models.spend_journal import SpendJournal
from synthloom.models.usage import UsageTracker
from synthloom.store.spend_account import read_spend_journal


def _usage(tokens_in: int = 10, tokens_out: int = 20, codes: tuple[int | None, ...] = (200,)) -> CallUsage:
    return CallUsage(
        input_tokens=tokens_in, output_tokens=tokens_out, attempts=len(codes), status_codes=list(codes)
    )


def test_lines_read_back_per_session_and_model(tmp_path: Path) -> None:
    path = tmp_path / "spend.jsonl"
    first = SpendJournal(path, session=0)
    first.add("m", "text", _usage(), ok=True, cached=False, cost=0.5, row_group=0)
    first.add("m", "text", _usage(codes=(429, 503, 200)), ok=True, cached=False, cost=0.25, row_group=0)
    first.add("j", None, _usage(codes=(400,)), ok=False, cached=False, cost=0.0, row_group=None)
    first.close()
    second = SpendJournal(path, session=1)
    second.add("m", "text", _usage(), ok=True, cached=True, cost=0.0, row_group=3)
    second.close()

    read = read_spend_journal(path)
    assert read.lines == 4 and read.skipped == 0 and read.offset == path.stat().st_size
    assert read.sessions[0]["m"] == {
        "requests": 2,
        "cached": 0,
        "failures": 0,
        "rate_limited": 1,
        "retries": 1,
        "input_tokens": 20,
        "output_tokens": 40,
        "cost": 0.75,
    }
    assert read.sessions[0]["j"]["failures"] == 1 and read.sessions[0]["j"]["requests"] == 1
    # A cached answer is counted, at no cost and no tokens.
    assert read.sessions[1]["m"] == {"requests": 1, "cached": 1}
    first_line = orjson.loads(path.read_bytes().splitlines()[0])
    assert first_line["status"] == 200 and first_line["column"] == "text" and first_line["row_group"] == 0


def test_a_torn_last_line_is_left_out_and_the_next_session_starts_a_line_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "spend.jsonl"
    journal = SpendJournal(path, session=0)
    for _ in range(3):
        journal.add("m", "t", _usage(), ok=True, cached=False, cost=1.0, row_group=0)
    journal.close()
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 17])  # killed in the middle of the last line

    read = read_spend_journal(path)
    assert read.sessions[0]["m"]["requests"] == 2 and read.skipped == 0
    assert read.offset == whole.index(b"\n", whole.index(b"\n") + 1) + 1  # past the last whole line

    resumed = SpendJournal(path, session=1)
    resumed.add("m", "t", _usage(), ok=True, cached=False, cost=1.0, row_group=1)
    resumed.close()
    again = read_spend_journal(path, offset=read.offset)
    assert again.skipped == 1  # the torn line, ended by the next session
    assert again.sessions == {1: {"m": again.sessions[1]["m"]}} and again.sessions[1]["m"]["requests"] == 1
    assert again.offset == path.stat().st_size


def test_garbage_lines_are_skipped_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "spend.jsonl"
    good = b'{"session": 0, "model": "m", "requests": 1, "cost": 0.5}\n'
    path.write_bytes(good + b"not json\n" + b"[1, 2]\n" + b'{"session": "x", "model": "m"}\n\n' + good)
    read = read_spend_journal(path)
    assert read.sessions == {0: {"m": {"requests": 2, "cost": 1.0}}} and read.skipped == 3


def test_a_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    read = read_spend_journal(tmp_path / "none.jsonl", offset=0)
    assert read.sessions == {} and read.offset == 0


def test_lines_of_one_loop_turn_are_written_together_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "spend.jsonl"
    writes: list[bytes] = []
    real = spend_journal._write_all

    def spy(fd: int, data: bytes) -> None:
        writes.append(data)
        real(fd, data)

    async def go() -> None:
        journal = SpendJournal(path, session=0)
        tracker = UsageTracker(journal=journal)
        for _ in range(5):
            tracker.record("m", "t", _usage(), row_group=0)
        assert path.read_bytes() == b""  # not yet: the turn has not ended
        await asyncio.sleep(0)
        assert read_spend_journal(path).sessions[0]["m"]["requests"] == 5
        tracker.record("m", "t", _usage(), row_group=0)
        journal.close()

    monkeypatch.setattr(spend_journal, "_write_all", spy)
    asyncio.run(go())
    assert [d.count(b"\n") for d in writes] == [5, 1]


def test_a_full_disk_is_kept_as_the_runs_error_not_raised_in_the_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    path = tmp_path / "spend.jsonl"
    journal = SpendJournal(path, session=0)
    monkeypatch.setattr(spend_journal, "_write_all", full)
    journal.add("m", "t", _usage(), ok=True, cached=False, cost=0.0, row_group=0)  # no loop: written now
    assert isinstance(journal.error, OutputError)
    assert "spend.jsonl" in str(journal.error) and "disk is full" in str(journal.error)
    journal.add("m", "t", _usage(), ok=True, cached=False, cost=0.0, row_group=0)  # stopped: no raise
    journal.close()


def test_requests_in_flight_at_a_kill_are_counted_as_unread(tmp_path: Path) -> None:
    path = tmp_path / "spend.jsonl"
    in_flight = {"m": 3}
    killed = SpendJournal(path, session=0)
    killed.in_flight = lambda: in_flight
    killed.add("m", "text", _usage(), ok=True, cached=False, cost=0.5, row_group=0)
    killed.flush()  # the count (3) goes with the line
    in_flight["m"] = 2
    killed.add("m", "text", _usage(), ok=True, cached=False, cost=0.5, row_group=0)
    killed.flush()  # and again when it changed (2); then the process dies: no close
    in_flight["m"] = 1
    killed.request_sent()  # outside a loop: nothing written, the count stays at the last one written
    closed = SpendJournal(path, session=1)
    closed.in_flight = lambda: {"m": 4}
    closed.add("m", "text", _usage(), ok=True, cached=False, cost=0.5, row_group=1)
    closed.flush()
    closed.close()  # a session that ends has nothing in flight

    read = read_spend_journal(path)
    died, ended = read.sessions[0]["m"], read.sessions[1]["m"]
    # Two read answers, and two that were at the server when the process died: paid, at the mean cost.
    assert died["requests"] == 4 and died["unread"] == 2 and died["cost"] == pytest.approx(2.0)
    assert ended["requests"] == 1 and "unread" not in ended and ended["cost"] == pytest.approx(0.5)
    assert read.skipped == 0


async def test_a_request_sent_brings_the_count_up_to_date_at_the_end_of_the_loop_turn(tmp_path: Path) -> None:
    path = tmp_path / "spend.jsonl"
    journal = SpendJournal(path, session=0)
    count = {"m": 0}
    journal.in_flight = lambda: count
    count["m"] = 5
    journal.request_sent()
    journal.request_sent()  # one write per turn
    assert path.read_bytes() == b""
    await asyncio.sleep(0)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert lines == [{"session": 0, "model": "m", "in_flight": 5}]
    journal.close()
    assert orjson.loads(path.read_bytes().splitlines()[-1]) == {"session": 0, "model": "m", "in_flight": 0}


def test_a_journal_read_in_small_chunks_sums_the_same_and_stops_at_the_torn_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long run's journal is read a chunk at a time (never whole); lines cut by a chunk's edge count once.
    from synthloom.store import spend_account

    path = tmp_path / "spend.jsonl"
    lines = [
        orjson.dumps({"session": i % 3, "model": "ab"[i % 2], "requests": 1, "input_tokens": i, "cost": 0.5})
        for i in range(500)
    ]
    lines.insert(250, b"not json")
    path.write_bytes(b"\n".join(lines) + b'\n{"session": 0, "model": "a", "requ')
    whole = read_spend_journal(path)
    monkeypatch.setattr(spend_account, "_READ_SIZE", 7)
    chunked = read_spend_journal(path)
    assert chunked.sessions == whole.sessions and chunked.offset == whole.offset
    assert (chunked.lines, chunked.skipped) == (whole.lines, whole.skipped) == (500, 1)
    assert sum(m["requests"] for s in chunked.sessions.values() for m in s.values()) == 500
    assert chunked.offset == path.read_bytes().rfind(b"\n") + 1
