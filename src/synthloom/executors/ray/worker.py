"""What runs on a Ray worker: `RowGroupWorker`, one actor per worker process, running row groups.

A worker is given the dataset config as plain data (`DatasetConfig.to_dict()`) and builds its own plan
and generators from it, once, on its first row group: generators hold compiled templates and imported
functions, which are rebuilt where they run rather than shipped. The config's folder is the worker's
working directory (shipped through Ray's runtime environment), so helper modules next to the config
import as they do locally and relative paths resolve the same way. Seed rows are not read here: the
driver ships each group's slice with the task (see `ray_executor.py`).

Each worker runs several row groups at once on its event loop, like the local executor, sharing one
model pool whose limiters are leases of the run's budgets (`LeasedLimiter`). It returns each group's
`GroupResult` and never writes the run directory. What the driver shows and accounts for — cells
finished, rows removed, every model exchange — is kept in a `WorkerReport` that the driver drains.

The driver runs one of these in its own process too (`DriverLeases`), for the first row groups of a run
while the worker processes start: its limiters begin with an opening lease of each budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthloom.config.dataset import DatasetConfig
from synthloom.config.run_config import CacheConfig
from synthloom.engine.contexts import RunResources
from synthloom.engine.executor import GroupResult, Job
from synthloom.engine.failures import Failure, FilteredRow
from synthloom.engine.generation import build_job
from synthloom.engine.row_group import RowGroupRunner
from synthloom.engine.row_runner import CellStatus
from synthloom.executors.ray.leased_limiter import LeasedLimiter
from synthloom.executors.run_group import run_group
from synthloom.models.adaptive_limiter import AdaptiveLimiter
from synthloom.models.calls import ResponseCache
from synthloom.models.model_pool import ModelPool
from synthloom.models.results import CallUsage
from synthloom.models.usage import UsageTracker
from synthloom.plan import build_plan
from synthloom.row_groups import RowGroupSlice

__all__ = [
    "CallRecord",
    "DriverLeases",
    "EventLog",
    "RecordingUsage",
    "RowGroupWorker",
    "WorkerReport",
    "WorkerSpec",
]

#: One model exchange as `UsageTracker.record` saw it: alias, tag, usage, ok, cached.
CallRecord = tuple[str, str | None, CallUsage, bool, bool]


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker of a run is built from."""

    #: `DatasetConfig.to_dict()`.
    config: dict[str, Any]
    #: The config's folder was shipped as the worker's working directory.
    shipped_dir: bool
    #: Else where the config's folder is on the worker (a shared filesystem), or None.
    base_dir: str | None = None
    seed_columns: tuple[str, ...] = ()
    #: The name of each budget's actor, by limiter key. (Names, not handles: Ray keeps a handle passed
    #: to an actor in its object store, where a restart of the actor could find it gone.)
    budgets: dict[tuple[str, str], str] = field(default_factory=dict)
    lease_ttl: float = 5.0
    #: `run.cache` with its path resolved on the driver (None: no cache). Workers on the driver's machine
    #: open the same SQLite file; a worker on another node opens that path on its own disk.
    cache: dict[str, Any] | None = None


@dataclass(frozen=True)
class DriverLeases:
    """What the worker the driver runs in its own process holds from the start (see `lease_budget.py`,
    "The opening lease")."""

    #: Its name as a holder of the budgets' leases.
    holder: str
    #: The budgets' actors, by limiter key (the driver created them).
    budgets: dict[tuple[str, str], Any]
    #: When it took its opening lease of each (`time.monotonic()`), before creating them.
    opened_at: float


@dataclass
class WorkerReport:
    """What a worker saw since its last report."""

    pid: int
    #: Cells finished per (column, status).
    cells: dict[tuple[str, str], int] = field(default_factory=dict)
    removed: list[Failure | FilteredRow] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    #: Per budget name: this worker's lease, the level it last heard of, in flight, renewals.
    leases: dict[str, dict[str, int]] = field(default_factory=dict)


class EventLog:
    """`CellEvents` kept for the driver to replay (progress, early shutdown)."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], int] = {}
        self.removed: list[Failure | FilteredRow] = []

    def cells_finished(self, column: str, status: CellStatus, count: int = 1) -> None:
        key = (column, status)
        self.cells[key] = self.cells.get(key, 0) + count

    def row_removed(self, record: Failure | FilteredRow) -> None:
        self.removed.append(record)

    def take(self) -> tuple[dict[tuple[str, str], int], list[Failure | FilteredRow]]:
        cells, removed = self.cells, self.removed
        self.cells, self.removed = {}, []
        return cells, removed


class RecordingUsage(UsageTracker):
    """A usage tracker that also keeps every exchange, so that the driver's tracker can replay them:
    its per-model and per-column latency percentiles are then exact over all workers."""

    def __init__(self, pricing: Mapping[str, Any]) -> None:
        super().__init__(dict(pricing))
        self.calls: list[CallRecord] = []

    def record(
        self,
        alias: str,
        tag: str | None,
        usage: CallUsage,
        *,
        ok: bool = True,
        row_group: int | None = None,
        cached: bool = False,
        batched: bool = False,
    ) -> None:
        # Batches are never applied under Ray (the executor refuses `batch:`), so `batched` is not kept.
        super().record(alias, tag, usage, ok=ok, row_group=row_group, cached=cached, batched=batched)
        self.calls.append((alias, tag, usage, ok, cached))

    def take_calls(self) -> list[CallRecord]:
        calls, self.calls = self.calls, []
        return calls


class RowGroupWorker:
    """A Ray actor (wrapped with `ray.remote` by the executor) that runs row groups of one run."""

    def __init__(self, spec: WorkerSpec, index: int, driver: DriverLeases | None = None) -> None:
        self._spec = spec
        self._driver = driver
        # Unique per process: a restarted worker is a new holder, and the budget lets the dead one's
        # slots expire rather than hand them out while its requests may still be at the server.
        self._name = driver.holder if driver is not None else f"worker-{index}-{os.getpid()}"
        self._events = EventLog()
        self._slices: dict[int, dict[str, list[Any]]] = {}
        self._limiters: list[LeasedLimiter] = []
        self._job: Job | None = None
        self._runner: RowGroupRunner | None = None
        self._pool: ModelPool | None = None
        self._usage: RecordingUsage | None = None
        self._resources = RunResources()
        self._opening: asyncio.Lock | None = None
        self._cache: ResponseCache | None = None

    def pid(self) -> int:
        return os.getpid()

    async def warm(self) -> int:
        """Build the generators and the model pool now (the driver hands this worker groups once it
        is warm); the process id."""
        await self._open()
        return os.getpid()

    async def run_group(self, group: RowGroupSlice, seed_rows: dict[str, list[Any]] | None) -> GroupResult:
        """Generate one row group (its seed slice shipped along) and return its result."""
        await self._open()
        if seed_rows is not None:
            self._slices[group.index] = seed_rows
        # A task of its own: the usage scope it sets is this group's alone.
        return await asyncio.create_task(self._run(group), name=f"row-group-{group.index}")

    async def drain(self) -> WorkerReport:
        """What happened since the last report."""
        cells, removed = self._events.take()
        return WorkerReport(
            pid=os.getpid(),
            cells=cells,
            removed=removed,
            calls=self._usage.take_calls() if self._usage is not None else [],
            leases={limiter.name: limiter.lease_figures() for limiter in self._limiters},
        )

    async def close(self) -> WorkerReport:
        """Hand the leases back, close the model pool and the run's resources; the last report."""
        for limiter in self._limiters:
            await limiter.aclose()
        await self._resources.aclose()
        if self._pool is not None:
            await self._pool.aclose()
        if self._cache is not None:
            await self._cache.aclose()
        return await self.drain()

    # -- internals ---------------------------------------------------------------------------------

    async def _open(self) -> None:
        if self._runner is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._runner is None:
                self._build()
                if self._cache is not None:
                    await self._cache.open()

    def _build(self) -> None:
        spec = self._spec
        config = DatasetConfig.model_validate(spec.config)
        if spec.shipped_dir:
            # Ray made the shipped folder this process's working directory: relative paths and helper
            # modules resolve there, as next to the config file on the driver.
            config._base_dir = Path.cwd()
        elif spec.base_dir is not None:
            config._base_dir = Path(spec.base_dir)
        plan = build_plan(config, seed_columns=spec.seed_columns)
        job = build_job(config, plan, seed=None)
        if job.model_aliases:
            used = [m for m in config.models if m.alias in job.model_aliases]
            cache = ResponseCache.from_config(
                CacheConfig.model_validate(spec.cache) if spec.cache is not None else None
            )
            self._cache = cache
            pool = ModelPool(
                used, limiter_factory=self._leased, wrappers=[cache.wrap] if cache is not None else []
            )
            # Before any client exists, so that every exchange is kept for the driver.
            self._usage = RecordingUsage({m.alias: m.pricing for m in used})
            pool.usage = self._usage
            self._pool = pool
        seed_rows: Callable[[RowGroupSlice], dict[str, list[Any]]] | None = None
        if spec.seed_columns:
            seed_rows = self._seed_slice
        self._job = job
        self._runner = RowGroupRunner(job.plan, job.generators, policy=job.policy, seed_rows=seed_rows)

    def _seed_slice(self, group: RowGroupSlice) -> dict[str, list[Any]]:
        return self._slices.pop(group.index)

    def _leased(self, key: tuple[str, str], ceiling: int, name: str) -> AdaptiveLimiter:
        import ray

        driver = self._driver
        budget = driver.budgets[key] if driver is not None else ray.get_actor(self._spec.budgets[key])

        async def send(request: Any) -> Any:
            return await budget.renew.remote(request)

        limiter = LeasedLimiter(
            ceiling,
            name=name,
            worker=self._name,
            channel=send,
            ttl=self._spec.lease_ttl,
            opened_at=driver.opened_at if driver is not None else None,
        )
        self._limiters.append(limiter)
        return limiter

    async def _run(self, group: RowGroupSlice) -> GroupResult:
        assert self._runner is not None and self._job is not None
        try:
            return await run_group(
                self._job,
                self._runner,
                group,
                models=self._pool,
                resources=self._resources,
                events=self._events,
            )
        finally:
            with contextlib.suppress(KeyError):
                del self._slices[group.index]
