"""The row runner: a set of planned columns run over one row's inputs, returning that row's outputs.

    executor = RowRunner(plan, ["question", "answer"], generators, inputs, policy=CellPolicy())
    result = await executor.run({"topic": "tides"}, record=7, group=group, models=pool, events=events)
    result.outcome           # "kept", "filtered" or "failed"
    result.values["answer"]  # the outputs (and side columns) of the columns it ran

A cell starts the moment the row's inputs it reads are final, so the cells of one row run concurrently
where the plan allows. The row ends *failed* when a cell fails for good (its other cells are cancelled)
and *filtered* when a generator returns `CellFiltered`; both are values of the result, never exceptions.
Each cell's `when` is honoured (a skipped cell is null), transient model errors are retried with backoff
(`CellPolicy.cell_retries`), and an unreachable endpoint is waited out up to `endpoint_deadline` without
spending those retries.

Row groups are built on this unit (their row phase), and a flow runs its nodes with it. It owns nothing
but its inputs: what happened is returned in the `RowResult` and reported, as it happens, to `events`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol

from jinja2.exceptions import SecurityError

from synthloom.engine.conditions import ColumnInputs
from synthloom.engine.contexts import CellContext
from synthloom.engine.failures import Failure, FilteredRow, judge_scores
from synthloom.engine.generator import (
    BatchGenerator,
    CellFailure,
    CellFiltered,
    CellGenerator,
    CellOutput,
    ColumnGenerator,
)
from synthloom.errors import ModelConnectionError, ModelError
from synthloom.plan.planner import ColumnPlan, Plan
from synthloom.plan.templates import template_seed
from synthloom.row_groups import SINGLE_RECORD_INDEX, RowGroupSlice

if TYPE_CHECKING:
    from synthloom.models import ModelPool

__all__ = ["CellEvents", "CellPolicy", "CellStatus", "RowResult", "RowRunner", "failure_of"]

CellStatus = Literal["done", "failed", "skipped", "filtered"]
Outcome = Literal["kept", "filtered", "failed"]


class CellEvents(Protocol):
    """Told about cells and rows as they finish (progress, early shutdown). May raise to stop the run
    (the failure monitor raises `EarlyShutdownError`)."""

    def cells_finished(self, column: str, status: CellStatus, count: int = 1) -> None: ...

    def row_removed(self, record: Failure | FilteredRow) -> None: ...


class NoEvents:
    """Events go nowhere (a row runner used on its own)."""

    def cells_finished(self, column: str, status: CellStatus, count: int = 1) -> None:
        return None

    def row_removed(self, record: Failure | FilteredRow) -> None:
        return None


@dataclass(frozen=True)
class CellPolicy:
    """How hard a cell tries before its row fails."""

    #: A cell that failed transiently (retryable model errors) is tried this many more times.
    cell_retries: int = 2
    #: How long to wait out an unreachable model endpoint before the cell fails (seconds).
    endpoint_deadline: float = 300.0
    #: Base of the backoff between a cell's attempts (seconds).
    retry_delay: float = 1.0
    #: Log each model-backed cell's exchanges (`RowResult.lineage`); off, nothing is built.
    lineage: bool = True
    #: How many times a row group's row is generated when a filter rejects it, with the same inputs and
    #: new cell seeds (`run.retry: same_inputs`); 1: a rejected row stays filtered.
    row_attempts: int = 1


@dataclass
class RowResult:
    """One row's outputs: every column the executor ran (and its side columns), null where skipped."""

    values: dict[str, Any]
    failure: Failure | None = None
    filtered: FilteredRow | None = None
    #: Per model-backed cell: column, record, status, attempts, seconds, and each model exchange (the
    #: messages sent, the reply, reasoning, tokens, latency) — what a viewer shows as the cell's lineage.
    lineage: list[dict[str, Any]] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        if self.failure is not None:
            return "failed"
        if self.filtered is not None:
            return "filtered"
        return "kept"


def failure_of(
    column: str, group: RowGroupSlice, record: int, error: str | BaseException, attempts: int
) -> Failure:
    """The failures.jsonl record of a row that failed in `column`."""
    if isinstance(error, BaseException):
        error_type = type(error).__name__
        message = str(error) or error_type
    else:
        error_type, message = "CellFailure", error
    return Failure(group.index, record, column, message[:2000], error_type, attempts)


class _RowEnded(Exception):
    """Raised inside the executor when a cell decided the row's outcome."""

    def __init__(self, failure: Failure | None = None, filtered: FilteredRow | None = None) -> None:
        self.failure = failure
        self.filtered = filtered


@dataclass
class _Row:
    """The state of one row while it runs: private to one `RowRunner.run` call."""

    record: int
    group: RowGroupSlice
    values: dict[str, Any]
    models: ModelPool | None
    events: CellEvents
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Inside a flow: the chat turns each node sees, and the usage tag prefix (`"<column>."`).
    history: Mapping[str, list[dict[str, Any]]] | None = None
    tag_prefix: str = ""
    #: The row group whose spend this row's requests count toward (None: no group's, a preview).
    spend_group: int | None = None
    #: Inside a flow: the step of the record's walk (orders its requests at a limiter).
    step: int = 0
    #: One entry per model-backed cell that finished: status, attempts, time and its model exchanges.
    lineage: list[dict[str, Any]] = field(default_factory=list)
    #: 0 for a row's first generation; n for its n-th regeneration after a filter rejected it.
    retry: int = 0

    def set(self, column: str, value: Any, side: Mapping[str, Any] | None = None) -> None:
        self.values[column] = self.outputs[column] = value
        for name, side_value in (side or {}).items():
            self.values[name] = self.outputs[name] = side_value


class RowRunner:
    """Runs `columns` (a subset of `plan`, any order) for one row at a time. Shared by every row: it
    holds only what the plan fixes, so concurrent `run` calls never touch each other's state."""

    def __init__(
        self,
        plan: Plan,
        columns: Iterable[str],
        generators: Mapping[str, ColumnGenerator[Any]],
        inputs: ColumnInputs | None = None,
        *,
        policy: CellPolicy | None = None,
    ) -> None:
        wanted = set(columns)
        self.columns: tuple[ColumnPlan, ...] = tuple(c for c in plan.columns if c.name in wanted)
        missing = wanted - {c.name for c in self.columns}
        if missing:
            raise KeyError(f"columns not in the plan: {sorted(missing)}")
        self.generators = generators
        self.inputs = inputs or ColumnInputs(plan)
        self.policy = policy or CellPolicy()
        #: Within this set of columns, what each one waits for.
        self._waits_for = {c.name: c.depends_on & wanted for c in self.columns}
        self._sides = {c.name: c.config.side_columns() for c in self.columns}
        self._names = tuple(c.name for c in self.columns)

    async def run(
        self,
        inputs: Mapping[str, Any],
        *,
        record: int,
        group: RowGroupSlice,
        models: ModelPool | None = None,
        events: CellEvents | None = None,
        history: Mapping[str, list[dict[str, Any]]] | None = None,
        tag_prefix: str = "",
        spend_group: int | Literal["group"] | None = "group",
        step: int = 0,
        retry: int = 0,
    ) -> RowResult:
        """Compute the columns for one row. `inputs` holds every value they read that is already final
        (seed fields, columns computed earlier); `record` is the record's index in the run and `group`
        its row group (for seeds and failure records). A flow running its nodes passes, per column, the
        chat `history` it sees and the `tag_prefix` its usage is accounted under (`CellContext`), and the
        row group its requests are spent for (`spend_group`; by default `group`'s) and the `step` of its
        walk. `retry` > 0 generates the row again after a filter rejected it: every cell gets a new seed
        (`RowGroupSlice.record_seed`), so its requests, and the answers they get, are new."""
        row = _Row(
            record,
            group,
            dict(inputs),
            models,
            events or NoEvents(),
            history=history,
            tag_prefix=tag_prefix,
            spend_group=group.index if spend_group == "group" else spend_group,
            step=step,
            retry=retry,
        )
        for col in self.columns:
            row.values[col.name] = None
            for side in self._sides[col.name]:
                row.values[side] = None
        try:
            await self._run_all(row)
        except _RowEnded as ended:
            return RowResult(
                self._null_filled(row), failure=ended.failure, filtered=ended.filtered, lineage=row.lineage
            )
        return RowResult(self._null_filled(row), lineage=row.lineage)

    def _null_filled(self, row: _Row) -> dict[str, Any]:
        out = {}
        for col in self.columns:
            out[col.name] = row.outputs.get(col.name)
            for side in self._sides[col.name]:
                out[side] = row.outputs.get(side)
        return out

    async def _run_all(self, row: _Row) -> None:
        waiting = list(self.columns)
        unfinished = set(self._names)
        pending: dict[asyncio.Task[None], str] = {}
        try:
            while waiting or pending:
                ready = [c for c in waiting if not (self._waits_for[c.name] & unfinished)]
                for col in ready:
                    waiting.remove(col)
                    gen = self.generators[col.name]
                    if not isinstance(gen, CellGenerator):
                        self._batch_cell(row, col, gen)  # type: ignore[arg-type]
                        unfinished.discard(col.name)
                    elif len(ready) == 1 and not pending:
                        # The only cell that can run now: awaited here, without a task of its own (most
                        # rows of a chain, and every row of a one-column phase, never make one).
                        await self._cell(row, col, gen)
                        unfinished.discard(col.name)
                    else:
                        pending[asyncio.ensure_future(self._cell(row, col, gen))] = col.name
                if not pending:
                    continue
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    unfinished.discard(pending.pop(task))
                    task.result()  # re-raises _RowEnded (and anything that must stop the run)
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    # ---- one cell --------------------------------------------------------------------------------
    def _skipped(self, row: _Row, col: ColumnPlan) -> bool:
        try:
            active = self.inputs.is_active(col.name, row.values)
        except SecurityError as exc:
            self._fail(row, col, SecurityError(f"when: {exc}"), 1)
        if not active:
            row.events.cells_finished(col.name, "skipped")
        return not active

    def _fail(self, row: _Row, col: ColumnPlan, error: str | BaseException, attempts: int) -> NoReturn:
        failure = failure_of(col.name, row.group, row.record, error, attempts)
        row.events.cells_finished(col.name, "failed")
        row.events.row_removed(failure)
        raise _RowEnded(failure=failure)

    def _filter(self, row: _Row, col: ColumnPlan, verdict: CellFiltered) -> NoReturn:
        filtered = FilteredRow(
            row.group.index, row.record, col.name, verdict.reason, scores=judge_scores(row.values)
        )
        row.events.cells_finished(col.name, "filtered")
        row.events.row_removed(filtered)
        raise _RowEnded(filtered=filtered)

    def _batch_cell(self, row: _Row, col: ColumnPlan, gen: BatchGenerator[Any]) -> None:
        """A batch column downstream of a cell, computed for this row alone."""
        if self._skipped(row, col):
            return
        one_row = {k: [row.values[k]] for k in self.inputs.keys[col.name] if k in row.values}
        # A per-record slice: its draws depend on the record, not on which rows shared its row group.
        single = RowGroupSlice(
            index=SINGLE_RECORD_INDEX + row.record, start=row.record, size=1, run_seed=row.group.run_seed
        )
        try:
            with template_seed(row.group.record_seed(col.name, row.record, row.retry)):
                value = gen.generate(one_row, single, None)[0]
        except Exception as exc:
            self._fail(row, col, exc, 1)
        if isinstance(value, CellFailure):
            self._fail(row, col, value.error, 1)
        if isinstance(value, CellFiltered):
            self._filter(row, col, value)
        row.set(col.name, value)
        row.events.cells_finished(col.name, "done")

    async def _cell(self, row: _Row, col: ColumnPlan, gen: CellGenerator[Any]) -> None:
        if self._skipped(row, col):
            return
        context = self.inputs.context(col.name, row.values)
        if self.policy.lineage:
            calls: list[bytes] = []  # every model exchange of this cell is logged here (lineage)
            started = time.monotonic()
            attempt = await self._attempt_until_final(row, col, gen, context, calls)
            status = "failed" if attempt.error is not None else "filtered" if attempt.filtered else "done"
            row.lineage.append(
                {
                    "column": row.tag_prefix + col.name,
                    "record": row.record,
                    "status": status,
                    "attempts": attempt.attempts,
                    "seconds": round(time.monotonic() - started, 4),
                    "calls": calls,
                }
            )
        else:
            attempt = await self._attempt_until_final(row, col, gen, context, None)
        if attempt.error is not None:
            self._fail(row, col, attempt.error, attempt.attempts)
        assert attempt.output is not None
        if isinstance(attempt.output, CellFiltered):
            self._filter(row, col, attempt.output)
        row.set(col.name, attempt.output.value, attempt.output.side)
        row.events.cells_finished(col.name, "done")

    async def _attempt_until_final(
        self,
        row: _Row,
        col: ColumnPlan,
        gen: CellGenerator[Any],
        context: dict[str, Any],
        lineage: list[bytes] | None,
    ) -> _Attempt:
        """Try the cell until it has an output or has failed for good."""
        seed = row.group.record_seed(col.name, row.record, row.retry)
        policy = self.policy
        attempts = 0
        # Two budgets, kept apart: an unreachable endpoint is waited out up to `endpoint_deadline`
        # and never spends `cell_retries`, which only the server's own transient errors (a 5xx after
        # it came back, a 429 past the client's retries) draw on.
        retries = 0
        outage_started: float | None = None
        while True:
            attempts += 1
            ctx = CellContext(
                column=col.name,
                record=row.record,
                attempt=attempts,
                seed=seed,
                models=row.models,
                history=row.history.get(col.name) if row.history else None,
                tag_prefix=row.tag_prefix,
                row_group=row.spend_group,
                step=row.step,
                lineage=lineage,
            )
            try:
                with template_seed(seed):
                    return _Attempt(attempts, output=await gen.generate(context, ctx))
            except asyncio.CancelledError:
                raise
            except ModelConnectionError as exc:
                # The endpoint is gone (restarting, network blip): wait for it up to the deadline.
                now = time.monotonic()
                outage_started = outage_started or now
                if now - outage_started < policy.endpoint_deadline:
                    await asyncio.sleep(min(policy.retry_delay * 2 ** min(attempts - 1, 6), 5.0))
                    continue
                error = ModelConnectionError(
                    f"{exc} (endpoint unreachable for {now - outage_started:.0f}s, "
                    f"past run.endpoint_deadline={policy.endpoint_deadline:g}s)"
                )
                return _Attempt(attempts, error=error)
            except ModelError as exc:
                outage_started = None  # the endpoint answered: a later outage gets its own deadline
                if exc.retryable and retries < policy.cell_retries:
                    # Transient: give the endpoint time, then try this cell again.
                    retries += 1
                    await asyncio.sleep(policy.retry_delay * 2 ** (retries - 1) * (0.5 + random.random()))
                    continue
                return _Attempt(attempts * max(1, getattr(exc, "attempts", 1)), error=exc)
            except Exception as exc:  # a bug in a plugin or custom function fails its row, not the run
                return _Attempt(attempts, error=exc)


@dataclass
class _Attempt:
    """How a cell ended: an output (a value or `CellFiltered`) or the error that failed it."""

    attempts: int
    output: CellOutput | CellFiltered | None = None
    error: BaseException | None = None

    @property
    def filtered(self) -> bool:
        return isinstance(self.output, CellFiltered)
