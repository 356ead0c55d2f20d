"""Reading the run's spend journal (`spend.jsonl`, written by `models/spend_journal.py`) into per-session,
per-model counts: what every session paid, killed sessions included.

Each line names its `session` and `model`; its other numeric keys (requests, cached, failures,
rate_limited, retries, input_tokens, output_tokens, cost) are summed. A line that does not parse — the
torn end of a session killed in the middle of a write, or one cut short by a full disk — is skipped and
counted, never an error. An `in_flight` line is a count, not a sum: a session whose last count is above
0 died with those requests at the server, and they are added as `unread` requests (see
`models/spend_journal.py`). Reading starts at a byte offset and returns the offset reached (just past the
last complete line), so that a run folds each line into `metadata.json` once, however long it grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["COUNT_KEYS", "JournalRead", "read_spend_journal"]

#: The per-model counts a journal line carries (the keys of `metadata.json`'s usage entries).
COUNT_KEYS = (
    "requests",
    "cached",
    "failures",
    "rate_limited",
    "retries",
    "input_tokens",
    "output_tokens",
    "cost",
    "unread",
)


@dataclass
class JournalRead:
    """What a read of the journal found past its starting offset."""

    #: session index → model alias → summed counts.
    sessions: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: Where the next read starts: just past the last complete line.
    offset: int = 0
    lines: int = 0
    #: Lines that did not parse (a torn write) and were left out.
    skipped: int = 0


#: Bytes read at a time: the journal of a long run holds a line per request (90 MB at 600,000 requests),
#: and a session's end must not hold it in memory whole.
_READ_SIZE = 1 << 20


def read_spend_journal(path: Path, *, offset: int = 0) -> JournalRead:
    """Sum the complete lines of `path` from byte `offset` on (a missing file reads as empty)."""
    read = JournalRead(offset=offset)
    last_in_flight: dict[tuple[int, str], int] = {}
    try:
        fh = open(path, "rb")  # noqa: SIM115 - read in chunks below
    except FileNotFoundError:
        return read
    with fh:
        fh.seek(offset)
        rest = b""
        while chunk := fh.read(_READ_SIZE):
            data = rest + chunk
            end = data.rfind(b"\n") + 1  # a last line without its newline may still be being written
            for line in data[:end].split(b"\n"):
                if line.strip():
                    _fold_line(read, last_in_flight, line)
            read.offset += end
            rest = data[end:]
    for (session, model), count in last_in_flight.items():
        if count > 0:  # the session ended (was killed) with these requests at the server
            _add_unread(read.sessions.setdefault(session, {}).setdefault(model, {}), count)
    return read


def _fold_line(read: JournalRead, last_in_flight: dict[tuple[int, str], int], line: bytes) -> None:
    entry = _entry(line)
    if entry is None:
        read.skipped += 1
        return
    read.lines += 1
    in_flight = entry[2].get("in_flight")
    if isinstance(in_flight, int) and not isinstance(in_flight, bool):
        last_in_flight[(entry[0], entry[1])] = in_flight
        return
    counts = read.sessions.setdefault(entry[0], {}).setdefault(entry[1], {})
    for key in COUNT_KEYS:
        value = entry[2].get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            counts[key] = counts.get(key, 0) + value


def _add_unread(counts: dict[str, Any], unread: int) -> None:
    """Count `unread` requests (in flight when their session died) as paid, at the session's mean cost
    per request of the model."""
    billed = counts.get("requests", 0) - counts.get("cached", 0)
    if billed > 0 and counts.get("cost"):
        counts["cost"] = counts["cost"] + counts["cost"] / billed * unread
    counts["requests"] = counts.get("requests", 0) + unread
    counts["unread"] = counts.get("unread", 0) + unread


def _entry(line: bytes) -> tuple[int, str, dict[str, Any]] | None:
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(entry, dict):
        return None
    session, model = entry.get("session"), entry.get("model")
    if not isinstance(session, int) or isinstance(session, bool) or not isinstance(model, str):
        return None
    return session, model, entry
