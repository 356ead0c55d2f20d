"""Seed-reader plugins: a source of seed records written as a small class, found by name.

    seed:
      reader: markdown-sections       # a registered reader
      files: "docs/**/*.md"           # the files it reads, one by one (a reader that reads files)
      options: {level: 2}             # checked against the reader's own `Options`

A plugin package publishes readers under the `synthloom.seed_readers` entry-point group:

    [project.entry-points."synthloom.seed_readers"]
    servicenow = "synthloom_servicenow.reader:IncidentReader"

The entry point names a `SeedReaderPlugin` subclass (built with no arguments) or an instance. A reader
has a `name`, a nested pydantic `Options` model (`extra="forbid"`: a misspelt option is an error), and
implements one of:

- `read_file(path, options) -> Iterable[dict]`: the records of one file (`files:` required). A file
  whose reading raises is left out and listed in `seed_report.json`; the run goes on.
- `read(options, base_dir) -> Iterable[dict]`: every record (`files:` not allowed), for a source that
  is no file: an API, a database.

synthloom's own `markdown-sections` reader is published the same way. Entry points are read the first
time a config names a reader, never on import.
"""

from __future__ import annotations

import difflib
import glob
import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError

from synthloom.config.base import StrictModel
from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.seeds.report import SeedReport
from synthloom.seeds.sources import TableSource
from synthloom.store.table_codec import to_arrow_table

__all__ = ["ENTRY_POINT_GROUP", "SeedReaderPlugin", "SeedReaderRegistry", "open_plugin_seed", "seed_readers"]

ENTRY_POINT_GROUP = "synthloom.seed_readers"
log = logging.getLogger(__name__)


class SeedReaderPlugin:
    """The base of a seed reader: a `name`, an `Options` model, and `read_file` or `read`."""

    name: ClassVar[str] = ""

    class Options(StrictModel):
        """No options unless a reader declares some."""

    def read_file(self, path: Path, options: Any) -> Iterable[Mapping[str, Any]]:
        """The records of one file."""
        raise NotImplementedError

    def read(self, options: Any, base_dir: Path) -> Iterable[Mapping[str, Any]]:
        """Every record, for a reader of something that is not a file."""
        raise NotImplementedError

    @property
    def reads_files(self) -> bool:
        return type(self).read_file is not SeedReaderPlugin.read_file


class SeedReaderRegistry:
    """Seed readers by name, filled from the entry-point group on first use."""

    def __init__(self, *, discover: bool = True) -> None:
        self._readers: dict[str, SeedReaderPlugin] = {}
        self._discovered = not discover

    def register(self, reader: SeedReaderPlugin | type[SeedReaderPlugin]) -> None:
        instance = reader() if isinstance(reader, type) else reader
        if not isinstance(instance, SeedReaderPlugin) or not instance.name:
            raise TypeError(f"{reader!r} is not a named SeedReaderPlugin")
        self._readers[instance.name] = instance

    def get(self, name: str) -> SeedReaderPlugin:
        if not self._discovered:
            self.discover()
        reader = self._readers.get(name)
        if reader is None:
            known = sorted(self._readers)
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known) or 'none'}"
            raise SeedDataError(f"unknown seed reader '{name}' ({hint})", field="seed.reader")
        return reader

    def discover(self) -> None:
        self._discovered = True
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                self.register(entry.load())
            except Exception as exc:  # a broken plugin is reported, the others still load
                log.warning("seed reader plugin '%s' could not be loaded: %s", entry.name, exc)
        if "markdown-sections" not in self._readers:  # a source checkout without entry-point metadata
            from synthloom.seeds.markdown_sections import MarkdownSections

            self.register(MarkdownSections)


_default = SeedReaderRegistry()


def seed_readers() -> SeedReaderRegistry:
    """The registry `seed: {reader: ...}` looks names up in."""
    return _default


def open_plugin_seed(seed: SeedConfig, *, base_dir: Path, report: SeedReport, prefix: str) -> TableSource:
    """The records a plugin reads, as a table."""
    assert seed.reader is not None
    reader = seed_readers().get(seed.reader)
    try:
        options = reader.Options.model_validate(seed.options or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise SeedDataError(f"reader '{reader.name}': {problems}", field=f"{prefix}.options") from None
    if reader.reads_files:
        if seed.files is None:
            raise SeedDataError(f"reader '{reader.name}' reads files: give 'files'", field=f"{prefix}.files")
        records = _read_files(reader, options, seed.files, base_dir=base_dir, report=report)
    else:
        if seed.files is not None:
            raise SeedDataError(
                f"reader '{reader.name}' reads no files: leave out 'files'", field=f"{prefix}.files"
            )
        try:
            records = [dict(r) for r in reader.read(options, base_dir)]
        except SeedDataError:
            raise
        except Exception as exc:
            raise SeedDataError(
                f"reader '{reader.name}' failed: {type(exc).__name__}: {exc}", field=f"{prefix}.reader"
            ) from None
    if not records:
        raise SeedDataError(f"reader '{reader.name}' found no records", field=f"{prefix}.reader")
    names = list(dict.fromkeys(key for record in records for key in record))
    columns = {name: [record.get(name) for record in records] for name in names}
    report.records += len(records)
    return TableSource(to_arrow_table(columns, names))


def _read_files(
    reader: SeedReaderPlugin, options: Any, pattern: str, *, base_dir: Path, report: SeedReport
) -> list[dict[str, Any]]:
    root = Path(pattern).expanduser()
    full = str(root if root.is_absolute() else base_dir / root)
    paths = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
    if not paths:
        raise SeedDataError(f"no file matches '{pattern}'", source=full, field="seed.files")
    records: list[dict[str, Any]] = []
    for path in paths:
        try:
            found = [dict(r) for r in reader.read_file(path, options)]
        except Exception as exc:  # one bad file is listed and left out; the run goes on
            report.skip(reader.name, str(path), f"{type(exc).__name__}: {exc}")
            continue
        report.files_read += 1
        records.extend(found)
    return records
