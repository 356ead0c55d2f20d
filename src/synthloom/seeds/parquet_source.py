"""Parquet seeds larger than memory: records read by index straight from the files.

Only the footers are read when the source opens: each (file, row group) is a range of global record
numbers. `take(indices)` sorts the wanted indices, visits only the row groups that hold one of
them, streams each in batches (so a huge row group never sits in memory whole), keeps the wanted
rows, and puts them back in the asked order. Memory is bounded by one batch plus the result.

A small parquet seed is read into memory instead (`open_parquet` decides), as it always was.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.errors import SeedDataError
from synthloom.seeds.sources import BATCH_ROWS, IndexedSource, TableSource, conform

__all__ = ["LAZY_BYTES", "LAZY_ROWS", "ParquetSource", "open_parquet"]

#: A parquet seed with more records than this, or more bytes (uncompressed), is read lazily.
LAZY_ROWS = 2_000_000
LAZY_BYTES = 512 << 20
#: Files kept open at once (a run directory may hold thousands of parts).
_OPEN_FILES = 32
#: Rows decoded at a time inside one row group.
_READ_BATCH = 16_384


class ParquetSource(IndexedSource):
    """Parquet files as one indexed source, read on demand."""

    lazy = True

    def __init__(
        self,
        files: Sequence[Path],
        schema: pa.Schema,
        *,
        columns: list[str] | None = None,
        convert: Callable[[pa.Table], pa.Table] | None = None,
    ) -> None:
        self.files = list(files)
        self.schema = schema
        self.columns = columns
        self._convert = convert or (lambda t: conform(t, schema))
        self._open: OrderedDict[int, pq.ParquetFile] = OrderedDict()
        #: (file index, row group index) per row group with records, and where each starts.
        self._groups: list[tuple[int, int]] = []
        self._starts: list[int] = []
        total = 0
        total_bytes = 0
        for f in range(len(self.files)):
            meta = self._file(f).metadata
            wanted = set(columns) if columns is not None else None
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                if group.num_rows == 0:
                    continue
                self._groups.append((f, g))
                self._starts.append(total)
                total += group.num_rows
                for c in range(group.num_columns):
                    chunk = group.column(c)
                    if wanted is None or chunk.path_in_schema.split(".")[0] in wanted:
                        total_bytes += chunk.total_uncompressed_size
        self._starts.append(total)
        self.num_rows = total
        # Arrow's layout adds offsets and validity to parquet's encoded size: count half again.
        self.row_bytes = max(16, int(1.5 * total_bytes / max(total, 1)))

    def _file(self, index: int) -> pq.ParquetFile:
        handle = self._open.get(index)
        if handle is None:
            try:
                handle = pq.ParquetFile(
                    self.files[index], memory_map=False, buffer_size=1 << 20, pre_buffer=False
                )
            except (pa.ArrowException, OSError) as exc:
                raise SeedDataError(
                    f"cannot read parquet data: {exc}", source=str(self.files[index])
                ) from None
            self._open[index] = handle
            if len(self._open) > _OPEN_FILES:
                _, old = self._open.popitem(last=False)
                old.close()
        else:
            self._open.move_to_end(index)
        return handle

    def _read(self, group: int, batch_rows: int = _READ_BATCH) -> Iterator[tuple[int, pa.Table]]:
        """Row group `group` in batches, each with the global index of its first record."""
        f, g = self._groups[group]
        start = self._starts[group]
        try:
            for batch in self._file(f).iter_batches(
                batch_size=batch_rows, row_groups=[g], columns=self.columns, use_threads=False
            ):
                table = self._convert(pa.Table.from_batches([batch]))
                yield start, table
                start += table.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise SeedDataError(f"cannot read parquet data: {exc}", source=str(self.files[f])) from None

    def take(self, indices: np.ndarray) -> pa.Table:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            return self.schema.empty_table()
        order = np.argsort(indices, kind="stable")
        wanted = indices[order]
        pieces: list[pa.Table] = []
        group = bisect.bisect_right(self._starts, int(wanted[0])) - 1
        position = 0
        while position < wanted.size:
            end = self._starts[group + 1]
            stop = int(np.searchsorted(wanted, end, side="left"))
            if stop > position:
                in_group = wanted[position:stop]
                for first, table in self._read(group):
                    lo = int(np.searchsorted(in_group, first, side="left"))
                    hi = int(np.searchsorted(in_group, first + table.num_rows, side="left"))
                    if hi > lo:
                        local = in_group[lo:hi] - first
                        pieces.append(table.take(pa.array(local, type=pa.int64())))
                    if hi == in_group.size:
                        break
                position = stop
            if position < wanted.size:
                group = bisect.bisect_right(self._starts, int(wanted[position])) - 1
        gathered = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        if np.all(order[1:] > order[:-1]):  # already in the asked order (ordered sampling)
            return gathered
        back = np.empty_like(order)
        back[order] = np.arange(order.size, dtype=np.int64)
        return gathered.take(pa.array(back, type=pa.int64()))

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
        for group in range(len(self._groups)):
            for _, table in self._read(group, batch_rows):
                yield table

    def read_all(self) -> pa.Table:
        tables = list(self.batches(_READ_BATCH))
        return pa.concat_tables(tables) if tables else self.schema.empty_table()

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()


def open_parquet(
    files: Sequence[Path],
    *,
    columns: list[str] | None = None,
    schema: pa.Schema | None = None,
    convert: Callable[[pa.Table], pa.Table] | None = None,
) -> IndexedSource:
    """Parquet files as a source: in memory when small, lazy (`ParquetSource`) when large.

    `schema` is the schema every file is brought to (default: the files' schemas unified)."""
    if schema is None:
        schema = unified_schema(files, columns)
    source = ParquetSource(files, schema, columns=columns, convert=convert)
    if source.num_rows <= LAZY_ROWS and source.num_rows * source.row_bytes <= LAZY_BYTES:
        table = source.read_all()
        source.close()
        return TableSource(table)
    return source


def unified_schema(files: Sequence[Path], columns: list[str] | None) -> pa.Schema:
    schemas = []
    for path in files:
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            raise SeedDataError(f"cannot read parquet data: {exc}", source=str(path)) from None
        if columns is not None:
            missing = [c for c in columns if c not in schema.names]
            if missing:
                raise SeedDataError(
                    f"'columns' names {', '.join(repr(c) for c in missing)}, not in the data; "
                    f"available: {', '.join(schema.names)}",
                    source=str(path),
                )
            schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
        schemas.append(schema)
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        source = str(files[0].parent) if files else None
        raise SeedDataError(f"the matched files do not share a schema: {exc}", source=source) from None
