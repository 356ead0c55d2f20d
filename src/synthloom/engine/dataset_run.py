"""One run: row groups in flight, committed as they complete, accounted for at the end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from synthloom.config.dataset import DatasetConfig
from synthloom.config.registry import get_column_type
from synthloom.engine.cell_runner import CellRunner
from synthloom.engine.failures import Failure, FailureMonitor
from synthloom.engine.generators.base import BatchGenerator, CellGenerator, RowGroupSlice
from synthloom.engine.progress import ProgressDisplay, ProgressTracker
from synthloom.engine.row_group import RowGroupResult, RowGroupRunner
from synthloom.engine.run_context import RunContext
from synthloom.errors import ConfigError
from synthloom.plan import Plan
from synthloom.row_groups import row_group_slices
from synthloom.seeds.reader import SeedReader
from synthloom.store.metadata import RunMetadata
from synthloom.store.resume import ResumeMode, remaining_work
from synthloom.store.run_directory import RunDirectory
from synthloom.store.table_codec import to_arrow_table

__all__ = ["RunOutcome", "generate_dataset", "generate_in_memory", "make_generators"]

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    records: int
    failures: list[Failure]
    usage: dict[str, Any]
    tables: list[pa.Table] = field(default_factory=list)


def make_generators(plan: Plan, run: RunContext) -> dict[str, BatchGenerator[Any] | CellGenerator[Any]]:
    """One generator per column. Raises `ConfigError` (naming the column) for what only a generator
    can check, so that `validate` catches it before anything is written."""
    out: dict[str, BatchGenerator[Any] | CellGenerator[Any]] = {}
    for col in plan.columns:
        cls = get_column_type(col.config.type).generator_class()
        try:
            out[col.name] = cls(col.config, run)
        except ConfigError as exc:
            if exc.column is None:
                exc.column = col.name
                exc.args = (exc._render(),)
            raise exc.with_source(run.config.source) from None
    return out


@contextlib.asynccontextmanager
async def _model_pool(config: DatasetConfig, plan: Plan) -> AsyncIterator[Any]:
    if not plan.model_aliases:
        yield None
        return
    from synthloom.models import ModelPool

    used = [m for m in config.models if m.alias in plan.model_aliases]
    async with ModelPool(used) as pool:
        yield pool


def _model_stats(pool: Any) -> Callable[[], dict[str, dict[str, Any]]]:
    def stats() -> dict[str, dict[str, Any]]:
        if pool is None:
            return {}
        usage = pool.usage.summary()["models"]
        out: dict[str, dict[str, Any]] = {}
        for alias, limiter in pool.limiter_stats().items():
            u = usage.get(alias, {})
            out[alias] = {
                "concurrency": f"{limiter['in_flight']}/{limiter['limit']}",
                "rate_limited": limiter["rate_limited"],
                "requests": u.get("requests", 0),
                "input_tokens": u.get("input_tokens", 0),
                "output_tokens": u.get("output_tokens", 0),
            }
        return out

    return stats


class _Run:
    """Everything one run shares; built before anything is written, so that a config error found while
    building a generator leaves the output directory untouched. The model pool is attached later."""

    def __init__(
        self, config: DatasetConfig, plan: Plan, seed: SeedReader | None, progress: ProgressTracker
    ) -> None:
        self.config = config
        self.plan = plan
        self.context = RunContext(config=config, run_seed=config.run.seed, models=None)
        self.monitor = FailureMonitor(max_rate=config.run.max_failure_rate, window=config.run.failure_window)
        self.cells = CellRunner(
            plan,
            progress,
            self.monitor,
            cell_retries=config.run.cell_retries,
            endpoint_deadline=config.run.endpoint_deadline,
        )
        generators = make_generators(plan, self.context)
        self.runner = RowGroupRunner(plan, generators, self.cells, seed.rows_for if seed else None)
        self.output_columns = plan.output_columns

    def table_for(self, result: RowGroupResult) -> pa.Table:
        keep = result.kept_rows()
        if len(keep) == result.group.size:
            columns = {n: result.values[n] for n in self.output_columns}
        else:
            columns = {n: [result.values[n][i] for i in keep] for n in self.output_columns}
        return to_arrow_table(columns, self.output_columns)

    async def run_groups(self, groups: list[RowGroupSlice], on_done: Callable[[RowGroupResult], Any]) -> None:
        """Run `groups` with at most `max_row_groups_in_flight` at once; `on_done` commits each."""
        limit = asyncio.Semaphore(self.config.run.max_row_groups_in_flight)
        tasks: set[asyncio.Task[None]] = set()

        async def one(group: RowGroupSlice) -> None:
            try:
                result = await self.runner.run(group)
                await on_done(result)
            finally:
                limit.release()

        try:
            for group in groups:
                await limit.acquire()
                failed = [t for t in tasks if t.done() and t.exception() is not None]
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
                tasks = {t for t in tasks if not t.done()}
                tasks.add(asyncio.create_task(one(group), name=f"row-group-{group.index}"))
            while tasks:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    tasks.discard(task)
                    task.result()
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)


async def _refresh_loop(display: ProgressDisplay) -> None:
    while True:
        await asyncio.sleep(0.25)
        display.refresh()


async def generate_dataset(
    config: DatasetConfig,
    plan: Plan,
    *,
    store: RunDirectory,
    num_records: int,
    resume: ResumeMode,
    seed: SeedReader | None,
    show_progress: bool,
) -> RunOutcome:
    """Generate into `store`, committing row group by row group. The store must be locked."""
    progress = ProgressTracker()
    run = _Run(config, plan, seed, progress)  # first: a config error here leaves the directory untouched
    work = remaining_work(store, config, num_records=num_records, mode=resume)
    store.clear_temporaries()
    store.drop_failures_for(g.index for g in work.todo)
    metadata = RunMetadata.start(store, config, work, num_records)
    store.write_config(config)
    store.append_failures([])  # failures.jsonl exists from the start, empty until a row fails
    progress.start(
        [c.name for c in plan.columns],
        records_to_generate=sum(g.size for g in work.todo),
        target=num_records,
        committed=work.committed_records,
    )

    async with _model_pool(config, plan) as pool:
        run.context.models = pool
        display = ProgressDisplay(progress, model_stats=_model_stats(pool), enabled=show_progress)

        async def commit(result: RowGroupResult) -> None:
            table = run.table_for(result)
            await asyncio.to_thread(store.commit_row_group, result.group.index, table)
            store.append_failures(f.to_json() for f in result.failures.values())
            metadata.group_committed(
                result.group.index,
                size=result.group.size,
                records=table.num_rows,
                failed=len(result.failures),
            )
            progress.row_group_committed(table.num_rows)

        status = "failed"
        refresher = asyncio.create_task(_refresh_loop(display))
        try:
            with display:
                await run.run_groups(work.todo, commit)
            run.monitor.check_final()
            status = "completed"
        except asyncio.CancelledError:
            status = "interrupted"
            raise
        finally:
            refresher.cancel()
            if status != "completed":
                # Rows of groups that never committed: recorded for diagnosis (a resume regenerates
                # those groups and drops these lines first).
                store.append_failures(
                    f.to_json() for f in run.cells.failures if not metadata.is_committed(f.row_group)
                )
            usage = _usage(pool, progress)
            store.write_usage(usage)
            metadata.finish(status, usage)
    return RunOutcome(records=metadata.committed_records, failures=run.cells.failures, usage=usage)


async def generate_in_memory(
    config: DatasetConfig, plan: Plan, *, num_records: int, seed: SeedReader | None
) -> RunOutcome:
    """The preview: the same engine, nothing written."""
    progress = ProgressTracker()
    progress.start(
        [c.name for c in plan.columns], records_to_generate=num_records, target=num_records, committed=0
    )
    tables: dict[int, pa.Table] = {}
    run = _Run(config, plan, seed, progress)
    async with _model_pool(config, plan) as pool:
        run.context.models = pool

        async def keep(result: RowGroupResult) -> None:
            tables[result.group.index] = run.table_for(result)

        await run.run_groups(row_group_slices(num_records, config.run.buffer_size, config.run.seed), keep)
        usage = _usage(pool, progress)
    ordered = [tables[i] for i in sorted(tables)]
    return RunOutcome(
        records=sum(t.num_rows for t in ordered), failures=run.cells.failures, usage=usage, tables=ordered
    )


def _usage(pool: Any, progress: ProgressTracker) -> dict[str, Any]:
    usage: dict[str, Any] = {"models": {}, "columns": {}}
    if pool is not None:
        usage.update(pool.usage.summary())
        usage["limiters"] = pool.limiter_stats()
    for name, col in progress.columns.items():
        entry = usage["columns"].setdefault(name, {})
        entry.update(cells_done=col.done, cells_failed=col.failed, cells_skipped=col.skipped)
    usage["elapsed_seconds"] = round(progress.elapsed(), 3)
    return usage
