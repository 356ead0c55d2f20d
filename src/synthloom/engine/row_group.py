"""Fill one row group: model-free columns in bulk, then each row through the row runner.

A row group runs in phases. A *bulk* phase computes every batch column whose inputs are already final
for the whole group (samplers, expressions over samplers and seed fields, filters over them). A *row*
phase then runs each surviving row through a `RowRunner`: a cell starts as soon as that row's inputs
exist, independently of other rows and columns, so two models in a pipeline work at once. Batch columns
downstream of a cell are computed per row in the row phase; only columns that declare they need the
whole group (`needs_whole_group`) wait for a further bulk phase. A typical config has one bulk and one
row phase.

With `run.retry: same_inputs` (`CellPolicy.row_attempts` > 1) a row that a row phase filters is run
through that phase again, up to `row_attempts` times in all, with the same inputs and new cell seeds:
its sampler and seed values never change, so the kept rows keep the sampled distribution. A verdict
of the bulk phase reads only those values and would repeat, so it is final.

The runner owns the group's table while it runs and returns it in a `RowGroupRows`; nothing else
writes into it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
from jinja2.exceptions import SecurityError

from synthloom.engine.conditions import ColumnInputs
from synthloom.engine.failures import Failure, FilteredRow, judge_scores
from synthloom.engine.generator import (
    BatchGenerator,
    CellFailure,
    CellFiltered,
    CellRewrite,
    ColumnGenerator,
)
from synthloom.engine.row_runner import CellEvents, CellPolicy, RowRunner, failure_of
from synthloom.plan import Plan
from synthloom.plan.templates import template_seed
from synthloom.row_groups import RowGroupSlice
from synthloom.store.table_codec import to_arrow_table

if TYPE_CHECKING:
    from synthloom.models import ModelPool

__all__ = ["RowGroupRows", "RowGroupRunner"]

#: Rows of a group set up in one turn of the event loop (the rest follow in later turns).
_START_CHUNK = 25


@dataclass
class RowGroupRows:
    """A finished row group: every column's values, and the rows that did not survive."""

    group: RowGroupSlice
    #: Every column (seed, generated, side, dropped) as a list of `group.size` values.
    values: dict[str, list[Any]]
    failures: dict[int, Failure] = field(default_factory=dict)
    filtered: dict[int, FilteredRow] = field(default_factory=dict)
    #: Every model-backed cell's lineage (see `RowResult.lineage`).
    lineage: list[dict[str, Any]] = field(default_factory=list)

    def kept_rows(self) -> list[int]:
        return [i for i in range(self.group.size) if i not in self.failures and i not in self.filtered]

    def removed(self, i: int) -> bool:
        return i in self.failures or i in self.filtered

    def table(self, columns: Sequence[str]) -> pa.Table:
        """The kept rows as an Arrow table of `columns`."""
        keep = self.kept_rows()
        if len(keep) == self.group.size:
            data = {n: self.values[n] for n in columns}
        else:
            data = {n: [self.values[n][i] for i in keep] for n in columns}
        return to_arrow_table(data, list(columns))

    def rows(self, columns: Sequence[str]) -> list[dict[str, Any]]:
        """The kept rows as dicts of `columns`."""
        return [{n: self.values[n][i] for n in columns} for i in self.kept_rows()]


class RowGroupRunner:
    """Runs the plan over one row group at a time; shared by every group of a run (it holds no state of
    any group)."""

    def __init__(
        self,
        plan: Plan,
        generators: Mapping[str, ColumnGenerator[Any]],
        *,
        policy: CellPolicy,
        seed_rows: Callable[[RowGroupSlice], dict[str, list[Any]]] | None = None,
    ) -> None:
        self.plan = plan
        self.generators = generators
        self.policy = policy
        self.seed_rows = seed_rows
        self.inputs = ColumnInputs(plan)
        self._by_name = {c.name: c for c in plan.columns}
        self._executors: dict[tuple[str, ...], RowRunner] = {}

    async def run(
        self, group: RowGroupSlice, *, models: ModelPool | None, events: CellEvents
    ) -> RowGroupRows:
        values: dict[str, list[Any]] = {}
        if self.seed_rows is not None:
            values.update(await asyncio.to_thread(self.seed_rows, group))
        for col in self.plan.columns:
            values[col.name] = [None] * group.size
            for side in col.config.side_columns():
                values[side] = [None] * group.size
        outcome = RowGroupRows(group, values)
        done: set[str] = set()
        remaining = [c.name for c in self.plan.columns]
        while remaining:
            progressed = await self._bulk_phase(outcome, remaining, done, events)
            row_columns = self._row_phase_columns(remaining, done)
            if row_columns:
                await self._row_phase(outcome, row_columns, models, events)
                done.update(row_columns)
                progressed = True
            remaining = [n for n in remaining if n not in done]
            if not progressed:  # pragma: no cover - the planner guarantees progress
                raise RuntimeError(f"no column can run in row group {group.index}: {remaining}")
        return outcome

    # ---- bulk -----------------------------------------------------------------------------------
    async def _bulk_phase(
        self, outcome: RowGroupRows, remaining: list[str], done: set[str], events: CellEvents
    ) -> bool:
        progressed = False
        for name in remaining:
            col = self._by_name[name]
            gen = self.generators[name]
            if name in done or not isinstance(gen, BatchGenerator) or not col.depends_on <= done:
                continue
            await self._run_batch(outcome, name, gen, events)
            done.add(name)
            progressed = True
        return progressed

    async def _run_batch(
        self, outcome: RowGroupRows, name: str, gen: BatchGenerator[Any], events: CellEvents
    ) -> None:
        group = outcome.group

        def refused(i: int, exc: SecurityError) -> None:
            self._fail(outcome, name, i, SecurityError(f"when: {exc}"), events)

        size = group.size
        removed = outcome.failures.keys() | outcome.filtered.keys()
        alive = [i not in removed for i in range(size)] if removed else [True] * size
        active = self.inputs.mask(name, outcome.values, alive, refused)
        everyone = not removed and all(active)
        mask = None if everyone else active
        seed = group.seed_for(name)
        if gen.cpu_bound:
            out = await asyncio.to_thread(_generate_seeded, gen, outcome.values, group, mask, seed)
        else:
            out = _generate_seeded(gen, outcome.values, group, mask, seed)
        if len(out) != size:
            raise RuntimeError(f"column '{name}' returned {len(out)} values for {size} rows")
        # Most batches hold only values: take the list whole, then deal with the few outcomes in it.
        values = list(out)
        special = [i for i, v in enumerate(values) if type(v) is CellFailure or type(v) is CellFiltered]
        rewrites = [i for i, v in enumerate(values) if type(v) is CellRewrite]
        if rewrites:
            self._apply_rewrites(outcome, name, values, rewrites, active if not everyone else None)
        if not everyone:
            for i in range(size):
                if not active[i]:
                    values[i] = None
            special = [i for i in special if active[i]]
        for i in special:
            value = values[i]
            values[i] = None
            if isinstance(value, CellFailure):
                self._fail(outcome, name, i, value.error, events)
            elif not outcome.removed(i):
                scores = judge_scores({c: v[i] for c, v in outcome.values.items()})
                outcome.filtered[i] = FilteredRow(group.index, group.start + i, name, value.reason, scores)
                events.cells_finished(name, "filtered")
                events.row_removed(outcome.filtered[i])
        outcome.values[name] = values
        n_active = size if everyone else sum(active)
        if n_active - len(special):
            events.cells_finished(name, "done", n_active - len(special))
        n_skipped = sum(alive) - n_active if not everyone else 0
        if n_skipped:
            events.cells_finished(name, "skipped", n_skipped)

    def _apply_rewrites(
        self,
        outcome: RowGroupRows,
        name: str,
        values: list[Any],
        rows: list[int],
        active: Sequence[bool] | None,
    ) -> None:
        """Replace other columns' values as the `CellRewrite`s in column `name`'s output ask, and keep
        the cell's own value; each one is recorded in the row's lineage."""
        group = outcome.group
        for i in rows:
            rewrite: CellRewrite = values[i]
            values[i] = rewrite.value
            if active is not None and not active[i]:
                continue
            target = outcome.values.get(rewrite.column)
            if target is None:
                raise RuntimeError(
                    f"column '{name}' rewrites '{rewrite.column}', which is not in the row group"
                )
            target[i] = rewrite.replacement
            if self.policy.lineage:
                outcome.lineage.append(
                    {
                        "column": rewrite.column,
                        "record": group.start + i,
                        "status": "repaired",
                        "attempts": 1,
                        "seconds": 0.0,
                        "calls": [orjson.dumps({"rewritten_by": name, **rewrite.note}, default=str)],
                    }
                )

    def _fail(
        self, outcome: RowGroupRows, column: str, i: int, error: str | BaseException, events: CellEvents
    ) -> None:
        if outcome.removed(i):
            return
        failure = failure_of(column, outcome.group, outcome.group.start + i, error, 1)
        outcome.failures[i] = failure
        events.cells_finished(column, "failed")
        events.row_removed(failure)

    # ---- rows -----------------------------------------------------------------------------------
    def _row_phase_columns(self, remaining: list[str], done: set[str]) -> list[str]:
        """Remaining columns that can run row by row: not whole-group columns, nor downstream of one."""
        blocked: set[str] = set()
        out: list[str] = []
        for name in remaining:  # topological order
            if name in done:
                continue
            col = self._by_name[name]
            gen = self.generators[name]
            whole = isinstance(gen, BatchGenerator) and getattr(gen, "needs_whole_group", False)
            if whole or col.depends_on & blocked:
                blocked.add(name)
            else:
                out.append(name)
        return out

    def _executor(self, columns: list[str]) -> RowRunner:
        key = tuple(columns)
        executor = self._executors.get(key)
        if executor is None:
            executor = RowRunner(self.plan, columns, self.generators, self.inputs, policy=self.policy)
            self._executors[key] = executor
        return executor

    async def _row_phase(
        self, outcome: RowGroupRows, columns: list[str], models: ModelPool | None, events: CellEvents
    ) -> None:
        executor = self._executor(columns)
        group = outcome.group
        readable = [k for k in outcome.values if k not in set(columns)]

        async def one(i: int) -> None:
            inputs = {k: outcome.values[k][i] for k in readable}
            result = await executor.run(
                inputs, record=group.start + i, group=group, models=models, events=events
            )
            attempts = 1
            while result.filtered is not None and attempts < self.policy.row_attempts:
                # `run.retry: same_inputs`: the row's inputs (seed and sampler values, and what was
                # computed from them before this phase) stay; every cell of the phase gets a new seed.
                result = await executor.run(
                    inputs, record=group.start + i, group=group, models=models, events=events, retry=attempts
                )
                attempts += 1
            if result.filtered is not None and attempts > 1:
                result.filtered = dataclasses.replace(result.filtered, attempts=attempts)
            for name, value in result.values.items():
                outcome.values[name][i] = value
            outcome.lineage.extend(result.lineage)
            if result.failure is not None:
                outcome.failures[i] = result.failure
            elif result.filtered is not None:
                outcome.filtered[i] = result.filtered

        rows = [i for i in range(group.size) if not outcome.removed(i)]
        started: list[asyncio.Task[None]] = []
        try:
            for at in range(0, len(rows), _START_CHUNK):
                if at:
                    # Let the rows started so far send their first requests before more are set up: a
                    # thousand rows set up in one turn of the loop kept the first request back by that long.
                    await asyncio.sleep(0)
                started.extend(asyncio.ensure_future(one(i)) for i in rows[at : at + _START_CHUNK])
            await asyncio.gather(*started)
        finally:
            # A row that ended the run (early shutdown) or a cancelled group: no row outlives its group.
            unfinished = [task for task in started if not task.done()]
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.gather(*unfinished, return_exceptions=True)


def _generate_seeded(
    gen: BatchGenerator[Any],
    table: Mapping[str, Sequence[Any]],
    group: RowGroupSlice,
    mask: Sequence[bool] | None,
    seed: int,
) -> list[Any]:
    with template_seed(seed):
        return gen.generate(table, group, mask)
