"""What a seed source is, once opened: an *indexed* source (a known number of records, any of them
readable by index) or a *stream* (records in order only, length unknown until the end).

    RecordSource
    ├── IndexedSource        num_rows, take(indices), batches()
    │   ├── TableSource      an Arrow table in memory (or memory mapped)
    │   ├── ParquetSource    parquet files read lazily, a row group at a time (parquet_source.py)
    │   ├── ZipSource        record i of each part, side by side (combine.py)
    │   └── CrossSource      every combination of the parts' records (combine.py)
    └── StreamSource         batches() from the start, as often as needed (hf_datasets.py, transforms.py)

Values stay in Arrow until a row group asks for them. Fields that hold JSON text (a previous run's
dicts and lists, marked with `synthloom.json` field metadata) are decoded into values only then.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from synthloom.store.table_codec import dumps_json, is_json_field, loads_json

__all__ = [
    "BATCH_ROWS",
    "IndexedSource",
    "RecordSource",
    "StreamSource",
    "TableSource",
    "conform",
    "decoded_columns",
    "decoded_rows",
    "hstack",
]

#: Records per batch when a source is read in order.
BATCH_ROWS = 16_384


class RecordSource(ABC):
    """Seed records with a fixed schema."""

    schema: pa.Schema

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    @abstractmethod
    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
        """Every record in order, as small tables (each a fresh pass from the start)."""

    def close(self) -> None:  # noqa: B027 - most sources hold nothing to release
        """Release files and temporary data."""


class IndexedSource(RecordSource):
    """A source with `num_rows` records, readable in any order."""

    num_rows: int
    #: Whether a random read costs a pass over stored data: samplers then fetch many records at once.
    lazy: bool = False
    #: For a lazy source: about how many bytes one record takes once read (sizes its read-ahead).
    row_bytes: int = 64

    @abstractmethod
    def take(self, indices: np.ndarray) -> pa.Table:
        """The records at `indices` (each in `[0, num_rows)`, repeats allowed), in that order."""

    def slice(self, start: int, length: int) -> pa.Table:
        """Records `start .. start + length - 1`."""
        return self.take(np.arange(start, start + length, dtype=np.int64))

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
        for start in range(0, self.num_rows, batch_rows):
            yield self.slice(start, min(batch_rows, self.num_rows - start))


class TableSource(IndexedSource):
    """Records held as one Arrow table."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.schema = table.schema
        self.num_rows = table.num_rows

    def take(self, indices: np.ndarray) -> pa.Table:
        return self.table.take(pa.array(indices, type=pa.int64()))

    def slice(self, start: int, length: int) -> pa.Table:
        return self.table.slice(start, length)  # zero copy

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
        for start in range(0, self.num_rows, batch_rows):
            yield self.table.slice(start, batch_rows)


class StreamSource(RecordSource):
    """Records read in order from the start, each pass a fresh iterator; the length is unknown."""

    def __init__(
        self,
        schema: pa.Schema,
        open_batches: Callable[[int, int], Iterator[pa.Table]],
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.schema = schema
        self._open = open_batches
        self._on_close = on_close

    def batches(self, batch_rows: int = BATCH_ROWS, *, epoch: int = 0) -> Iterator[pa.Table]:
        """A pass over the stream; `epoch` counts the passes (a shuffled stream reshuffles per pass)."""
        return self._open(batch_rows, epoch)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


def decoded_columns(table: pa.Table) -> dict[str, list[Any]]:
    """The table as Python lists, column by column, JSON-text fields parsed back into values."""
    out = table.to_pydict()
    for field in table.schema:
        if is_json_field(field):
            out[field.name] = [None if v is None else loads_json(v) for v in out[field.name]]
    return out


def decoded_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table as one dict per record, JSON-text fields parsed back into values."""
    columns = decoded_columns(table)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def hstack(tables: list[pa.Table]) -> pa.Table:
    """Tables with the same number of rows and distinct fields, side by side."""
    arrays: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for table in tables:
        arrays.extend(table.columns)
        fields.extend(table.schema)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s fields: missing ones null, JSON-text fields encoded as JSON,
    other types cast (a field that is all null in one file takes the type it has in the others)."""
    if table.schema.equals(schema, check_metadata=True):
        return table
    arrays = []
    for field in schema:
        if field.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, type=field.type))
            continue
        column = table.column(field.name)
        own = table.schema.field(field.name)
        if is_json_field(field) and not is_json_field(own):
            values = column.to_pylist()
            text = [None if v is None else dumps_json(v) for v in values]
            arrays.append(pa.array(text, type=pa.string()))
        elif column.type != field.type:
            arrays.append(column.cast(field.type))
        else:
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)
