"""Reading the run's spend journal (`spend.jsonl`, written by `models/spend_journal.py`) into per-session,
per-model counts: what every session paid, killed sessions included.

Each line names its `session` and `model`; its other numeric keys (requests, cached, failures,
rate_limited, retries, input_tokens, output_tokens, cost) are summed. A line that does not parse — the
torn end of a session killed in the middle of a write, or one cut short by a full disk — is skipped and
counted, never an error. Reading starts at a byte offset and returns the offset reached (just past the
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


def read_spend_journal(path: Path, *, offset: int = 0) -> JournalRead:
    """Sum the complete lines of `path` from byte `offset` on (a missing file reads as empty)."""
    read = JournalRead(offset=offset)
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return read
    end = data.rfind(b"\n") + 1  # a last line without its newline may still be being written
    for line in data[:end].split(b"\n"):
        if not line.strip():
            continue
        entry = _entry(line)
        if entry is None:
            read.skipped += 1
            continue
        read.lines += 1
        models = read.sessions.setdefault(entry[0], {})
        counts = models.setdefault(entry[1], {})
        for key in COUNT_KEYS:
            value = entry[2].get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                counts[key] = counts.get(key, 0) + value
    read.offset = offset + end
    return read


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
