"""`RayExecutor`: row groups as tasks on a Ray cluster, under one concurrency budget per endpoint.

    executor = RayExecutor(address="ray://head:10001")          # None: start a local cluster
    await generate_dataset(job, directory=..., executor=executor, ...)

The driver (this process) keeps everything that decides the run: it hands out row groups, ships each
group's seed slice, commits results (through the one committer, as with the local executor) and owns
the run directory. So the on-disk format, resume and reproducibility are the local executor's: the
same row group gives the same draws wherever it runs, and a run can be resumed with either executor.

**Workers.** `workers` actors (`RowGroupWorker`, one process each; by default one per CPU of the
cluster) each run up to `run.max_row_groups_in_flight` groups at once; a group is one actor task.
Workers build their generators from the config's plain data. The config's folder (helper modules,
files it names) travels as the job's `working_dir` in Ray's runtime environment when this executor
connects to the cluster, without secrets, runs, Ray's temp folder, caches or columnar data, and under a
size cap (`job_package.py`); in a Ray session the caller already started, workers find the folder where it is
(on their `PYTHONPATH`: a local cluster shares this machine's files). Plugins are installed packages:
the cluster's Python environment must have them (or `runtime_env={"pip": [...]}`).

**The opening.** Starting a worker process (Ray's worker, imports, building the generators) takes a
second or two, and the server would sit idle meanwhile. So by default (`start_on_driver`) the driver
runs the first groups itself, in a `RowGroupWorker` of its own, until a worker is warm (has built
its generators); from then on the workers get every group, and the driver hands its leases back once
its own groups are done. It shares the budgets like a worker: it cannot wait for a budget's actor
(itself a process starting) to grant it a lease, so it takes an *opening lease* of each budget before
creating the actor, and the actor is created knowing it (`lease_budget.py`): the ceiling holds for
the driver and the workers together from the first request.

**A cluster this executor starts** (no address, no Ray session yet) is reachable from this machine
only: every Ray server binds 127.0.0.1 (`_node_ip_address`), there is no dashboard, and token
authentication is on (Ray ≥ 2.59 turns it on for a local cluster unless `RAY_AUTH_MODE=disabled`, which
is refused here; the start is checked and a cluster without it is shut down at once). A standing
cluster given by address is the operator's to secure (README, "Security model").

**Seeds** are read here and each group's slice is shipped with its task, rather than read by the
workers: the seed reader may have transformed, joined, chunked or downloaded its data once, into a
temporary file on this machine; workers on other machines need not see any of it, and a slice is
small (`buffer_size` rows of the seed's columns).

**Budgets.** One `BudgetActor` per endpoint (limiter key) holds the adaptive level; each worker's model
pool holds leases of it (`LeasedLimiter`), so K workers respect one ceiling without a message per
request.

**Served models** (`serve:`) are started by this executor, once connected: each replica a Ray actor
with the resources it asks, running the server on its node (`served_replica.py`), under the same
supervisor as local replicas (health, restarts, stop at the end). The workers see the config rewritten
to `endpoints:` at the replicas' URLs, so each replica has its own budget.

**Faults.** A worker that dies takes its groups' tasks with it: the driver hands those groups out
again (to another worker first; Ray restarts the dead one, up to `worker_restarts` times), and each
group is committed once, when its first result arrives. A group lost `max_group_attempts` times ends
the run with a `GenerationError`. A budget actor that dies is restarted by Ray and recovers its
leases (`lease_budget.py`). A driver that dies takes its actors with it; `--resume` continues from
the committed row groups, with this executor or the local one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from synthloom.config.model_config import ModelConfig
from synthloom.engine.executor import GroupResult, GroupSupply, Job
from synthloom.engine.row_runner import CellEvents, CellStatus
from synthloom.errors import ConfigError, GenerationError
from synthloom.executors.ray.budget_actor import BudgetActor
from synthloom.executors.ray.job_package import (
    DEFAULT_MAX_PACKAGE_BYTES,
    ray_temp_dir,
    worker_runtime_env,
)
from synthloom.executors.ray.served_replica import (
    DEFAULT_PLACEMENT_TIMEOUT,
    check_cluster_resources,
    ray_replica_factory,
    served_cpus,
)
from synthloom.executors.ray.worker import DriverLeases, RowGroupWorker, WorkerReport, WorkerSpec
from synthloom.models.providers.registry import check_models
from synthloom.models.serving.supervisor import ServedModels, served_config
from synthloom.models.usage import UsageTracker
from synthloom.observers.progress import model_rows
from synthloom.row_groups import RowGroupSlice

__all__ = ["LOOPBACK", "RayExecutor", "limiter_ceilings", "worker_runtime_env"]

logger = logging.getLogger(__name__)

#: The only address a cluster this executor starts listens on.
LOOPBACK = "127.0.0.1"

#: Ray's switch for token authentication (it must be in the environment, not in `ray.init`).
_AUTH_MODE = "RAY_AUTH_MODE"


def _refuse_unauthenticated_start() -> None:
    if os.environ.get(_AUTH_MODE, "").lower() == "disabled":
        raise ConfigError(
            f"{_AUTH_MODE}=disabled is set: synthloom starts a local Ray cluster only with token "
            f"authentication. Unset {_AUTH_MODE}, or start a cluster yourself and give its address",
            field="run.executor",
        )


#: Ray's switch for a cluster of one machine. Off, Ray takes 127.0.0.1 as the node's address (it turns a
#: given `_node_ip_address` of 127.0.0.1 into the machine's outward address otherwise), and its servers
#: then listen on loopback only.
_ONE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _single_machine(ray: Any) -> None:
    """Start the next local cluster as a one-machine cluster: node address 127.0.0.1, which Ray's
    servers (GCS, raylet, workers, agents) then bind. Child processes read the variable; this process
    already read it at import, so its constant is set too."""
    os.environ[_ONE_MACHINE] = "0"
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "run.executor is 'ray' but Ray is not installed: pip install 'synthloom[ray]'",
            field="run.executor",
        ) from None
    return ray


def request_timeouts(models: Iterable[ModelConfig]) -> dict[tuple[str, str], float]:
    """Per limiter key, the longest one request to it may take (the highest timeout of its replicas):
    how long a silent worker's requests may still be at the server after its lease expired."""
    configs = list(models)
    providers = check_models(configs)
    timeouts: dict[tuple[str, str], float] = {}
    for config in configs:
        for replica in config.replicas():
            key = providers[config.alias].limiter_key(replica)
            timeouts[key] = max(timeouts.get(key, 0.0), replica.timeout)
    return timeouts


def limiter_ceilings(models: Iterable[ModelConfig]) -> dict[tuple[str, str], int]:
    """The budgets a model pool of `models` has: per limiter key, the lowest ceiling of its replicas."""
    configs = list(models)
    providers = check_models(configs)
    ceilings: dict[tuple[str, str], int] = {}
    for config in configs:
        for replica in config.replicas():
            key = providers[config.alias].limiter_key(replica)
            limit = replica.max_parallel_requests
            ceilings[key] = min(ceilings.get(key, limit), limit)
    return ceilings


@dataclass
class _Worker:
    index: int
    handle: Any
    load: int = 0
    alive: bool = True
    gone: bool = False
    probe: asyncio.Future[Any] | None = None
    #: The driver's own worker, run in this process (`handle` is None then), and its calls running.
    local: RowGroupWorker | None = None
    running: set[asyncio.Future[Any]] = field(default_factory=set)


@dataclass
class _Task:
    group: RowGroupSlice
    worker: _Worker
    attempt: int


class RayExecutor:
    """Runs row groups as Ray actor tasks (see the module doc)."""

    #: This executor starts the run's `serve:` models itself, as actors of its cluster.
    starts_served_models = True

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        runtime_env: dict[str, Any] | None = None,
        exclude: Sequence[str | Path] = (),
        lease_ttl: float = 5.0,
        max_group_attempts: int = 3,
        worker_restarts: int = 2,
        report_interval: float = 0.5,
        init_options: dict[str, Any] | None = None,
        max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES,
        placement_timeout: float = DEFAULT_PLACEMENT_TIMEOUT,
        start_on_driver: bool = True,
    ) -> None:
        if workers is not None and workers < 1:
            raise ConfigError("the number of Ray workers must be at least 1", field="run.ray_workers")
        self.address = address
        self.workers = workers
        self.runtime_env = runtime_env
        self.exclude = list(exclude)
        self.lease_ttl = lease_ttl
        self.max_group_attempts = max_group_attempts
        self.worker_restarts = worker_restarts
        self.report_interval = report_interval
        self.init_options = dict(init_options or {})
        self.max_package_bytes = max_package_bytes
        self.placement_timeout = placement_timeout
        #: The driver runs the first groups while the workers start (see "The opening").
        self.start_on_driver = start_on_driver
        self._served: ServedModels | None = None
        self._served_cpus = 0.0
        self._usage = UsageTracker()
        self._budgets: dict[tuple[str, str], Any] = {}
        self._figures: dict[tuple[str, str], dict[str, Any]] = {}
        self._alias_keys: dict[str, list[tuple[str, str]]] = {}
        self._workers: list[_Worker] = []
        self._driver: _Worker | None = None
        #: The driver takes groups: no worker is warm yet.
        self._opening = False
        self._driver_groups = 0
        self._resubmitted = 0
        self._lost = 0
        self._sample_sinks: list[Any] = []
        self._pids: dict[int, int] = {}

    # -- the Executor protocol ---------------------------------------------------------------------

    def model_stats(self) -> dict[str, dict[str, Any]]:
        return model_rows(self._usage.summary()["models"], self._alias_figures())

    def usage_summary(self) -> dict[str, Any]:
        usage: dict[str, Any] = dict(self._usage.summary())
        usage["limiters"] = self._alias_figures()
        usage["ray"] = {
            "workers": len(self._workers),
            "groups_resubmitted": self._resubmitted,
            "groups_on_driver": self._driver_groups,
            "workers_lost": self._lost,
            "budget_renewals": sum(f.get("renewals", 0) for f in self._figures.values()),
        }
        return usage

    async def run(self, job: Job, supply: GroupSupply, events: CellEvents) -> AsyncIterator[GroupResult]:
        batched = next((m for m in job.config.models if m.batch is not None), None)
        if batched is not None:  # refused at validation too (`ExecutorType.batch_apis`); an instance given
            # directly to `create` skips that check
            raise ConfigError(
                "batch is not applied under the ray executor (its workers send requests directly): "
                "remove 'batch' from the model or run with the local executor",
                model=batched.alias,
                field="batch",
            )
        ray = _ray()
        owned = self._connect(ray, job)
        # The workers' exchanges are replayed here as their reports arrive, and journaled then.
        self._usage = UsageTracker({m.alias: m.pricing for m in job.config.models}, journal=job.spend_journal)
        self._figures, self._resubmitted, self._lost, self._pids = {}, 0, 0, {}
        self._served_cpus, self._workers, self._budgets = 0.0, [], {}
        self._driver, self._opening, self._driver_groups = None, False, 0
        completed = False
        try:
            job = await self._serve(ray, job)
            self._start(ray, job)
            if self._driver is not None:
                assert self._driver.local is not None
                await self._driver.local.warm()  # while the workers' processes start
            async for result in self._schedule(ray, job, supply, events):
                yield result
            await self._report(events)
            completed = True
        finally:
            await self._stop(ray, graceful=completed)
            if self._served is not None:
                await self._served.stop()
                self._served = None
            self._sample_sinks.clear()  # a sink watches one run
            if owned:
                ray.shutdown()

    # -- metrics -----------------------------------------------------------------------------------

    def add_sample_sink(self, sink: Any) -> None:
        """Have `sink(budget_name, outcome, latency)` called for every request the budgets hear of
        during the next run (drained with each report): the metrics' latency histograms."""
        self._sample_sinks.append(sink)

    def worker_pids(self) -> list[int]:
        """The process ids of the workers as of their last report (for diagnostics and fault drills)."""
        return [self._pids[i] for i in sorted(self._pids)]

    def budget_figures(self) -> dict[str, dict[str, Any]]:
        """Per budget (endpoint and model): level, ceiling, in flight, leased, workers, 429s."""
        return {f"{key[1]}@{key[0]}": dict(f) for key, f in self._figures.items()}

    # -- starting and stopping ---------------------------------------------------------------------

    def _connect(self, ray: Any, job: Job) -> bool:
        """Join (or start) the cluster, shipping the config's folder as the job's working directory;
        True when this executor connected and must disconnect."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
        starts_cluster = not self.address and not self.init_options.get("address")
        if starts_cluster:
            _refuse_unauthenticated_start()
            _single_machine(ray)
            options["_node_ip_address"] = LOOPBACK
        env = worker_runtime_env(
            job.config,
            exclude=self.exclude,
            extra=self.runtime_env,
            max_bytes=self.max_package_bytes,
            temp_dir=ray_temp_dir(self.init_options),
        )
        if env:
            options["runtime_env"] = env
        options.update(self.init_options)
        if self.address:
            options["address"] = self.address
        try:
            ray.init(**options)
        except ConnectionError as exc:
            message = f"cannot reach the Ray cluster at {self.address}: {exc}"
            raise ConfigError(message, field="run.ray_address") from None
        if starts_cluster and os.environ.get(_AUTH_MODE, "").lower() != "token":
            ray.shutdown()
            raise ConfigError(
                f"the local Ray cluster started without token authentication (Ray {ray.__version__}): "
                "synthloom needs Ray 2.59 or later, pip install 'synthloom[ray]'",
                field="run.executor",
            )
        return True

    def served_replicas(self) -> dict[str, Any]:
        """Per served alias, its replicas (URL, guard pid, running, restarts), while a run is on."""
        return self._served.report() if self._served is not None else {}

    async def _serve(self, ray: Any, job: Job) -> Job:
        """Start the replicas of the job's `serve:` models as actors; the job, its config rewritten to
        their URLs. A failure stops whatever was started and raises."""
        models = [m for m in job.config.models if m.serve is not None and m.alias in job.model_aliases]
        if not models:
            return job
        config = job.config
        try:
            check_cluster_resources(ray, models)
        except ConfigError as exc:  # named with the config's file and the model's line
            exc.line = config.line_of_model(exc.model, exc.field)
            raise exc.with_source(config.source) if config.source else exc from None
        self._served = ServedModels(
            config=job.config,
            base_dir=job.config.source_dir,
            factory=ray_replica_factory(ray, placement_timeout=self.placement_timeout),
            check_machine=False,
        )
        urls = await self._served.start(models)
        self._served_cpus = served_cpus(models)
        return dataclasses.replace(job, config=served_config(job.config, urls))

    def _start(self, ray: Any, job: Job) -> None:
        config = job.config
        used = [m for m in config.models if m.alias in job.model_aliases]
        ceilings = limiter_ceilings(used)
        timeouts = request_timeouts(used)
        providers = check_models(used)
        self._alias_keys = {
            m.alias: list(dict.fromkeys(providers[m.alias].limiter_key(r) for r in m.replicas()))
            for m in used
        }
        # The CPUs the served replicas took are not the workers' (a worker placed on none would wait).
        cpus = max(0.0, float(ray.cluster_resources().get("CPU", 1.0)) - self._served_cpus)
        count = self.workers or max(1, int(cpus))
        budget_class = ray.remote(BudgetActor)
        run = uuid.uuid4().hex[:12]
        names = {key: f"synthloom-budget-{run}-{i}" for i, key in enumerate(ceilings)}
        holder = f"driver-{os.getpid()}"
        opened_at = time.monotonic()  # before the budgets exist: the driver's opening lease runs out first
        self._budgets = {
            key: budget_class.options(
                name=names[key], num_cpus=0, max_restarts=-1, max_task_retries=0
            ).remote(
                ceiling,
                f"{key[1]}@{key[0]}",
                self.lease_ttl,
                request_timeout=timeouts[key],
                holders=count + 1 if self.start_on_driver else count,
                opening={holder: ceiling} if self.start_on_driver else None,
            )
            for key, ceiling in ceilings.items()
        }
        # Ray only ships a local folder for a whole job (`ray.init(runtime_env=...)`). Joined to a
        # session someone else started without one, workers import from the config's folder where it
        # is: a local cluster shares this machine's files.
        shipped = bool(ray.get_runtime_context().runtime_env.get("working_dir"))
        actor_env: dict[str, Any] = {}
        base_dir = None
        if not shipped and config.source_dir is not None:
            base_dir = str(config.source_dir)
            path = os.pathsep.join(p for p in (base_dir, os.environ.get("PYTHONPATH")) if p)
            actor_env = {"env_vars": {"PYTHONPATH": path}}
        # API keys are never shipped (a task's arguments are stored by the cluster): each worker reads the
        # variables its models name from its own environment, which a cluster this driver started
        # inherits; on a standing cluster, set them on its nodes.
        spec = WorkerSpec(
            config=config.to_dict(),
            shipped_dir=shipped,
            base_dir=base_dir,
            seed_columns=tuple(job.seed.column_names) if job.seed is not None else (),
            budgets=names,
            lease_ttl=self.lease_ttl,
            cache=job.cache.model_dump() if job.cache is not None else None,
        )
        per_worker = config.run.max_row_groups_in_flight
        worker_class = ray.remote(RowGroupWorker)
        options: dict[str, Any] = {
            "num_cpus": min(1.0, cpus / count),
            "max_concurrency": per_worker + 4,  # the groups, and room for reports
            "max_restarts": self.worker_restarts,
            "max_task_retries": 0,  # a lost group is handed out again by the driver, to any worker
        }
        if actor_env:
            options["runtime_env"] = actor_env
        self._workers = [_Worker(i, worker_class.options(**options).remote(spec, i)) for i in range(count)]
        if not self.start_on_driver:
            return
        # The driver's own worker builds from the config's folder where it is, as the driver did.
        base = str(config.source_dir) if config.source_dir is not None else None
        leases = DriverLeases(holder, dict(self._budgets), opened_at)
        local = RowGroupWorker(dataclasses.replace(spec, shipped_dir=False, base_dir=base), -1, leases)
        self._driver = _Worker(-1, None, local=local)
        self._opening = True
        for worker in self._workers:  # a worker gets groups once it is warm (`_probed`)
            worker.alive = False
            worker.probe = _wait(worker.handle.warm.remote())

    async def _stop(self, ray: Any, *, graceful: bool) -> None:
        driver = self._driver
        if driver is not None:  # its groups end with the run (none is left running after a success)
            for call in list(driver.running):
                call.cancel()
            await asyncio.gather(*driver.running, return_exceptions=True)
            if not graceful and driver.alive and driver.local is not None:
                driver.alive = False
                with contextlib.suppress(Exception):  # its limiters stop renewing, its leases go back
                    await driver.local.close()
        if graceful:
            closing = [_call(w, "close") for w in self._all_workers() if w.alive]
            reports = await asyncio.gather(*closing, return_exceptions=True)
            for report in reports:
                if isinstance(report, WorkerReport):
                    self._replay_usage(report)
            with contextlib.suppress(Exception):
                await self._refresh_budgets()
        for worker in self._workers:
            if worker.probe is not None:
                worker.probe.cancel()
            with contextlib.suppress(Exception):
                ray.kill(worker.handle, no_restart=True)
        for budget in self._budgets.values():
            with contextlib.suppress(Exception):
                ray.kill(budget, no_restart=True)

    # -- handing out groups ------------------------------------------------------------------------

    async def _schedule(
        self, ray: Any, job: Job, supply: GroupSupply, events: CellEvents
    ) -> AsyncIterator[GroupResult]:
        per_worker = job.config.run.max_row_groups_in_flight
        pending: dict[asyncio.Future[Any], _Task] = {}
        again: deque[tuple[RowGroupSlice, int, _Worker]] = deque()
        loop = asyncio.get_running_loop()
        next_report = loop.time() + self.report_interval

        driver = self._driver

        def free_worker(avoid: _Worker | None = None) -> _Worker | None:
            free = [w for w in self._workers if w.alive and w.load < per_worker]
            if not free and self._opening and driver is not None and driver.load < per_worker:
                free = [driver]
            others = [w for w in free if w is not avoid] or free
            return min(others, key=lambda w: w.load, default=None)

        while True:
            while True:
                if again:
                    group, attempt, avoid = again[0]
                    worker = free_worker(avoid)
                    if worker is None:
                        break
                    again.popleft()
                else:
                    worker = free_worker()
                    if worker is None:
                        break
                    next_group = supply()
                    if next_group is None:
                        break
                    group, attempt = next_group, 1
                rows = await asyncio.to_thread(job.seed.rows_for, group) if job.seed is not None else None
                future = _call(worker, "run_group", group, rows)
                pending[future] = _Task(group, worker, attempt)
                worker.load += 1
                self._driver_groups += worker is driver
            probes = {w.probe: w for w in self._workers if w.probe is not None}
            if not pending and not again:
                return
            if not pending and not probes:
                raise GenerationError(
                    "every Ray worker was lost; committed row groups are kept (continue with --resume)"
                )
            timeout = max(0.0, next_report - loop.time())
            done, _ = await asyncio.wait(
                [*pending, *probes], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if loop.time() >= next_report:
                await self._report(events)
                next_report = loop.time() + self.report_interval
            for future in done:
                if future in probes:
                    self._probed(ray, probes[future], future)
            finished = sorted((f for f in done if f in pending), key=lambda f: pending[f].group.index)
            for future in finished:
                task = pending.pop(future)
                task.worker.load -= 1
                try:
                    result = future.result()
                except ray.exceptions.RayTaskError as exc:
                    raise _cause(exc) from None
                except (
                    ray.exceptions.RayActorError,
                    ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError,
                ) as exc:
                    self._worker_lost(ray, task, exc)
                    if task.attempt >= self.max_group_attempts:
                        raise GenerationError(
                            f"row group {task.group.index} was lost with its Ray worker "
                            f"{task.attempt} times ({type(exc).__name__}); committed row groups are kept"
                        ) from None
                    again.append((task.group, task.attempt + 1, task.worker))
                    self._resubmitted += 1
                    continue
                yield cast(GroupResult, result)
            if driver is not None and driver.alive and not self._opening and not driver.load:
                await self._retire_driver(events)

    def _worker_lost(self, ray: Any, task: _Task, exc: BaseException) -> None:
        worker = task.worker
        logger.warning(
            "Ray worker %d lost with row group %d (%s); handing the group out again",
            worker.index,
            task.group.index,
            type(exc).__name__,
        )
        if worker.alive:
            self._lost += 1
            worker.alive = False
            pid = self._pids.get(worker.index)
            died = getattr(ray.exceptions, "ActorDiedError", ())  # not 'unavailable': that may come back
            if isinstance(exc, died) and pid is not None:
                # Its process is dead and its connections with it: the budgets may free its slots now
                # rather than wait out the lease and the request timeout.
                for budget in self._budgets.values():
                    with contextlib.suppress(Exception):
                        budget.gone.remote(f"worker-{worker.index}-{pid}")
        if worker.probe is None and not worker.gone:
            # Ray restarts the actor (up to worker_restarts times): it is usable again once it answers.
            worker.probe = _wait(worker.handle.pid.remote())

    def _probed(self, ray: Any, worker: _Worker, probe: asyncio.Future[Any]) -> None:
        worker.probe = None
        exc = probe.exception()
        if exc is None:
            worker.alive = True
            self._pids[worker.index] = probe.result()  # `warm` and `pid` answer with it
            self._opening = False  # a worker is warm: the workers take the groups from now on
            return
        if isinstance(exc, ray.exceptions.RayTaskError):  # `warm` failed (the config), not the process
            raise _cause(exc) from None
        worker.gone = True
        logger.warning("Ray worker %d is gone for good", worker.index)
        if all(w.gone for w in self._workers):
            self._opening = False  # no worker is coming: the run ends as when every worker is lost

    async def _retire_driver(self, events: CellEvents) -> None:
        """The opening is over and the driver's groups are done: its leases go back to the budgets."""
        driver = self._driver
        assert driver is not None and driver.local is not None
        driver.alive = False
        self._take_report(driver, await driver.local.close(), events)

    def _all_workers(self) -> list[_Worker]:
        return [self._driver, *self._workers] if self._driver is not None else list(self._workers)

    # -- reports -----------------------------------------------------------------------------------

    async def _report(self, events: CellEvents) -> None:
        live = [w for w in self._all_workers() if w.alive]
        reports = await asyncio.gather(*(_call(w, "drain") for w in live), return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._refresh_budgets()
        for worker, report in zip(live, reports, strict=True):
            if isinstance(report, WorkerReport):
                self._take_report(worker, report, events)

    def _take_report(self, worker: _Worker, report: WorkerReport, events: CellEvents) -> None:
        if worker.local is None:  # the driver's own pid is no worker's
            self._pids[worker.index] = report.pid
        self._replay_usage(report)
        for (column, status), count in report.cells.items():
            events.cells_finished(column, cast(CellStatus, status), count)
        for record in report.removed:
            events.row_removed(record)

    def _replay_usage(self, report: WorkerReport) -> None:
        for alias, tag, usage, ok, cached in report.calls:
            self._usage.record(alias, tag, usage, ok=ok, cached=cached)

    async def _refresh_budgets(self) -> None:
        keys = list(self._budgets)
        figures = await asyncio.gather(
            *(_wait(self._budgets[k].figures.remote()) for k in keys), return_exceptions=True
        )
        for key, value in zip(keys, figures, strict=True):
            if isinstance(value, dict):
                self._figures[key] = value
        if not self._sample_sinks:
            return
        samples = await asyncio.gather(
            *(_wait(self._budgets[k].drain_samples.remote()) for k in keys), return_exceptions=True
        )
        for key, drained in zip(keys, samples, strict=True):
            if isinstance(drained, list):
                name = f"{key[1]}@{key[0]}"
                for sink in self._sample_sinks:
                    for outcome, latency in drained:
                        sink(name, outcome, latency)

    def _alias_figures(self) -> dict[str, dict[str, Any]]:
        """Per alias, its budgets' figures added up (several with `endpoints:`)."""
        out: dict[str, dict[str, Any]] = {}
        names = ("limit", "ceiling", "in_flight", "leased", "rate_limited", "increases", "decreases")
        for alias, keys in self._alias_keys.items():
            total = dict.fromkeys(names, 0)
            for key in keys:
                figures = self._figures.get(key, {})
                for name in names:
                    total[name] += int(figures.get(name, 0))
            out[alias] = total
        return out


def _wait(ref: Any) -> asyncio.Future[Any]:
    """An asyncio future for a Ray object ref."""
    return asyncio.wrap_future(ref.future())


def _call(worker: _Worker, method: str, *args: Any) -> asyncio.Future[Any]:
    """Call a worker's method: an actor task, or a task on this loop for the driver's own worker."""
    if worker.local is None:
        return _wait(getattr(worker.handle, method).remote(*args))
    call = asyncio.ensure_future(getattr(worker.local, method)(*args))
    worker.running.add(call)
    call.add_done_callback(worker.running.discard)
    return call


def _cause(exc: Any) -> BaseException:
    """What a worker's task raised, as the driver would have raised it."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
