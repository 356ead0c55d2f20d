"""Exports: a format name, the writer behind it, and the reshaping a training format asks for.

| format | writes |
|---|---|
| `jsonl`, `csv`, `parquet` | one file (`file_exporters`) |
| `hf` | a `datasets.save_to_disk` folder with a dataset card (`hf_exporter`) |
| `messages`, `sharegpt`, `oasst`, `dpo`, `alpaca` | one JSON Lines file in that training format |

A training format reads its parts from the columns named in `sources` (`{"user": "question",
"assistant": "answer.text"}`; on the command line `--map user=question`), else from conventional
columns (see `training_formats`). A run generated with `output: {format: X}` already holds X records:
exporting it as X writes them as they are. `output=` applies a whole `output:` block (fields, format,
schema) at export time instead.

An exporter is a function `(source, path, *, license) -> records written`; `register_exporter` adds one,
and a package adds one through the `synthloom.exporters` entry-point group (read on the first export):

    [project.entry-points."synthloom.exporters"]
    servicenow = "synthloom_servicenow.sink:write_records"
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthloom.config.output_config import (
    AlpacaFormat,
    DPOFormat,
    MessagesFormat,
    OASSTFormat,
    OutputConfig,
    ShareGPTFormat,
)
from synthloom.errors import ConfigError, OutputError
from synthloom.outputs.export_source import ExportSource
from synthloom.outputs.file_exporters import write_csv, write_jsonl, write_parquet
from synthloom.outputs.hf_exporter import save_hf_dataset
from synthloom.outputs.output_check import check_format_sources, check_output_block

__all__ = [
    "EXPORT_FORMATS",
    "TRAINING_FORMATS",
    "ExportReport",
    "Exporter",
    "export_formats",
    "export_records",
    "prepare_source",
    "register_exporter",
]

Exporter = Callable[..., int]
log = logging.getLogger(__name__)

TRAINING_FORMATS = ("messages", "sharegpt", "oasst", "dpo", "alpaca")
_FORMAT_MODELS: dict[str, type[Any]] = {
    "messages": MessagesFormat,
    "sharegpt": ShareGPTFormat,
    "oasst": OASSTFormat,
    "dpo": DPOFormat,
    "alpaca": AlpacaFormat,
}


def _jsonl(source: ExportSource, path: Path, *, license: str | None = None) -> int:
    return write_jsonl(source, path)


def _csv(source: ExportSource, path: Path, *, license: str | None = None) -> int:
    return write_csv(source, path)


def _parquet(source: ExportSource, path: Path, *, license: str | None = None) -> int:
    return write_parquet(source, path)


def _hf(source: ExportSource, path: Path, *, license: str | None = None) -> int:
    return save_hf_dataset(source, path, license=license)


#: How to name a part's column at export time (the command line and the Python API).
_SOURCES_ADVICE = "pass --map {role}=COLUMN (Python: sources={{'{role}': COLUMN}})"

_EXPORTERS: dict[str, Exporter] = {"jsonl": _jsonl, "parquet": _parquet, "csv": _csv, "hf": _hf}
#: The built-in formats.
EXPORT_FORMATS: tuple[str, ...] = ("jsonl", "parquet", "csv", "hf", *TRAINING_FORMATS)


def register_exporter(name: str, exporter: Exporter) -> None:
    """Add (or replace) the writer behind format `name`: `exporter(source, path, *, license) -> int`."""
    _EXPORTERS[name] = exporter


EXPORTER_ENTRY_POINTS = "synthloom.exporters"
_discovered = False


def _discover() -> None:
    """Exporters published by installed packages, loaded once; a broken one is logged and skipped."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for entry in entry_points(group=EXPORTER_ENTRY_POINTS):
        if entry.name in _EXPORTERS:
            continue
        try:
            _EXPORTERS[entry.name] = entry.load()
        except Exception as exc:
            log.warning("exporter plugin '%s' could not be loaded: %s", entry.name, exc)


def export_formats() -> tuple[str, ...]:
    """Every format `export_records` writes: the built-ins and the registered ones."""
    _discover()
    return (*EXPORT_FORMATS, *(n for n in _EXPORTERS if n not in EXPORT_FORMATS))


@dataclass
class ExportReport:
    """What an export wrote, and the records an export-time reshaping removed."""

    format: str
    path: Path | None
    records: int
    filtered: int = 0
    failed: int = 0
    examples: list[str] = field(default_factory=list)
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": str(self.path) if self.path else None,
            "records": self.records,
            "filtered": self.filtered,
            "failed": self.failed,
            "examples": self.examples,
            **({"url": self.url} if self.url else {}),
        }


def export_records(
    source: ExportSource,
    path: str | Path,
    format: str | None = None,
    *,
    records_as: str | None = None,
    output: OutputConfig | Mapping[str, Any] | None = None,
    sources: Mapping[str, Any] | None = None,
    license: str | None = None,
) -> ExportReport:
    """Write `source` to `path` as `format` (from the suffix when None). `records_as` (a training
    format) reshapes the records before a file format writes them: `format="hf", records_as="messages"`
    is a `save_to_disk` folder of chat records; a training format as `format` writes JSON Lines."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in export_formats():
        raise OutputError(f"cannot export to '{fmt}': use one of {', '.join(export_formats())}")
    if records_as is not None and fmt in TRAINING_FORMATS and records_as != fmt:
        raise ConfigError(
            f"format '{fmt}' is a training format already; records_as='{records_as}' contradicts it"
        )
    shaped = prepare_source(source, records_as or fmt, output=output, sources=sources)
    writer = _EXPORTERS["jsonl" if fmt in TRAINING_FORMATS and fmt not in _EXPORTERS else fmt]
    records = writer(shaped, path, license=license)
    tally = shaped.tally
    return ExportReport(fmt, path, records, tally.filtered, tally.failed, list(tally.examples))


def prepare_source(
    source: ExportSource,
    format: str | None,
    *,
    output: OutputConfig | Mapping[str, Any] | None = None,
    sources: Mapping[str, Any] | None = None,
) -> ExportSource:
    """`source` reshaped: by `output` (a whole `output:` block), by `format` when it is a training
    format (parts from `sources` or conventional columns), or not at all. Mistakes are `ConfigError`s
    attributed to the source (the run directory)."""
    try:
        return _prepare(source, format, output, sources)
    except ConfigError as exc:
        raise exc.with_source(source.origin) from None


def _prepare(
    source: ExportSource,
    format: str | None,
    output: OutputConfig | Mapping[str, Any] | None,
    sources: Mapping[str, Any] | None,
) -> ExportSource:
    columns = source.stored_columns()
    if output is not None:
        if sources or format in TRAINING_FORMATS:
            raise ConfigError("give either an output mapping or a training format, not both", field="output")
        config = _output_config(output)
        check_output_block(config, set(columns), columns)
        return source.reshaped(config)
    if format not in TRAINING_FORMATS:
        if sources:
            raise ConfigError(
                f"'{format}' is not a training format: sources name the parts of one "
                f"({', '.join(TRAINING_FORMATS)})",
                field="sources",
            )
        return source
    stored = source.output_config()
    if not sources and stored is not None and stored.format is not None and stored.format.type == format:
        return source  # the run's records already are in this format
    fmt = format_from_sources(format, sources or {})
    check_format_sources(fmt, set(columns), "format", _SOURCES_ADVICE)
    return source.reshaped(OutputConfig(format=fmt))


def format_from_sources(format: str, sources: Mapping[str, Any]) -> Any:
    """A training format whose parts are read from `sources` (part -> column path, or a source dict)."""
    model = _FORMAT_MODELS[format]
    parts = [
        name for name in model.model_fields if name not in ("type", "lang", "model_name", "conversational")
    ]
    data: dict[str, Any] = {"type": format}
    for role, value in sources.items():
        if role not in parts and role not in ("lang", "model_name", "conversational"):
            raise ConfigError(
                f"format '{format}' has no part '{role}' (its parts: {', '.join(parts)})", field=role
            )
        data[role] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        raise ConfigError(err["msg"].removeprefix("Value error, "), field=where) from None


def _output_config(output: OutputConfig | Mapping[str, Any]) -> OutputConfig:
    if isinstance(output, OutputConfig):
        return output
    try:
        return OutputConfig.model_validate(output)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = "output." + ".".join(str(p) for p in err["loc"]) if err["loc"] else "output"
        raise ConfigError(err["msg"].removeprefix("Value error, "), field=where) from None
