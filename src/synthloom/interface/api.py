"""The Python API: `load_config`, `validate`, `preview`, `create`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import load_config
from synthloom.engine.executor import Job
from synthloom.engine.generation import build_job, generate_dataset, generate_in_memory
from synthloom.errors import ConfigError, SeedDataError
from synthloom.interface.dataset_result import DatasetResult
from synthloom.models import check_models
from synthloom.outputs import check_output
from synthloom.plan import Plan, build_plan
from synthloom.seeds.reader import SeedReader
from synthloom.store.resume import ResumeMode
from synthloom.store.run_directory import RunDirectory

__all__ = ["acreate", "apreview", "create", "load_config", "open_run", "preview", "validate"]

ConfigLike = DatasetConfig | str | Path


def _config(config: ConfigLike) -> DatasetConfig:
    return config if isinstance(config, DatasetConfig) else load_config(config)


def check_model_configs(config: DatasetConfig) -> None:
    """Every model's provider exists and accepts the model's fields; a mistake names file, line, model
    and field (exit 2)."""
    try:
        check_models(config.models)
    except ConfigError as exc:
        if exc.line is None:
            exc.line = config.line_of_model(exc.model, exc.field)
        raise exc.with_source(config.source) from None


def _prepare(config: DatasetConfig) -> Job:
    """Everything checked and built before anything is written: models, seed data, plan, generators."""
    check_model_configs(config)
    seed = None
    if config.seed is not None:
        try:
            seed = SeedReader(config.seed, base_dir=config.base_dir, run_seed=config.run.seed)
        except SeedDataError as exc:
            where = f"{exc.source}: " if exc.source else ""
            raise SeedDataError(
                f"{where}{exc.reason}", source=config.source, field=exc.field or "seed.path"
            ) from None
    plan = build_plan(config, seed_columns=seed.column_names if seed else ())
    check_output(config, plan.row_columns)
    # Some checks only a generator can make (an integer range with no integer in it, ...): building
    # the job builds every generator, once.
    return build_job(config, plan, seed)


def validate(config: ConfigLike) -> Plan:
    """Load and check a config (seed data included) without generating anything. Returns the plan."""
    job = _prepare(_config(config))
    job.close()
    return job.plan


def _check_records(num_records: int) -> None:
    if not isinstance(num_records, int) or isinstance(num_records, bool) or num_records < 1:
        raise ConfigError(
            f"the number of records must be a positive whole number, not {num_records!r}", field="num_records"
        )


async def apreview(config: ConfigLike, num_records: int = 5) -> DatasetResult:
    """`preview` for code already running an event loop."""
    _check_records(num_records)
    job = _prepare(_config(config))
    try:
        outcome = await generate_in_memory(job, num_records=num_records)
    finally:
        job.close()
    return DatasetResult(
        tables=outcome.tables,
        usage=outcome.usage,
        failures=[f.to_json() for f in outcome.failures],
        filtered=[f.to_json() for f in outcome.filtered],
    )


def preview(config: ConfigLike, num_records: int = 5) -> DatasetResult:
    """Generate a few records in memory with the same engine `create` uses; nothing is written."""
    return asyncio.run(apreview(config, num_records))


async def acreate(
    config: ConfigLike,
    num_records: int,
    output: str | Path = "output",
    *,
    resume: ResumeMode = "if-possible",
    progress: bool = False,
) -> DatasetResult:
    """`create` for code already running an event loop."""
    _check_records(num_records)
    if resume not in ("never", "always", "if-possible"):
        raise ConfigError(f"resume must be never, always or if-possible, not {resume!r}", field="resume")
    job = _prepare(_config(config))
    directory = RunDirectory(Path(output) / job.config.name)
    try:
        with directory:
            await generate_dataset(
                job, directory=directory, num_records=num_records, resume=resume, show_progress=progress
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
) -> DatasetResult:
    """Generate `num_records` into `output/<name>/`, checkpointing every row group.

    `resume`: `never` refuses a directory that already holds a run, `always` requires one,
    `if-possible` continues a run when there is one and starts fresh otherwise. A changed config is
    always refused, with what changed."""
    return asyncio.run(acreate(config, num_records, output, resume=resume, progress=progress))


def open_run(path: str | Path) -> DatasetResult:
    """Open a finished (or partial) run directory."""
    return DatasetResult.open(path)
