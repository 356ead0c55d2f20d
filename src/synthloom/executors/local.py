"""The default executor: row groups as asyncio tasks in this process, sharing one model pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from synthloom.engine.contexts import RunResources
from synthloom.engine.executor import GroupResult, GroupSupply, Job
from synthloom.engine.row_group import RowGroupRunner
from synthloom.engine.row_runner import CellEvents
from synthloom.executors.run_group import run_group
from synthloom.models.calls import RequestSink
from synthloom.observers.progress import model_rows
from synthloom.row_groups import RowGroupSlice

if TYPE_CHECKING:
    from synthloom.models import ModelPool

__all__ = ["LocalExecutor"]


@contextlib.asynccontextmanager
async def open_models(
    job: Job, *, request_sinks: Sequence[RequestSink] = ()
) -> AsyncIterator[ModelPool | None]:
    """The model pool of the aliases the plan uses (None when no column calls a model)."""
    if not job.model_aliases:
        yield None
        return
    from synthloom.models import ModelPool
    from synthloom.models.calls import HandlerWrapper, ResponseCache, RunBatches

    used = [m for m in job.config.models if m.alias in job.model_aliases]
    cache = ResponseCache.from_config(job.cache, sole_writer=True)
    batched = [m.alias for m in used if m.batch is not None]
    batches = RunBatches(job.batch_state) if batched and job.batch_state is not None else None
    # The cache is outside the batches: an answer it holds never goes into a batch.
    wrappers: list[HandlerWrapper] = []
    if cache is not None:
        wrappers.append(cache.wrap)
    if batches is not None:
        wrappers.append(batches.wrap)
    try:
        async with ModelPool(
            used, request_sinks=request_sinks, wrappers=wrappers, spend_journal=job.spend_journal
        ) as pool:
            if cache is not None:
                await cache.open()
                pool.usage.add_report("cache", "responses", cache.report)
            if batches is not None:
                for alias in batched:
                    pool.usage.add_report("batches", alias, batches.report(alias))
            yield pool
    finally:
        if batches is not None:
            await batches.aclose()
        if cache is not None:
            await cache.aclose()


class LocalExecutor:
    """Runs up to `run.max_row_groups_in_flight` row groups at once on this event loop. Cells of every
    group in flight share the model pool's limiters, so later models work while earlier ones produce."""

    def __init__(self) -> None:
        self._pool: ModelPool | None = None
        self._final_usage: dict[str, Any] | None = None
        self._sinks: list[RequestSink] = []

    def add_sample_sink(self, sink: RequestSink) -> None:
        """Tell `sink` of every request attempt of the runs that start afterwards (the run's metrics)."""
        self._sinks.append(sink)

    def model_stats(self) -> dict[str, dict[str, Any]]:
        pool = self._pool
        if pool is None:
            return {}
        return model_rows(pool.usage.summary()["models"], pool.limiter_stats(), live=pool.usage.live())

    def usage_summary(self) -> dict[str, Any]:
        if self._final_usage is not None:
            return self._final_usage
        return _pool_usage(self._pool)

    async def run(self, job: Job, supply: GroupSupply, events: CellEvents) -> AsyncIterator[GroupResult]:
        self._final_usage = None
        # Resources (MCP servers) close before the models: a tool loop never outlives its model pool.
        async with open_models(job, request_sinks=self._sinks) as pool, RunResources() as resources:
            self._pool = pool
            try:
                async for result in self._run_groups(job, supply, events, pool, resources):
                    yield result
            finally:
                self._final_usage = _pool_usage(pool)
                self._pool = None

    async def _run_groups(
        self,
        job: Job,
        supply: GroupSupply,
        events: CellEvents,
        pool: ModelPool | None,
        resources: RunResources,
    ) -> AsyncIterator[GroupResult]:
        runner = RowGroupRunner(
            job.plan,
            job.generators,
            policy=job.policy,
            seed_rows=job.seed.rows_for if job.seed is not None else None,
        )
        limit = job.config.run.max_row_groups_in_flight

        def one(group: RowGroupSlice) -> Coroutine[Any, Any, GroupResult]:
            return run_group(job, runner, group, models=pool, resources=resources, events=events)

        pending: dict[asyncio.Task[GroupResult], RowGroupSlice] = {}
        try:
            while True:
                while len(pending) < limit:
                    group = supply()
                    if group is None:
                        break
                    pending[asyncio.create_task(one(group), name=f"row-group-{group.index}")] = group
                if not pending:
                    return
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: pending[t].index):
                    pending.pop(task)
                    yield task.result()
        finally:
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)


def _pool_usage(pool: ModelPool | None) -> dict[str, Any]:
    if pool is None:
        return {"models": {}, "columns": {}}
    usage: dict[str, Any] = dict(pool.usage.summary())
    usage["limiters"] = pool.limiter_stats()
    return usage
