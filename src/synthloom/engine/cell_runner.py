"""One cell at a time: its `when`, its template context, its generator call, its retries and failure."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError

from synthloom.engine.failures import Failure, FailureMonitor
from synthloom.engine.generators.base import BatchGenerator, CellFailure, CellGenerator, RowGroupSlice
from synthloom.engine.progress import ProgressTracker
from synthloom.errors import (
    ModelConnectionError,
    ModelError,
    SynthloomError,
)
from synthloom.models.adaptive_limiter import request_priority
from synthloom.plan.planner import ColumnPlan, Plan
from synthloom.plan.templates import compile_template

__all__ = ["CellRunner", "is_truthy"]

_FALSE_TEXT = frozenset({"", "false", "0", "none", "no", "null"})


def is_truthy(rendered: str) -> bool:
    """How a rendered `when` reads: 'False', '0', 'none', '' and the like are false."""
    return rendered.strip().lower() not in _FALSE_TEXT


class CellRunner:
    """Shared by every row group of a run."""

    def __init__(
        self,
        plan: Plan,
        progress: ProgressTracker,
        monitor: FailureMonitor,
        *,
        cell_retries: int,
        endpoint_deadline: float = 300.0,
        retry_delay: float = 1.0,
    ) -> None:
        self.plan = plan
        self.endpoint_deadline = endpoint_deadline
        self.progress = progress
        self.monitor = monitor
        self.cell_retries = cell_retries
        self.retry_delay = retry_delay
        self.failures: list[Failure] = []
        side_of = {c.name: c.config.side_columns() for c in plan.columns}
        #: The names each column's templates may read: its inputs, their side columns, its seed fields.
        self._context_keys: dict[str, tuple[str, ...]] = {
            c.name: tuple(
                sorted({*c.depends_on, *c.reads_seed, *(s for d in c.depends_on for s in side_of.get(d, []))})
            )
            for c in plan.columns
        }
        self._when: dict[str, jinja2.Template | None] = {
            c.name: compile_template(c.config.when) if c.config.when else None for c in plan.columns
        }
        #: Set by the engine: raised inside cells so that the whole run stops.
        self.shutdown: BaseException | None = None

    # ---- context and conditions ------------------------------------------------------------------
    def context(self, col: ColumnPlan, values: Mapping[str, Sequence[Any]], i: int) -> dict[str, Any]:
        return {k: values[k][i] for k in self._context_keys[col.name] if k in values}

    def when_mask(
        self,
        col: ColumnPlan,
        values: Mapping[str, Sequence[Any]],
        size: int,
        alive: Sequence[bool],
        refused: Callable[[int, SecurityError], object] | None = None,
    ) -> list[bool]:
        """Which rows compute `col`. A row whose condition the sandbox refuses is inactive and is
        reported to `refused` (which fails the row)."""
        template = self._when[col.name]
        if template is None:
            return list(alive)
        mask: list[bool] = []
        for i in range(size):
            try:
                mask.append(bool(alive[i]) and self._is_active(template, col, values, i))
            except SecurityError as exc:
                mask.append(False)
                if refused is not None:
                    refused(i, exc)
        return mask

    def _is_active(
        self, template: jinja2.Template, col: ColumnPlan, values: Mapping[str, Sequence[Any]], i: int
    ) -> bool:
        """Whether the condition holds. A condition that cannot be evaluated skips the cell rather than
        the run; one the sandbox refuses (a reach for Python internals) raises `SecurityError` so that
        its row fails and is recorded instead of passing silently."""
        try:
            return is_truthy(template.render(self.context(col, values, i)))
        except SecurityError:
            raise
        except Exception:
            return False

    def _refused_condition(self, col: ColumnPlan, result: Any, i: int, exc: SecurityError) -> bool:
        return self._fail(col, result, i, SecurityError(f"when: {exc}"), 1)

    # ---- failures --------------------------------------------------------------------------------
    def record_failure(
        self, column: str, group: RowGroupSlice, i: int, error: str | BaseException, attempts: int
    ) -> Failure:
        if isinstance(error, BaseException):
            error_type = type(error).__name__
            message = str(error) or error_type
        else:
            error_type, message = "CellFailure", error
        failure = Failure(group.index, group.start + i, column, message[:2000], error_type, attempts)
        self.failures.append(failure)
        self.progress.cell_failed(column)
        self.monitor.record(True, f"column '{column}': {error_type}: {message[:300]}")
        return failure

    # ---- execution -------------------------------------------------------------------------------
    async def run_cell(self, col: ColumnPlan, gen: CellGenerator[Any], result: Any, i: int) -> bool:
        """Compute one cell in place. False when the row failed for good."""
        group: RowGroupSlice = result.group
        values = result.values
        template = self._when[col.name]
        try:
            skipped = template is not None and not self._is_active(template, col, values, i)
        except SecurityError as exc:
            return self._refused_condition(col, result, i, exc)
        if skipped:
            self.progress.cell_skipped(col.name)
            return True
        row = self.context(col, values, i)
        # Earlier records first at every model's limiter, so row groups complete (and commit) in order.
        request_priority.set(group.start + i)
        attempts = 0
        outage_started: float | None = None
        while True:
            attempts += 1
            try:
                output = await gen.generate(row, group.start + i)
            except asyncio.CancelledError:
                raise
            except ModelConnectionError as exc:
                # The endpoint is gone (restarting, network blip): wait for it up to the deadline.
                now = time.monotonic()
                outage_started = outage_started or now
                if now - outage_started < self.endpoint_deadline:
                    await asyncio.sleep(min(self.retry_delay * 2 ** min(attempts - 1, 6), 5.0))
                    continue
                exc = ModelConnectionError(
                    f"{exc} (endpoint unreachable for {now - outage_started:.0f}s, "
                    f"past run.endpoint_deadline={self.endpoint_deadline:g}s)"
                )
                return self._fail(col, result, i, exc, attempts)
            except ModelError as exc:
                if exc.retryable and attempts <= self.cell_retries:
                    # Transient: give the endpoint time, then try this cell again later in the run.
                    await asyncio.sleep(self.retry_delay * 2 ** (attempts - 1) * (0.5 + random.random()))
                    continue
                return self._fail(col, result, i, exc, attempts * max(1, getattr(exc, "attempts", 1)))
            except SynthloomError as exc:
                return self._fail(col, result, i, exc, attempts)
            except Exception as exc:  # a bug in a plugin or custom function fails its cell, not the run
                return self._fail(col, result, i, exc, attempts)
            values[col.name][i] = output.value
            for side, value in output.side.items():
                values[side][i] = value
            self.progress.cell_done(col.name)
            self.monitor.record(False)
            return True

    def _fail(self, col: ColumnPlan, result: Any, i: int, exc: str | BaseException, attempts: int) -> bool:
        if i not in result.failures:
            result.failures[i] = self.record_failure(col.name, result.group, i, exc, attempts)
        return False

    async def run_row_batch(self, col: ColumnPlan, gen: BatchGenerator[Any], result: Any, i: int) -> bool:
        """A batch column downstream of a cell, computed for one row. False when the row failed."""
        group: RowGroupSlice = result.group
        template = self._when[col.name]
        try:
            skipped = template is not None and not self._is_active(template, col, result.values, i)
        except SecurityError as exc:
            return self._refused_condition(col, result, i, exc)
        if skipped:
            self.progress.cell_skipped(col.name)
            return True
        one_row = {k: [result.values[k][i]] for k in self._context_keys[col.name] if k in result.values}
        # Per-record slice: its draws depend on the record, not on which rows happened to be computed.
        single = RowGroupSlice(
            index=group.start + i, start=group.start + i, size=1, run_seed=group.run_seed ^ 0x5EED
        )
        try:
            if gen.cpu_bound:
                out = await asyncio.to_thread(gen.generate, one_row, single, None)
            else:
                out = gen.generate(one_row, single, None)
        except Exception as exc:
            return self._fail(col, result, i, exc, 1)
        value = out[0]
        if isinstance(value, CellFailure):
            return self._fail(col, result, i, value.error, 1)
        result.values[col.name][i] = value
        self.progress.cell_done(col.name)
        return True
