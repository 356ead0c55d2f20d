"""Fill one row group: model-free columns in bulk, cells dispatched the moment their row's inputs are final.

A row group runs in phases. A *bulk* phase computes every batch column whose inputs are already final
for the whole group (samplers, expressions over samplers and seed fields). A *row* phase then runs each
row on its own: a cell starts as soon as that row's inputs exist, independently of other rows and
columns, so two models in a pipeline work at once. Batch columns downstream of a cell are computed per
row in the row phase; only columns that declare they need the whole group (`needs_whole_group`) wait
for a further bulk phase. A typical config has one bulk and one row phase.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from synthloom.engine.cell_runner import CellRunner
from synthloom.engine.failures import Failure
from synthloom.engine.generators.base import BatchGenerator, CellFailure, CellGenerator, RowGroupSlice
from synthloom.plan import Plan
from synthloom.plan.planner import ColumnPlan

__all__ = ["RowGroupResult", "RowGroupRunner"]

log = logging.getLogger(__name__)


@dataclass
class RowGroupResult:
    group: RowGroupSlice
    #: Every column (seed, generated, side, dropped) as a list of `group.size` values.
    values: dict[str, list[Any]]
    #: Rows removed, by position in the group.
    failures: dict[int, Failure] = field(default_factory=dict)

    def kept_rows(self) -> list[int]:
        return [i for i in range(self.group.size) if i not in self.failures]


class RowGroupRunner:
    """Runs the plan over one row group at a time; shared by every group of a run."""

    def __init__(
        self,
        plan: Plan,
        generators: dict[str, BatchGenerator[Any] | CellGenerator[Any]],
        cells: CellRunner,
        seed_rows: Callable[[RowGroupSlice], dict[str, list[Any]]] | None,
    ) -> None:
        self.plan = plan
        self.generators = generators
        self.cells = cells
        self.seed_rows = seed_rows
        self._by_name = {c.name: c for c in plan.columns}

    async def run(self, group: RowGroupSlice) -> RowGroupResult:
        values: dict[str, list[Any]] = {}
        if self.seed_rows is not None:
            values.update(self.seed_rows(group))
        for col in self.plan.columns:
            values[col.name] = [None] * group.size
            for side in col.config.side_columns():
                values[side] = [None] * group.size
        result = RowGroupResult(group, values)
        done: set[str] = set()
        remaining = [c.name for c in self.plan.columns]
        while remaining:
            progressed = await self._bulk_phase(result, remaining, done)
            row_columns = self._row_phase_columns(remaining, done)
            if row_columns:
                await self._row_phase(result, row_columns)
                done.update(row_columns)
                progressed = True
            remaining = [n for n in remaining if n not in done]
            if not progressed:  # pragma: no cover - the planner guarantees progress
                raise RuntimeError(f"no column can run in row group {group.index}: {remaining}")
        return result

    # ---- bulk -----------------------------------------------------------------------------------
    async def _bulk_phase(self, result: RowGroupResult, remaining: list[str], done: set[str]) -> bool:
        progressed = False
        for name in remaining:
            col = self._by_name[name]
            gen = self.generators[name]
            if name in done or not isinstance(gen, BatchGenerator) or not col.depends_on <= done:
                continue
            await self._run_batch(result, col, gen)
            done.add(name)
            progressed = True
        return progressed

    async def _run_batch(self, result: RowGroupResult, col: ColumnPlan, gen: BatchGenerator[Any]) -> None:
        group = result.group
        alive = [i not in result.failures for i in range(group.size)]
        active = self.cells.when_mask(
            col,
            result.values,
            group.size,
            alive,
            refused=lambda i, exc: self.cells._refused_condition(col, result, i, exc),
        )
        mask = None if all(active) else active
        if gen.cpu_bound:
            out = await asyncio.to_thread(gen.generate, result.values, group, mask)
        else:
            out = gen.generate(result.values, group, mask)
        self._store_batch(result, col, out, active)

    def _store_batch(
        self, result: RowGroupResult, col: ColumnPlan, out: Sequence[Any], active: Sequence[bool]
    ) -> None:
        group = result.group
        if len(out) != group.size:
            raise RuntimeError(f"column '{col.name}' returned {len(out)} values for {group.size} rows")
        target = result.values[col.name]
        for i, value in enumerate(out):
            if not active[i]:
                continue
            if isinstance(value, CellFailure):
                if i not in result.failures:
                    result.failures[i] = self.cells.record_failure(col.name, group, i, value.error, 1)
                continue
            target[i] = value
        n_active = sum(active)
        n_failed = sum(1 for i, v in enumerate(out) if active[i] and isinstance(v, CellFailure))
        self.cells.progress.batch_done(col.name, n_active - n_failed, group.size - n_active)

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

    async def _row_phase(self, result: RowGroupResult, columns: list[str]) -> None:
        rows = [i for i in range(result.group.size) if i not in result.failures]
        await asyncio.gather(*(self._run_row(result, i, columns) for i in rows))

    async def _run_row(self, result: RowGroupResult, i: int, columns: list[str]) -> None:
        pending: dict[asyncio.Task[bool], str] = {}
        waiting = list(columns)
        finished: set[str] = set()
        try:
            while waiting or pending:
                ready = [
                    n
                    for n in waiting
                    if self._by_name[n].depends_on & set(waiting) == set()
                    and not (self._by_name[n].depends_on & set(pending.values()))
                ]
                for name in ready:
                    waiting.remove(name)
                    gen = self.generators[name]
                    if isinstance(gen, CellGenerator):
                        task = asyncio.ensure_future(self.cells.run_cell(self._by_name[name], gen, result, i))
                        pending[task] = name
                    elif not await self.cells.run_row_batch(self._by_name[name], gen, result, i):
                        return
                    else:
                        finished.add(name)
                if not pending:
                    continue
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    pending.pop(task)
                    if not task.result():
                        return  # the row failed for good: stop its other cells
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
