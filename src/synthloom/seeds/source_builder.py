"""From a `seed:` block to an opened source: read the data, combine several sources, then apply
`where` and `transforms`.

The transforms run once, in one streaming pass, when the seed opens. For a source in memory the
result is kept in memory; past `SPILL_BYTES` it is written to a temporary parquet file (deleted when
the reader closes) and read back lazily, so a large seed stays out of memory after transforms too.
A stream stays a stream: its transforms run as it is read.
"""

from __future__ import annotations

import glob
import shutil
import tempfile
import weakref
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.seeds.combine import CrossSource, ZipSource, check_distinct_fields, join_sources
from synthloom.seeds.documents import read_documents
from synthloom.seeds.file_formats import (
    NOT_A_DATASET,
    format_of,
    is_hf_dir,
    read_csv,
    read_json_array,
    read_jsonl,
)
from synthloom.seeds.hf_datasets import open_hf, read_saved_dataset
from synthloom.seeds.parquet_source import ParquetSource, open_parquet
from synthloom.seeds.reader_plugins import open_plugin_seed
from synthloom.seeds.report import SeedReport
from synthloom.seeds.run_source import open_run
from synthloom.seeds.sources import IndexedSource, RecordSource, StreamSource, TableSource
from synthloom.seeds.transforms import Step, build_steps, filter_step, run_steps

__all__ = ["SPILL_BYTES", "open_seed", "open_sources"]

#: Transformed records beyond this size go to a temporary parquet file instead of memory.
SPILL_BYTES = 256 << 20
_SPILL_ROW_GROUP = 65_536


def open_sources(
    seed: SeedConfig, *, base_dir: Path, run_seed: int, report: SeedReport, prefix: str = "seed"
) -> list[RecordSource]:
    """`[source]` for a seed, or one source per entry for `combine: sample` (sampled separately)."""
    if seed.combine == "sample":
        parts = [
            open_seed(s, base_dir=base_dir, run_seed=run_seed, report=report, prefix=f"{prefix}.sources[{i}]")
            for i, s in enumerate(seed.sources or [])
        ]
        check_distinct_fields([p.schema for p in parts], prefix=prefix)
        return parts
    return [open_seed(seed, base_dir=base_dir, run_seed=run_seed, report=report, prefix=prefix)]


def open_seed(
    seed: SeedConfig, *, base_dir: Path, run_seed: int, report: SeedReport, prefix: str = "seed"
) -> RecordSource:
    """One source: its data, `where`, then `transforms`."""
    source = _open_data(seed, base_dir=base_dir, run_seed=run_seed, report=report, prefix=prefix)
    where = source_name(seed, base_dir)
    steps: list[Step] = []
    if seed.where is not None:
        steps.append(filter_step(seed.where, source.schema, f"{prefix}.where", where))
    steps.extend(
        build_steps(
            seed.transforms,
            steps[-1].schema if steps else source.schema,
            prefix=f"{prefix}.transforms",
            source=where,
        )
    )
    if steps:
        source = _transformed(source, steps, where)
    if source.schema.names == []:
        raise SeedDataError("the seed dataset has no columns", source=where)
    if isinstance(source, IndexedSource) and source.num_rows == 0:
        raise SeedDataError("the seed dataset has no records", source=where)
    return source


def source_name(seed: SeedConfig, base_dir: Path) -> str:
    """How errors name a seed: its file, folder, pattern or dataset id."""
    value = seed.path or seed.documents or seed.run or seed.files
    if value is None:
        return seed.hf or (f"seed reader '{seed.reader}'" if seed.reader else "seed sources")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base_dir / path)


def _open_data(
    seed: SeedConfig, *, base_dir: Path, run_seed: int, report: SeedReport, prefix: str
) -> RecordSource:
    kind = seed.kind
    if kind == "path":
        return _open_path(seed, base_dir, report)
    if kind == "hf":
        salt = "__seed__" if prefix == "seed" else f"__seed__.{prefix}"
        return open_hf(seed, base_dir=base_dir, run_seed=run_seed, salt=salt, prefix=prefix)
    if kind == "run":
        return open_run(seed, base_dir=base_dir, prefix=prefix)
    if kind == "stage":
        raise SeedDataError(
            f"'stage: {seed.stage}' names a stage of a pipeline: run the pipeline file "
            "(`synthloom create pipeline.yaml`), or use `run:` with that stage's run directory",
            field=f"{prefix}.stage",
        )
    if kind == "reader":
        source = open_plugin_seed(seed, base_dir=base_dir, report=report, prefix=prefix)
        return TableSource(_select(source.table, seed.columns, source_name(seed, base_dir)))
    if kind == "documents":
        assert seed.documents is not None
        table = read_documents(
            seed.documents,
            base_dir=base_dir,
            chunk=seed.chunk,
            report=report,
            source=source_name(seed, base_dir),
        )
        return TableSource(_select(table, seed.columns, source_name(seed, base_dir)))
    return _combined(seed, base_dir=base_dir, run_seed=run_seed, report=report, prefix=prefix)


def _combined(
    seed: SeedConfig, *, base_dir: Path, run_seed: int, report: SeedReport, prefix: str
) -> RecordSource:
    parts: list[IndexedSource] = []
    for i, sub in enumerate(seed.sources or []):
        name = f"{prefix}.sources[{i}]"
        part = open_seed(sub, base_dir=base_dir, run_seed=run_seed, report=report, prefix=name)
        if not isinstance(part, IndexedSource):
            raise SeedDataError(
                f"a streamed dataset can only be combined with 'combine: sample' (not '{seed.combine}')",
                field=f"{name}.streaming",
            )
        parts.append(part)
    if seed.combine in ("join", "left_join"):
        keys = [seed.key] if isinstance(seed.key, str) else list(seed.key or [])
        combined: IndexedSource = join_sources(parts, keys, left=seed.combine == "left_join", prefix=prefix)
    else:
        check_distinct_fields([p.schema for p in parts], prefix=prefix)
        if seed.combine == "zip":
            combined = ZipSource(parts)
        else:
            combined = parts[0]
            for part in parts[1:]:
                combined = CrossSource(combined, part)
    if seed.columns is not None:
        combined = TableSource(_select(_read_all(combined), seed.columns, "seed sources"))
    return combined


# -- files --------------------------------------------------------------------------------------------


def _open_path(seed: SeedConfig, base_dir: Path, report: SeedReport) -> IndexedSource:
    assert seed.path is not None
    path = Path(seed.path).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if any(ch in seed.path for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        files = [f for f in files if f.is_file() or is_hf_dir(f)]
        if not files:
            raise SeedDataError("the pattern matches no files", source=str(path))
    elif not path.exists():
        raise SeedDataError("no such file or directory", source=str(path))
    else:
        files = [path]
    source = str(files[0]) if len(files) == 1 else str(path)
    formats = [seed.format or format_of(f) for f in files]
    if all(fmt == "parquet" for fmt in formats):
        return open_parquet(files, columns=seed.columns)
    tables = [_read_one(f, fmt, seed.skip_bad_lines, report) for f, fmt in zip(files, formats, strict=True)]
    if len(tables) == 1:
        table = tables[0]
    else:
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SeedDataError(f"the matched files do not share a schema: {exc}", source=str(path)) from None
    return TableSource(_select(table, seed.columns, source))


def _read_one(path: Path, fmt: str, skip_bad_lines: bool, report: SeedReport) -> pa.Table:
    try:
        if fmt == "hf":
            return read_saved_dataset(path)
        if path.is_dir():
            raise SeedDataError(NOT_A_DATASET, source=str(path))
        if fmt == "parquet":
            return pq.read_table(path, memory_map=True)
        if fmt == "csv":
            return read_csv(path)
        if fmt == "json":
            return read_json_array(path)
        table, skipped = read_jsonl(path, skip_bad_lines=skip_bad_lines)
        for number, reason in skipped:
            report.skip(str(path), f"line {number}", reason)
        return table
    except SeedDataError as exc:
        raise exc.with_source(str(path)) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SeedDataError(f"cannot read {fmt} data: {exc}", source=str(path)) from None


def _select(table: pa.Table, columns: list[str] | None, source: str) -> pa.Table:
    if columns is None:
        return table
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise SeedDataError(
            f"'columns' names {', '.join(repr(c) for c in missing)}, not in the data; "
            f"available: {', '.join(table.column_names)}",
            source=source,
        )
    return table.select(columns)


# -- transforms ---------------------------------------------------------------------------------------


def _transformed(source: RecordSource, steps: list[Step], where: str) -> RecordSource:
    schema = steps[-1].schema
    if isinstance(source, StreamSource):
        inner = source
        return StreamSource(
            schema,
            lambda rows, epoch: run_steps(steps, inner.batches(rows, epoch=epoch)),
            on_close=inner.close,
        )
    assert isinstance(source, IndexedSource)
    kept: list[pa.Table] = []
    size = 0
    spill: _Spill | None = None
    for chunk in run_steps(steps, source.batches()):
        if spill is not None:
            spill.write(chunk)
            continue
        kept.append(chunk)
        size += chunk.nbytes
        if size > SPILL_BYTES:
            spill = _Spill(schema)
            for held in kept:
                spill.write(held)
            kept = []
    source.close()
    if spill is not None:
        return spill.finish()
    if not kept:
        raise _emptied(steps, where)
    return TableSource(pa.concat_tables(kept).cast(schema) if len(kept) > 1 else kept[0])


def _emptied(steps: list[Step], where: str) -> SeedDataError:
    if steps[0].records_in == 0:
        return SeedDataError("the seed dataset has no records", source=where)
    step = next((s for s in steps if s.records_out == 0), steps[-1])
    return SeedDataError(
        f"no seed record is left after this step ({step.records_in} in, 0 out)", source=where, field=step.name
    )


def _read_all(source: IndexedSource) -> pa.Table:
    tables = list(source.batches())
    return pa.concat_tables(tables) if tables else source.schema.empty_table()


class _Spill:
    """Transformed records written to a temporary parquet file, then read back lazily."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.directory = tempfile.mkdtemp(prefix="synthloom-seed-")
        self.writer = pq.ParquetWriter(Path(self.directory) / "seed.parquet", schema)

    def write(self, chunk: pa.Table) -> None:
        self.writer.write_table(chunk.cast(self.schema), row_group_size=_SPILL_ROW_GROUP)

    def finish(self) -> ParquetSource:
        self.writer.close()
        return _SpilledSource(self.directory, self.schema)


class _SpilledSource(ParquetSource):
    """A parquet file of its own in a temporary folder, removed on `close` (or when collected)."""

    def __init__(self, directory: str, schema: pa.Schema) -> None:
        super().__init__([Path(directory) / "seed.parquet"], schema)
        self._cleanup = weakref.finalize(self, shutil.rmtree, directory, True)

    def close(self) -> None:
        super().close()
        self._cleanup()
