"""A pipeline file: several dataset configs run in order, a later one seeded by an earlier one's records.

    stages:
      - name: questions                   # an inline dataset config, plus `records`
        records: 200
        models: [...]
        columns: [...]
      - config: answers.yaml              # or a dataset config file (relative to this file)
        records: 100
      - name: graded
        seed: {stage: questions, where: "{{ keep }}"}   # an earlier stage's committed records
        columns: [...]

`synthloom create pipeline.yaml -o output` runs the stages in order, each into `output/<stage name>/`
(checkpointed and resumable on its own); a stage's `seed: {stage: X}` reads `output/X/`, wherever the
output goes. `-n` gives the records of a stage without `records`. Running the file again resumes: finished
stages have nothing left to do, and the first unfinished one continues where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthloom.config.dataset import DatasetConfig
from synthloom.config.loader import Loc, config_from_data, load_config, read_data
from synthloom.errors import ConfigError

__all__ = ["Pipeline", "Stage", "is_pipeline", "load_pipeline"]

_STAGE_KEYS = ("config", "records")


@dataclass(frozen=True)
class Stage:
    """One stage: its dataset config, and how many records it makes (None: the command's `-n`)."""

    config: DatasetConfig
    records: int | None
    #: The stage its seed reads (`seed: {stage: ...}`), if any.
    seed_stage: str | None

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class Pipeline:
    """The stages of a pipeline file, in the order they run."""

    source: str
    stages: tuple[Stage, ...]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def is_pipeline(path: str | Path) -> bool:
    """Whether the config file at `path` is a pipeline (a mapping with `stages`)."""
    path = Path(path)
    try:
        data, _ = read_data(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, ConfigError):
        return False  # not readable here: the ordinary loader reports it
    return isinstance(data, dict) and "stages" in data


def load_pipeline(path: str | Path) -> Pipeline:
    """Every stage checked as a dataset config; stage names unique; `seed: {stage: X}` naming an
    earlier stage. Errors name the file and the stage."""
    path = Path(path)
    source = str(path)
    base_dir = path.resolve().parent
    data, lines = read_data(path.read_text(encoding="utf-8"), source=source)
    extra = sorted(set(data) - {"stages"} - {k for k in data if str(k).startswith("x-")})
    if extra:
        raise ConfigError(f"a pipeline file has only 'stages'; found {', '.join(extra)}", source=source)
    entries = data["stages"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(
            "'stages' must be a non-empty list of dataset configs", source=source, field="stages"
        )
    stages: list[Stage] = []
    for index, entry in enumerate(entries):
        where = f"stages[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError("a stage is a dataset config (a mapping)", source=source, field=where)
        records = _records(entry.get("records"), source, where)
        if "config" in entry:
            stage_config = _from_file(entry, base_dir, source, where)
        else:
            body = {k: v for k, v in entry.items() if k not in _STAGE_KEYS}
            stage_config = config_from_data(
                body, stage_lines(lines, index), source=f"{source} ({where})", base_dir=base_dir
            )
            stage_config._base_dir = base_dir
        seed_stage = stage_config.seed.stage if stage_config.seed is not None else None
        names = [s.name for s in stages]
        if stage_config.name in names:
            raise ConfigError(
                f"two stages are named '{stage_config.name}': each stage writes its own run, "
                "give each a 'name'",
                source=source,
                field=f"{where}.name",
            )
        if seed_stage is not None and seed_stage not in names:
            later = seed_stage in [e.get("name") for e in entries[index:] if isinstance(e, dict)]
            reason = (
                "a later stage: stages run in order"
                if later
                else f"no such stage (stages: {', '.join(names)})"
            )
            raise ConfigError(
                f"'stage: {seed_stage}' is {reason}", source=source, field=f"{where}.seed.stage"
            )
        stages.append(Stage(stage_config, records, seed_stage))
    return Pipeline(source, tuple(stages))


def _records(value: Any, source: str, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(
            f"'records' must be a positive whole number, not {value!r}",
            source=source,
            field=f"{where}.records",
        )
    return value


def _from_file(entry: dict[str, Any], base_dir: Path, source: str, where: str) -> DatasetConfig:
    others = sorted(set(entry) - set(_STAGE_KEYS))
    if others:
        raise ConfigError(
            f"a stage given by 'config' takes only 'records' beside it; found {', '.join(others)}",
            source=source,
            field=where,
        )
    target = Path(str(entry["config"])).expanduser()
    return load_config(target if target.is_absolute() else base_dir / target)


def stage_lines(lines: dict[Loc, int], index: int) -> dict[Loc, int]:
    """The line index of one inline stage, its locations relative to the stage."""
    return {loc[2:]: line for loc, line in lines.items() if loc[:2] == ("stages", index)}
