"""Counting what the run has done, and showing it: a live table on a terminal, log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from synthloom.terminal_text import plain

__all__ = ["ColumnProgress", "ProgressDisplay", "ProgressTracker", "model_rows"]

log = logging.getLogger("synthloom.progress")


@dataclass
class ColumnProgress:
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    #: Cells that removed their row on purpose (a filter or quality gate said no).
    filtered: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.skipped + self.filtered


@dataclass
class ProgressTracker:
    """Counters only: cheap enough to bump for every cell."""

    columns: dict[str, ColumnProgress] = field(default_factory=dict)
    target_records: int = 0
    committed_records: int = 0
    started: float = field(default_factory=time.monotonic)
    #: Records committed by this session, and when the last row group of them was committed.
    session_records: int = 0
    last_commit: float | None = None

    def start(self, columns: Iterable[str], *, records_to_generate: int, target: int, committed: int) -> None:
        self.columns = {c: ColumnProgress(total=records_to_generate) for c in columns}
        self.target_records = target
        self.committed_records = committed
        self.started = time.monotonic()
        self.session_records = 0
        self.last_commit = None

    def cells_finished(self, column: str, status: str, count: int = 1) -> None:
        """Count `count` cells of `column` that ended `done`, `failed`, `skipped` or `filtered`."""
        col = self.columns[column]
        setattr(col, status, getattr(col, status) + count)

    def row_group_committed(self, records: int, *, now: float | None = None) -> None:
        self.committed_records += records
        self.session_records += records
        self.last_commit = time.monotonic() if now is None else now

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta_seconds(self) -> float | None:
        """Seconds until the target, at the rate row groups have been committed this session (records
        per second from the start to the last commit). None until a first row group is committed:
        cells finishing early (cheap columns, a fast first model) say little about the slow ones, and an
        ETA from them was far too optimistic."""
        remaining = self.target_records - self.committed_records
        if remaining <= 0:
            return 0.0
        if self.last_commit is None or self.session_records <= 0:
            return None
        span = self.last_commit - self.started
        if span <= 0:
            return None
        return remaining / (self.session_records / span)


class ProgressDisplay:
    """A rich live table when stderr is a terminal; a log line every `interval` seconds otherwise."""

    def __init__(
        self,
        tracker: ProgressTracker,
        *,
        model_stats: Callable[[], dict[str, dict[str, Any]]],
        enabled: bool = True,
        interval: float = 10.0,
    ) -> None:
        self.tracker = tracker
        self.model_stats = model_stats
        self.enabled = enabled
        self.interval = interval
        self._live: Any = None
        self._last_log = 0.0
        self._tty = sys.stderr.isatty()

    def __enter__(self) -> ProgressDisplay:
        if self.enabled and self._tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                self._render(), console=Console(stderr=True), refresh_per_second=4, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(None, None, None)
            self._live = None
        elif self.enabled:
            self._log_line()

    def refresh(self) -> None:
        """Called periodically by the engine."""
        if not self.enabled:
            return
        if self._live is not None:
            self._live.update(self._render())
        elif time.monotonic() - self._last_log >= self.interval:
            self._log_line()

    def _log_line(self) -> None:
        self._last_log = time.monotonic()
        t = self.tracker
        cols = ", ".join(
            f"{name} {c.finished}/{c.total}" + (f" ({c.failed} failed)" if c.failed else "")
            for name, c in t.columns.items()
        )
        eta = t.eta_seconds()
        models = "; ".join(
            f"{alias}: limit {s.get('concurrency', '?')}, {s.get('rate_limited', 0)} 429s, "
            f"{s.get('server_errors', 0)} 5xx, {s.get('retries', 0)} retries"
            for alias, s in self.model_stats().items()
        )
        log.info(
            "records %d/%d | %s%s | elapsed %.0fs%s",
            t.committed_records,
            t.target_records,
            cols,
            f" | {models}" if models else "",
            t.elapsed(),
            f", eta {eta:.0f}s" if eta is not None else ", eta after the first row group",
        )

    def _render(self) -> Any:
        from rich.table import Table

        t = self.tracker
        elapsed = max(t.elapsed(), 1e-9)
        table = Table(
            title=f"synthloom  records {t.committed_records}/{t.target_records}  "
            f"elapsed {t.elapsed():.0f}s"
            + (f"  eta {eta:.0f}s" if (eta := t.eta_seconds()) is not None else "  eta: measuring"),
            title_justify="left",
            expand=False,
        )
        table.add_column("column")
        table.add_column("done", justify="right")
        table.add_column("rate/s", justify="right")
        table.add_column("failed", justify="right")
        table.add_column("skipped", justify="right")
        table.add_column("filtered", justify="right")
        for name, c in t.columns.items():
            table.add_row(
                plain(name),
                f"{c.finished}/{c.total}",
                f"{c.done / elapsed:.1f}",
                str(c.failed),
                str(c.skipped),
                str(c.filtered),
            )
        stats = self.model_stats()
        if stats:
            table.add_section()
            heads = (
                "model",
                "concurrency",
                "tokens/s",
                "429s",
                "5xx / retries",
                "requests",
                "cached",
                "batched",
            )
            table.add_row(*(f"[b]{head}[/b]" for head in heads))
            for alias, s in stats.items():
                tokens = s.get("output_tokens", 0) + s.get("input_tokens", 0)
                table.add_row(
                    plain(alias),
                    str(s.get("concurrency", "-")),
                    f"{tokens / elapsed:.0f}",
                    str(s.get("rate_limited", 0)),
                    f"{s.get('server_errors', 0)} / {s.get('retries', 0)}",
                    str(s.get("requests", 0)),
                    str(s.get("cached", 0)),
                    str(s.get("batched", 0)),
                )
        return table


def model_rows(
    usage: dict[str, dict[str, Any]],
    limiters: dict[str, dict[str, Any]],
    *,
    live: dict[str, dict[str, int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per model alias, what the live display shows: concurrency (in flight / level), 429s, 5xx answers,
    retries, requests and tokens, from the usage summary's `models` and each alias's limiter figures.
    5xx and retries come from `live` (counted as each attempt fails) when given, else from finished
    exchanges (a request still being retried then shows when it ends)."""
    out: dict[str, dict[str, Any]] = {}
    for alias, limiter in limiters.items():
        u = usage.get(alias, {})
        out[alias] = {
            "concurrency": f"{limiter['in_flight']}/{limiter['limit']}",
            "rate_limited": limiter["rate_limited"],
            "requests": u.get("requests", 0),
            "cached": u.get("cached", 0),
            "batched": u.get("batched", 0),
            "server_errors": (live or {}).get(alias, {}).get("server_errors", u.get("server_errors", 0)),
            "retries": (live or {}).get(alias, {}).get("retries", u.get("retries", 0)),
            "input_tokens": u.get("input_tokens", 0),
            "output_tokens": u.get("output_tokens", 0),
        }
    return out
