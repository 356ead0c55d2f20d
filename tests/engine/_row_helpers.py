"""Functions the engine tests name by import path (`tests.engine._row_helpers:<name>`) in `custom` and
`filter` columns. State the tests inspect lives in module globals that each test resets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from synthloom.engine.contexts import CellContext
from synthloom.engine.generator import CellFiltered
from synthloom.errors import ModelError


def double(row: dict[str, Any]) -> int:
    return int(row["n"]) * 2


def boom(row: dict[str, Any]) -> int:
    raise ValueError(f"boom at n={row['n']}")


def reject(row: dict[str, Any]) -> Any:
    return CellFiltered(f"n={row['n']} is not wanted")


def fail_if_big(row: dict[str, Any]) -> int:
    if int(row["n"]) >= 40:
        raise ValueError(f"n={row['n']} is too big")
    return int(row["n"])


def keep_small(row: dict[str, Any]) -> tuple[bool, str]:
    """A filter function giving its own reason."""
    return int(row["n"]) < 40, f"n={row['n']} is 40 or more"


def is_small(row: dict[str, Any]) -> bool:
    """A filter function returning a bare bool (the filter's default reason applies)."""
    return int(row["n"]) < 40


# ---- concurrency ----------------------------------------------------------------------------------


@dataclass
class Probe:
    """Events a test creates inside its event loop and installs as `probe`."""

    #: Rows that must be in their cell at the same time before any returns.
    barrier: asyncio.Barrier = field(default_factory=lambda: asyncio.Barrier(2))
    slow_started: asyncio.Event = field(default_factory=asyncio.Event)
    slow_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    never: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


probe: Probe | None = None


def _probe() -> Probe:
    assert probe is not None, "the test must install a Probe first"
    return probe


async def tenfold_together(row: dict[str, Any]) -> int:
    """Returns only once a second row is in this cell too: proves two rows run at once."""
    n = int(row["n"])
    await _probe().barrier.wait()
    return n * 10


async def slow_sibling(row: dict[str, Any]) -> str:
    """Waits forever (until cancelled), recording that it started and that it was cancelled."""
    p = _probe()
    p.slow_started.set()
    try:
        await p.never.wait()
    except asyncio.CancelledError:
        p.slow_cancelled.set()
        raise
    return "finished"  # pragma: no cover - nothing sets `never`


async def fail_once_sibling_runs(row: dict[str, Any]) -> str:
    """Fails only after the slow sibling of its row has started (so there is something to cancel)."""
    await _probe().slow_started.wait()
    raise RuntimeError("sibling failure")


class FlakyModelError(ModelError):
    retryable = True


def flaky_then_attempt(row: dict[str, Any], context: CellContext) -> int:
    """Fails transiently on the first attempt; returns the attempt that succeeded."""
    if context.attempt == 1:
        raise FlakyModelError("try again")
    return context.attempt


# ---- cell context ---------------------------------------------------------------------------------

SEEN: list[CellContext] = []


def context_fields(row: dict[str, Any], context: CellContext) -> dict[str, Any]:
    SEEN.append(context)
    return {
        "record": context.record,
        "attempt": context.attempt,
        "seed": str(context.seed),  # as text: a 63-bit seed survives every output format exactly
        "column": context.column,
    }


async def slow_first_group(row: dict[str, Any], context: CellContext) -> int:
    """Yields to the loop many times for the first ten records, so row group 0 finishes after later
    groups in flight (committed out of order)."""
    for _ in range(300 if context.record < 10 else 0):
        await asyncio.sleep(0)
    return int(row["n"])


async def ask_model(row: dict[str, Any], context: CellContext) -> str:
    result = await context.client("m").generate_text(
        [{"role": "user", "content": f"hi {row['n']}"}], tag=context.tag
    )
    return result.text


async def record_held_first_group(row: dict[str, Any], context: CellContext) -> int:
    """The record's index; row group 0 (records 0-9) waits until the test releases it."""
    if context.record < 10:
        await _probe().release.wait()
    return context.record


# ---- how a row group starts its rows ----------------------------------------------------------------

STARTED: list[int] = []
#: How many rows of the group had started when record 0's cell came back from its first wait.
STARTED_WHEN_FIRST_RESUMED: list[int] = []


async def note_start(row: dict[str, Any], context: CellContext) -> int:
    """Records that its row started; record 0 also notes how many had started one loop turn later (its
    request would have gone out then)."""
    STARTED.append(context.record)
    await asyncio.sleep(0)
    if context.record == 0:
        STARTED_WHEN_FIRST_RESUMED.append(len(STARTED))
    return context.record


async def wait_forever_unless_first(row: dict[str, Any], context: CellContext) -> int:
    """Record 0 fails its row (the test's events stop the run on it, as early shutdown does); every
    other record waits until cancelled, noting it."""
    STARTED.append(context.record)
    if context.record == 0:
        await asyncio.sleep(0)
        raise ValueError("record 0 fails")
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        CANCELLED.append(context.record)
        raise
    return context.record  # pragma: no cover - never set


CANCELLED: list[int] = []
