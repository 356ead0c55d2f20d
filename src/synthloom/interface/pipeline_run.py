"""Running a pipeline file: each stage a `create` into `output/<stage>/`, in order.

A stage seeded by an earlier one reads that stage's run directory (`seed: {stage: X}` becomes
`run: <output>/X`). A stage that fails stops the pipeline, naming it; running the file again resumes:
finished stages have no work left and the failed one continues from its last committed row group.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from synthloom.config.dataset import DatasetConfig
from synthloom.config.pipeline import Pipeline, Stage, load_pipeline
from synthloom.errors import ConfigError, GenerationError, SynthloomError
from synthloom.interface.api import acreate, validate
from synthloom.interface.dataset_result import DatasetResult
from synthloom.plan.planner import Plan, build_plan

__all__ = ["StageFailedError", "StageResult", "arun_pipeline", "validate_pipeline"]

ResumeMode = Literal["never", "always", "if-possible"]


class StageFailedError(GenerationError):
    """A stage of a pipeline did not finish; the stages before it are kept."""


@dataclass(frozen=True)
class StageResult:
    name: str
    result: DatasetResult


def validate_pipeline(path: str | Path) -> list[tuple[str, Plan]]:
    """Every stage checked: a stage seeded by an earlier one is planned against that stage's columns
    (its records do not exist yet)."""
    pipeline = load_pipeline(path)
    plans: dict[str, Plan] = {}
    for stage in pipeline.stages:
        try:
            if stage.seed_stage is None:
                plans[stage.name] = validate(stage.config)
            else:
                earlier = plans[stage.seed_stage]
                plans[stage.name] = build_plan(stage.config, seed_columns=earlier.output_columns)
        except ConfigError as exc:
            raise _named(exc, stage) from None
    return list(plans.items())


async def arun_pipeline(
    path: str | Path,
    output: str | Path,
    *,
    default_records: int | None,
    resume: ResumeMode = "if-possible",
    progress: bool = False,
) -> list[StageResult]:
    """Run the stages in order; returns each stage's run."""
    pipeline = load_pipeline(path)
    output = Path(output).resolve()
    results: list[StageResult] = []
    for stage in pipeline.stages:
        records = stage.records or default_records
        if records is None:
            raise ConfigError(
                f"stage '{stage.name}' has no 'records': give them in the file or with -n",
                source=pipeline.source,
                field="records",
            )
        config = _seeded(stage, pipeline, output)
        try:
            result = await acreate(config, records, output, resume=resume, progress=progress)
        except ConfigError as exc:
            raise _named(exc, stage) from None
        except SynthloomError as exc:
            raise StageFailedError(
                f"stage '{stage.name}' failed: {exc}. The stages before it are kept; run the pipeline "
                "again to resume from this stage"
            ) from exc
        results.append(StageResult(stage.name, result))
    return results


def _seeded(stage: Stage, pipeline: Pipeline, output: Path) -> DatasetConfig:
    """The stage's config with `seed: {stage: X}` pointing at X's run under `output`."""
    config = stage.config
    if stage.seed_stage is None or config.seed is None:
        return config
    run_dir = output / pipeline.stage(stage.seed_stage).name
    seed = config.seed.model_copy(update={"stage": None, "run": str(run_dir)})
    return config.model_copy(update={"seed": seed})  # private state (folder, source) is copied too


def _named(exc: ConfigError, stage: Stage) -> ConfigError:
    """The same error, saying which stage it is about."""
    if not exc.reason.startswith("stage '"):
        exc.reason = f"stage '{stage.name}': {exc.reason}"
    exc.args = (exc._render(),)
    return exc
