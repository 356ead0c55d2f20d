"""`SpendJournal`: every finished model exchange appended to the run's `spend.jsonl` as it ends, so
that what a server answered stays in the account when the process is killed before the row group
that asked for it commits.

One JSON line per exchange (one request and its retries), written by the usage tracker the accounting
handler feeds (so the local executor's chain and the Ray driver's replay of its workers' exchanges
write the same lines):

    {"session": 2, "model": "m", "column": "text", "row_group": 7, "status": 200, "requests": 1,
     "cached": 0, "failures": 0, "rate_limited": 0, "retries": 0, "input_tokens": 31,
     "output_tokens": 120, "cost": 0.00093}

The numeric keys after `status` are the per-model counts `metadata.json` sums, so a reader adds them up
without knowing what each means. Lines are batched: the first line of a batch schedules one write for
the end of the current event-loop turn (or the batch is written at once past `MAX_BATCH` lines, or
when there is no loop), one `os.write` to a file opened with `O_APPEND`. A SIGKILL therefore loses at
most the exchanges that ended in the loop turn the process died in (none once the turn ends: the
kernel holds written data across a process's death); a power cut loses at most what was written since
the last `fsync`, made at most once a second off the event loop (`FSYNC_INTERVAL`).

What a finished-exchange line cannot hold is a request the server answered but the process never read:
it was in flight when the process died. So the journal also keeps, per model, how many requests are
in flight (`{"session": 2, "model": "m", "in_flight": 12}`), written with each batch whenever the count
changed and set back to 0 when the session closes. A session killed with requests in flight ends with
a count above 0; the reader adds them to what it paid as `unread` requests (sent, perhaps answered,
never read; their cost estimated at the session's mean cost per request of that model). That may count
a request the server never finished — the account errs on the side of what may have been billed.

A write that fails (a full disk) is not raised inside the cell whose exchange ended: the journal stops,
keeps the error in `error` as an `OutputError` naming the file, and the engine raises it after its next
commit, so the run ends with the same disk-full error as any other write.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from synthloom.errors import OutputError
from synthloom.models.results import CallUsage

__all__ = ["FSYNC_INTERVAL", "MAX_BATCH", "SpendJournal", "journal_line"]

#: Lines held before they are written even within one event-loop turn.
MAX_BATCH = 512
#: Seconds between two fsyncs of the journal (bounded loss on a power cut).
FSYNC_INTERVAL = 1.0


def journal_line(
    session: int,
    alias: str,
    tag: str | None,
    usage: CallUsage,
    *,
    ok: bool,
    cached: bool,
    cost: float,
    row_group: int | None,
) -> bytes:
    """One exchange as the journal keeps it (a complete line, newline included)."""
    codes = usage.status_codes
    entry: dict[str, Any] = {
        "session": session,
        "model": alias,
        "column": tag,
        "row_group": row_group,
        "status": codes[-1] if codes else None,
        "requests": 1,
        "cached": 1 if cached else 0,
    }
    if not cached:
        entry.update(
            failures=0 if ok else 1,
            rate_limited=usage.rate_limited,
            retries=usage.retries,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=cost,
        )
    return orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE)


class SpendJournal:
    """The append-only journal of one session: `add` an exchange, `close` at the session's end."""

    def __init__(self, path: Path, *, session: int) -> None:
        self.path = path
        self.session = session
        #: The write that failed (disk full), as the error the run ends with; None while writing works.
        self.error: OutputError | None = None
        self.lines = 0
        #: Requests in flight now, per model (set by the model pool); None: not tracked (Ray workers).
        self.in_flight: Callable[[], Mapping[str, int]] | None = None
        self._in_flight_written: dict[str, int] = {}
        self._pending: list[bytes] = []
        self._scheduled = False
        self._last_sync = time.monotonic()
        self._syncing: asyncio.Future[None] | None = None
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._end_torn_line()
        except OSError as exc:
            self._fd = None
            self.error = _write_error(path, exc)

    def add(
        self,
        alias: str,
        tag: str | None,
        usage: CallUsage,
        *,
        ok: bool,
        cached: bool,
        cost: float,
        row_group: int | None,
    ) -> None:
        if self._fd is None:
            return
        line = journal_line(
            self.session, alias, tag, usage, ok=ok, cached=cached, cost=cost, row_group=row_group
        )
        self._pending.append(line)
        if len(self._pending) >= MAX_BATCH:
            self.flush()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_soon(self.flush)

    def request_sent(self) -> None:
        """A request went to a server: bring the in-flight count up to date at the end of this loop
        turn (with whatever lines it adds)."""
        if self._fd is None or self._scheduled or self.in_flight is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    def _note_in_flight(self, counts: Mapping[str, int]) -> None:
        written = self._in_flight_written
        for alias in written.keys() | counts.keys():
            count = counts.get(alias, 0)
            if count != written.get(alias, 0):
                written[alias] = count
                self._pending.append(
                    orjson.dumps(
                        {"session": self.session, "model": alias, "in_flight": count},
                        option=orjson.OPT_APPEND_NEWLINE,
                    )
                )

    def flush(self) -> None:
        """Write the pending lines now (one write), and start an fsync if the last is old enough."""
        self._scheduled = False
        if self._fd is None:
            return
        if self.in_flight is not None:
            self._note_in_flight(self.in_flight())
        if not self._pending:
            return
        data = b"".join(self._pending)
        count = len(self._pending)
        self._pending.clear()
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            self._fail(exc)
            return
        self.lines += count
        now = time.monotonic()
        if now - self._last_sync >= FSYNC_INTERVAL and self._syncing is None:
            self._last_sync = now
            self._sync_soon()

    def close(self) -> None:
        """Write what is pending (nothing is in flight any more), fsync, close. Idempotent."""
        self.in_flight = None
        if self._fd is not None:
            self._note_in_flight({})
        self.flush()
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        except OSError as exc:
            if self.error is None:
                self.error = _write_error(self.path, exc)
        finally:
            os.close(fd)

    def _sync_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        fd = self._fd

        def sync() -> None:
            if fd is not None:
                # The descriptor may be closed by then (`close` fsyncs itself).
                with contextlib.suppress(OSError):
                    os.fsync(fd)

        self._syncing = loop.run_in_executor(None, sync)
        self._syncing.add_done_callback(self._synced)

    def _synced(self, _: asyncio.Future[None]) -> None:
        self._syncing = None

    def _end_torn_line(self) -> None:
        """A killed session's journal may end inside a line (a short write): end it, so that this
        session's first line starts a line of its own (the reader skips the torn one)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                _write_all(self._fd, b"\n")

    def _fail(self, exc: OSError) -> None:
        self.error = _write_error(self.path, exc)
        assert self._fd is not None
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_error(path: Path, exc: OSError) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError(
            f"cannot write {path}: the disk is full; committed row groups are intact, resume when there "
            "is space"
        )
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")
