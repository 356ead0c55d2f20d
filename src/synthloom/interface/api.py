"""The Python API: `load_config`, `validate`, `preview`, `create`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from synthloom.columns.media import check_media_roots
from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import load_config
from synthloom.config.run_config import CacheConfig, CacheMode
from synthloom.engine.executor import Executor, Job
from synthloom.engine.generation import build_job, generate_dataset, generate_in_memory
from synthloom.engine.spend_budget import budget_reach, check_budget_pricing
from synthloom.errors import ConfigError, ModelConnectionError, RunStateError, SeedDataError
from synthloom.executors.local import LocalExecutor
from synthloom.executors.registry import EXECUTORS, ExecutorContext
from synthloom.interface.dataset_result import DatasetResult
from synthloom.interface.projection import Projection, project
from synthloom.models import check_models
from synthloom.models.reachability import unreachable_endpoints
from synthloom.observers.metrics import RunMetrics
from synthloom.outputs import check_output
from synthloom.plan import Plan, build_plan
from synthloom.plan.templates import set_examples_reader
from synthloom.report.reviewed_records import read_examples
from synthloom.seeds.reader import SeedReader
from synthloom.store.resume import ResumeMode
from synthloom.store.run_directory import RunDirectory
from synthloom.store.run_reader import RunData

__all__ = [
    "acreate",
    "apreview",
    "cache_of_run",
    "create",
    "load_config",
    "open_run",
    "preview",
    "projection",
    "resolve_cache",
    "validate",
]

logger = logging.getLogger(__name__)

ConfigLike = DatasetConfig | str | Path
T = TypeVar("T")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion from synchronous code, whether or not this thread already runs an
    event loop. In Jupyter (and any async caller) `asyncio.run` refuses a running loop, and nesting
    loops is unsafe, so the coroutine gets a worker thread with a loop of its own; the caller blocks
    until it is done and gets its result or its exception."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    values: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            values.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed back to the caller's thread, re-raised there
            errors.append(exc)

    worker = threading.Thread(target=work, name="synthloom-run", daemon=True)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]
    return values[0]


def _config(config: ConfigLike) -> DatasetConfig:
    return config if isinstance(config, DatasetConfig) else load_config(config)


def located(exc: ConfigError, config: DatasetConfig) -> ConfigError:
    """`exc` (about a model) with the config's file and the model's line."""
    if exc.line is None:
        exc.line = config.line_of_model(exc.model, exc.field)
    return exc.with_source(config.source)


def check_model_configs(config: DatasetConfig) -> None:
    """Every model's provider exists and accepts the model's fields; a mistake names file, line, model
    and field (exit 2)."""
    from synthloom.models.serving import check_serve

    try:
        providers = check_models(config.models)
        for model in config.models:
            # Engine installed, model file there, port free. The resources are checked where the
            # replicas start: this machine, or the Ray cluster.
            if model.serve is not None:
                check_serve(model, base_dir=config.source_dir, machine=False)
    except ConfigError as exc:
        raise located(exc, config) from None
    for col in config.columns:
        problem = _unsupported_input(col, providers)
        if problem is not None:
            field, reason = problem
            raise ConfigError(
                reason,
                source=config.source,
                column=col.name,
                field=field,
                line=config.line_of(col.name, field),
            )


def _unsupported_input(col: Any, providers: dict[str, Any]) -> tuple[str, str] | None:
    """What a column sends that its model's provider cannot take (images, audio, embeddings)."""
    alias = getattr(col, "model", None)
    provider = providers.get(alias) if isinstance(alias, str) else None
    if provider is None:
        return None
    caps = provider.capabilities
    needs = [
        ("images", bool(getattr(col, "images", None)), caps.vision, "images"),
        ("audio", bool(getattr(col, "audio", None)), caps.audio, "audio"),
        ("model", col.type == "embedding", caps.embeddings, "embeddings"),
        ("model", col.type == "image", caps.images, "image generation"),
    ]
    for field, needed, supported, what in needs:
        if needed and not supported:
            return field, f"model '{alias}' (provider '{provider.name}') does not take {what}"
    return None


def _prepare(config: DatasetConfig) -> Job:
    """Everything checked and built before anything is written: models, seed data, plan, generators."""
    # Prompts may read reviewed records of earlier runs: `{{ examples('output/qa', verdict='good') }}`.
    set_examples_reader(read_examples)
    check_model_configs(config)
    check_media_roots(config)
    seed = None
    if config.seed is not None:
        try:
            seed = SeedReader(config.seed, base_dir=config.base_dir, run_seed=config.run.seed)
        except SeedDataError as exc:
            where = f"{exc.source}: " if exc.source else ""
            raise SeedDataError(
                f"{where}{exc.reason}", source=config.source, field=exc.field or "seed.path"
            ) from None
    EXECUTORS.check(config)
    plan = build_plan(config, seed_columns=seed.column_names if seed is not None else ())
    check_output(config, plan.row_columns)
    try:
        check_budget_pricing(config, plan.model_aliases)
    except ConfigError as exc:
        if exc.line is None:
            exc.line = config.line_of_model(exc.model, exc.field)
        raise
    # Some checks only a generator can make (an integer range with no integer in it, ...): building
    # the job builds every generator, once.
    return build_job(config, plan, seed)


#: Where the response cache is when neither the call nor `run.cache.path` says: a path, or `off`.
CACHE_ENV = "SYNTHLOOM_CACHE"
DEFAULT_CACHE = Path(".cache") / "responses.sqlite3"


def cache_of_run(run: str | Path) -> Path:
    """The response cache file the run in `run` used (recorded in its `metadata.json`; for a run made
    before that was recorded, the default cache of its output folder). `ConfigError` when there is none."""
    root = Path(run)
    if not RunData.is_run(root):
        raise ConfigError(f"{root} is not a run directory (it has no metadata.json)", field="from_run")
    try:
        recorded = RunData(root).metadata.get("response_cache", "")
    except RunStateError as exc:
        raise ConfigError(str(exc), field="from_run") from None
    found = Path(recorded) if recorded else root.parent / DEFAULT_CACHE
    if recorded is None or not found.is_file():
        used = "used no response cache" if recorded is None else f"has no response cache at {found}"
        raise ConfigError(
            f"{root} {used}: there are no answers to reuse; name a cache with --cache, or regenerate the "
            "run in place (--resume regenerate)",
            field="from_run",
        )
    return found


def resolve_cache(
    config: DatasetConfig,
    output: str | Path,
    *,
    path: str | Path | None = None,
    mode: CacheMode | None = None,
) -> CacheConfig | None:
    """The response cache a run uses (None: none): `path` if given, else `run.cache.path` (relative to
    the config's folder), else the `SYNTHLOOM_CACHE` variable, else `<output>/.cache/responses.sqlite3`
    — the same file for every run and preview writing to one output folder. `mode` overrides
    `run.cache.mode`."""
    settings = config.run.cache
    chosen_mode = mode or settings.mode
    where: Path | None
    if path is not None:
        where = Path(path)
    elif settings.path is not None:
        where = Path(settings.path)
        if not where.is_absolute():
            where = config.base_dir / where
    elif (env := os.environ.get(CACHE_ENV)) is not None:
        if env.strip().lower() in ("off", "0", "false", "no", ""):
            return None
        where = Path(env)
    else:
        where = Path(output) / DEFAULT_CACHE
    if chosen_mode == "off":
        return None
    return settings.model_copy(update={"path": str(where.resolve()), "mode": chosen_mode})


async def check_reachable(job: Job) -> None:
    """Refuse to start when a model the plan calls cannot be connected to: a run would otherwise retry
    it for up to `run.endpoint_deadline` seconds, looking like a slow server. A model served by several
    endpoints starts while one of them answers (the endpoint set takes the others out and probes them)."""
    config = job.config
    used = job.plan.model_aliases
    # A served model (`serve:`) has no address yet: synthloom starts it and waits for its health.
    models = [m for m in config.models if m.alias in used and m.serve is None]
    problems = await unreachable_endpoints(models, check_models(models))
    replicas = {m.alias: len(m.replicas()) for m in models}
    down: dict[str, int] = {}
    for problem in problems:
        down[problem.alias] = down.get(problem.alias, 0) + 1
    fatal = [p for p in problems if down[p.alias] >= replicas[p.alias]]
    for problem in problems:
        if problem not in fatal:
            logger.warning("%s; its other endpoints answer", problem.describe())
    if fatal:
        lines = "; ".join(p.describe() for p in fatal)
        raise ModelConnectionError(
            f"{lines}. Nothing was generated. Start the server or fix 'base_url' "
            "(`synthloom models check CONFIG` probes every model)"
        )


def validate(config: ConfigLike) -> Plan:
    """Load and check a config (seed data included) without generating anything. Returns the plan."""
    job = _prepare(_config(config))
    job.close()
    return job.plan


def projection(config: ConfigLike, num_records: int, *, against: str | Path | None = None) -> Projection:
    """What a run of `num_records` would request and cost, before any request is sent (`synthloom
    plan`); `against` an earlier run: only what changed since it is requested again."""
    _check_records(num_records)
    job = _prepare(_config(config))
    job.close()
    return project(job.config, job.plan, num_records, against=Path(against) if against else None)


def _check_records(num_records: int) -> None:
    if not isinstance(num_records, int) or isinstance(num_records, bool) or num_records < 1:
        raise ConfigError(
            f"the number of records must be a positive whole number, not {num_records!r}", field="num_records"
        )


@contextlib.asynccontextmanager
async def _served(job: Job, executor: Executor | None = None) -> AsyncIterator[Job]:
    """The job with its `serve:` models' replicas started (and stopped after the block): its config
    names their URLs as `endpoints`. An executor that starts them itself (`starts_served_models`: the
    Ray executor, as actors of its cluster) gets the job as it is."""
    from synthloom.models.serving import serve_models

    if getattr(executor, "starts_served_models", False):
        yield job
        return
    from synthloom.models.serving.engines import check_machine

    try:  # before any replica starts: serve.resources this machine does not have
        for model in job.config.models:
            if model.serve is not None and model.alias in job.model_aliases:
                check_machine(model)
    except ConfigError as exc:
        raise located(exc, job.config) from None
    async with serve_models(job.config, job.model_aliases) as served:
        if not served.replicas:
            yield job
        else:
            yield dataclasses.replace(job, config=served.config)


async def apreview(
    config: ConfigLike,
    num_records: int = 5,
    *,
    output: str | Path = "output",
    cache: str | Path | None = None,
    cache_mode: CacheMode | None = None,
) -> DatasetResult:
    """`preview` for code already running an event loop."""
    _check_records(num_records)
    job = _prepare(_config(config))
    job.cache = resolve_cache(job.config, output, path=cache, mode=cache_mode)
    try:
        await check_reachable(job)
        async with _served(job) as served:
            outcome = await generate_in_memory(served, num_records=num_records, executor=LocalExecutor())
    finally:
        job.close()
    if job.config.run.budget is not None:
        for warning in budget_reach(job.config.run.budget, outcome.usage.get("models", {}), num_records):
            logger.warning("%s", warning)
    return DatasetResult(
        tables=outcome.tables,
        usage=outcome.usage,
        failures=[f.to_json() for f in outcome.failures],
        filtered=[f.to_json() for f in outcome.filtered],
    )


def preview(
    config: ConfigLike,
    num_records: int = 5,
    *,
    output: str | Path = "output",
    cache: str | Path | None = None,
    cache_mode: CacheMode | None = None,
) -> DatasetResult:
    """Generate a few records in memory with the same engine `create` uses; no records are written.
    Answers go to (and come from) the response cache `create` into `output` uses (`resolve_cache`).

    Works inside a running event loop too (a Jupyter notebook): the run then gets a thread of its own."""
    return run_blocking(apreview(config, num_records, output=output, cache=cache, cache_mode=cache_mode))


def _executor(
    config: DatasetConfig, choice: Executor | str | None, ray_address: str | None, output: Path
) -> Executor:
    """The executor a run asks for: an `Executor` given as is, else one built from the registry by name
    (default: `run.executor`) with its options (`ray_address` overrides the ray executor's address)."""
    if choice is not None and not isinstance(choice, str):
        return choice
    return EXECUTORS.create(
        config,
        name=choice,
        overrides={"address": ray_address} if ray_address else None,
        context=ExecutorContext(exclude=[output]),
    )


def _metrics(config: DatasetConfig, port: int | None, stack: contextlib.ExitStack) -> RunMetrics | None:
    """The run's metrics and their exporters (entered on `stack`), when any is asked for."""
    run = config.run
    port = port if port is not None else run.metrics_port
    if port is None and run.otlp_endpoint is None:
        return None
    metrics = RunMetrics()
    if port is not None:
        stack.enter_context(metrics.serving(port=port, host=run.metrics_host))
    if run.otlp_endpoint is not None:
        stack.enter_context(metrics.exporting(endpoint=run.otlp_endpoint))
    return metrics


async def acreate(
    config: ConfigLike,
    num_records: int,
    output: str | Path = "output",
    *,
    resume: ResumeMode = "if-possible",
    progress: bool = False,
    executor: Executor | Literal["local", "ray"] | None = None,
    ray_address: str | None = None,
    metrics_port: int | None = None,
    cache: str | Path | None = None,
    cache_mode: CacheMode | None = None,
    check_endpoints: bool = True,
    from_run: str | Path | None = None,
) -> DatasetResult:
    """`create` for code already running an event loop."""
    _check_records(num_records)
    if resume not in ("never", "always", "if-possible", "regenerate"):
        raise ConfigError(
            f"resume must be never, always, if-possible or regenerate, not {resume!r}", field="resume"
        )
    job = _prepare(_config(config))
    if from_run is not None and cache is None:
        cache = cache_of_run(from_run)
    job.cache = resolve_cache(job.config, output, path=cache, mode=cache_mode)
    directory = RunDirectory(Path(output) / job.config.name)
    job.batch_state = directory.batches_path
    try:
        if check_endpoints:
            await check_reachable(job)
        chosen = _executor(job.config, executor, ray_address, directory.root)
        with directory, contextlib.ExitStack() as stack:
            metrics = _metrics(job.config, metrics_port, stack)
            async with _served(job, chosen) as served:
                await generate_dataset(
                    served,
                    directory=directory,
                    num_records=num_records,
                    resume=resume,
                    show_progress=progress,
                    executor=chosen,
                    metrics=metrics,
                )
    finally:
        job.close()
    return DatasetResult(directory.root)


def create(
    config: ConfigLike,
    num_records: int,
    output: str | Path = "output",
    *,
    resume: ResumeMode = "if-possible",
    progress: bool = False,
    executor: Executor | Literal["local", "ray"] | None = None,
    ray_address: str | None = None,
    metrics_port: int | None = None,
    cache: str | Path | None = None,
    cache_mode: CacheMode | None = None,
    check_endpoints: bool = True,
    from_run: str | Path | None = None,
) -> DatasetResult:
    """Generate `num_records` into `output/<name>/`, checkpointing every row group.

    `resume`: `never` refuses a directory that already holds a run, `always` requires one,
    `if-possible` continues a run when there is one and starts fresh otherwise; these refuse a changed
    config, with what changed. `regenerate` makes a run whose config changed again with the new config:
    every cell whose request did not change is answered by the response cache.

    `executor` (default: `run.executor`): `local`, `ray` (row groups on the Ray cluster at
    `ray_address`, default `run.executor.ray.address`, else one started here), or an `Executor`. Either gives
    the same data, and a run started with one can be resumed with the other. `metrics_port` (default
    `run.metrics_port`) serves Prometheus metrics while the run lasts. `cache` and `cache_mode` choose
    the response cache (`resolve_cache`; default `output/.cache/responses.sqlite3`, read and written).
    `from_run`: an earlier run directory whose response cache this run uses (when `cache` is not
    given), so a changed config made into a new output folder requests only what changed.
    `check_endpoints`: connect to every model endpoint first and stop at once (`ModelConnectionError`)
    when one is unreachable. Called inside a running event loop (a Jupyter notebook), the run gets a
    thread and a loop of its own; async code can await `acreate`."""
    return run_blocking(
        acreate(
            config,
            num_records,
            output,
            resume=resume,
            progress=progress,
            executor=executor,
            ray_address=ray_address,
            metrics_port=metrics_port,
            cache=cache,
            cache_mode=cache_mode,
            check_endpoints=check_endpoints,
            from_run=from_run,
        )
    )


def open_run(path: str | Path) -> DatasetResult:
    """Open a finished (or partial) run directory."""
    return DatasetResult.open(path)
