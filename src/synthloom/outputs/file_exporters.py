"""Single-file exports: JSON Lines, CSV and Parquet, written part by part.

Each is written to a temporary name beside the target and renamed when complete, so an interrupted
export never leaves a truncated file under the name asked for.

- **jsonl**: one JSON object per line, nested values as JSON (not as text holding JSON).
- **csv**: a header of every column; nested values (dicts, lists, vectors) as JSON text, null as an
  empty cell, other values as Python prints them.
- **parquet**: the run's own encoding (nested values as JSON text, marked `synthloom.json`), one
  schema agreed over all parts first.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.errors import OutputError
from synthloom.outputs.arrow_types import conform, unify_stored
from synthloom.outputs.export_source import ExportSource

__all__ = ["atomic_file", "write_csv", "write_jsonl", "write_parquet"]

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Write `path` through a temporary sibling, renamed into place only when the block succeeds."""
    tmp = path.parent / f".{path.name}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_jsonl(source: ExportSource, path: Path) -> int:
    """Every record as one JSON line. Returns the number of records written."""
    count = 0
    dumps: Callable[..., bytes] = orjson.dumps
    with atomic_file(path) as fh:
        for rows in source.rows():
            lines = (dumps(row, default=_json_default, option=_JSON_OPTIONS) + b"\n" for row in rows)
            fh.write(b"".join(lines))
            count += len(rows)
    return count


def write_csv(source: ExportSource, path: Path) -> int:
    """Every record as one CSV row under a header of all columns."""
    names = source.columns()
    count = 0
    with atomic_file(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for table in source.tables():
            columns = []
            for name in names:
                if name not in table.column_names:
                    columns.append([None] * table.num_rows)
                    continue
                nested = pa.types.is_nested(table.schema.field(name).type)
                columns.append([_cell(v, nested) for v in table.column(name).to_pylist()])
            writer.writerows(zip(*columns, strict=True))
            count += table.num_rows
    return count


def _cell(value: Any, nested: bool) -> Any:
    if value is None:
        return ""
    if nested or isinstance(value, dict | list):
        return orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS).decode()
    if isinstance(value, bytes):
        return _json_default(value)
    return value


def _json_default(value: Any) -> Any:
    """Bytes (images, audio) as base64 text — a text format cannot hold them raw; anything else as text."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def write_parquet(source: ExportSource, path: Path) -> int:
    """One Parquet file in the run's encoding, zstd-compressed, one row group per part."""
    spool = path.parent / f".{path.name}.spool"
    try:
        source = source.spooled(spool)
        schema = unify_stored(source.raw_schemas())
        count = 0
        with atomic_file(path) as fh, pq.ParquetWriter(fh, schema, compression="zstd") as writer:
            for table in source.tables():
                writer.write_table(conform(table, schema))
                count += table.num_rows
        return count
    finally:
        _remove_spool(spool)


def _remove_spool(folder: Path) -> None:
    if folder.is_dir():
        for child in folder.iterdir():
            with contextlib.suppress(OSError):
                child.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
