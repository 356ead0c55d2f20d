"""Rows removed from the output, and the watch on how many fail.

A row ends *kept*, *filtered* (removed on purpose by a filter, a quality gate or a dedup, with a reason:
a `FilteredRow`, written to filtered.jsonl) or *failed* (it could not be computed: a `Failure`, written to
failures.jsonl). Only failures count toward early shutdown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synthloom.errors import EarlyShutdownError, GenerationError

__all__ = ["Failure", "FailureMonitor", "FilteredRow"]


@dataclass(frozen=True)
class Failure:
    """A row removed from the output, as written to failures.jsonl."""

    row_group: int
    record: int
    column: str
    error: str
    error_type: str
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "row_group": self.row_group,
            "record": self.record,
            "column": self.column,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
        }


@dataclass(frozen=True)
class FilteredRow:
    """A row removed on purpose, as written to filtered.jsonl."""

    row_group: int
    record: int
    column: str
    reason: str
    #: The row's judge scores when it was removed (`{column: {score: value}}`), so a report can show
    #: scores before and after filters; None when the row had none.
    scores: dict[str, dict[str, float]] | None = None
    #: How many times the row was generated before this verdict stood (`run.retry: same_inputs`).
    attempts: int = 1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "row_group": self.row_group,
            "record": self.record,
            "column": self.column,
            "reason": self.reason,
        }
        if self.scores:
            out["scores"] = self.scores
        if self.attempts > 1:
            out["attempts"] = self.attempts
        return out


def judge_scores(values: Mapping[str, Any]) -> dict[str, dict[str, float]] | None:
    """The judge-shaped values of a row (`{name: {"score": number, ...}}` per column), numbers only."""
    found: dict[str, dict[str, float]] = {}
    for column, value in values.items():
        if not isinstance(value, Mapping):
            continue
        scores = {
            str(name): float(entry["score"])
            for name, entry in value.items()
            if isinstance(entry, Mapping)
            and isinstance(entry.get("score"), int | float)
            and not isinstance(entry.get("score"), bool)
        }
        if scores:
            found[column] = scores
    return found or None


class FailureMonitor:
    """Raises `EarlyShutdownError` when too many of the last `window` finished cells failed."""

    def __init__(self, *, max_rate: float, window: int) -> None:
        self.max_rate = max_rate
        self.window = window
        self._recent: deque[bool] = deque(maxlen=window)
        self._failed = 0
        self._last_reason: str | None = None

    def check_final(self) -> None:
        """At the end of a run too short to fill the window: judge the rate over every finished cell."""
        finished = len(self._recent)
        if finished and finished < self.window and self._failed / finished > self.max_rate:
            raise GenerationError(
                f"{self._failed} of {finished} cells failed (limit {self.max_rate:.0%}). Last error: "
                f"{self._last_reason}. Committed row groups are kept; failures.jsonl has every reason"
            )

    def record(self, failed: bool, reason: str | None = None) -> None:
        if reason:
            self._last_reason = reason
        if len(self._recent) == self.window and self._recent[0]:
            self._failed -= 1
        self._recent.append(failed)
        self._failed += failed
        if len(self._recent) == self.window and self._failed / self.window > self.max_rate:
            rate = self._failed / self.window
            last = f" Last error: {reason}." if reason else ""
            raise EarlyShutdownError(
                f"{rate:.0%} of the last {self.window} cells failed (limit {self.max_rate:.0%}); "
                f"stopping early.{last} Committed row groups are kept; failures.jsonl has every reason",
                failure_rate=rate,
                window=self.window,
            )
