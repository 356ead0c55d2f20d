"""A generated dataset, read back from its run directory (or held in memory, for a preview)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.errors import OutputError, RunStateError
from synthloom.store.table_codec import decode_rows, is_json_field

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DatasetResult"]

ExportFormat = Literal["jsonl", "csv", "parquet"]


class DatasetResult:
    """The rows, the usage and the failures of a run.

    Columns holding dicts or lists (structured replies, judge scores, persons) are stored as JSON text
    in parquet; `to_pandas()`, iteration and JSONL export give them back as Python values."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        tables: list[pa.Table] | None = None,
        usage: dict[str, Any] | None = None,
        failures: list[dict[str, Any]] | None = None,
        filtered: list[dict[str, Any]] | None = None,
    ) -> None:
        self.path = path
        self._tables = tables
        self._usage = usage
        self._failures = failures
        self._filtered = filtered

    @classmethod
    def open(cls, path: str | Path) -> DatasetResult:
        """Open a run directory written by `create`."""
        path = Path(path)
        if not (path / "metadata.json").exists():
            raise RunStateError(f"{path} is not a synthloom run directory (no metadata.json)")
        return cls(path)

    # ---- metadata ---------------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        if self.path is None:
            return {"status": "preview", "committed_records": len(self)}
        return json.loads((self.path / "metadata.json").read_text())  # type: ignore[no-any-return]

    @property
    def usage(self) -> dict[str, Any]:
        if self._usage is None and self.path is not None and (self.path / "usage.json").exists():
            self._usage = json.loads((self.path / "usage.json").read_text())
        return self._usage or {}

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Rows that failed: record, column, error type, error, attempts."""
        if self._failures is None and self.path is not None:
            self._failures = _read_jsonl(self.path / "failures.jsonl")
        return self._failures or []

    @property
    def filtered(self) -> list[dict[str, Any]]:
        """Rows removed on purpose (filters, quality gates): record, column, reason."""
        if self._filtered is None and self.path is not None:
            self._filtered = _read_jsonl(self.path / "filtered.jsonl")
        return self._filtered or []

    # ---- data -------------------------------------------------------------------------------------
    def _parts(self) -> list[Path]:
        assert self.path is not None
        return sorted((self.path / "data").glob("part-*.parquet"))

    def to_arrow(self) -> pa.Table:
        """All rows as one Arrow table (JSON columns as text, marked in the field metadata)."""
        tables = self._tables if self._tables is not None else [pq.read_table(p) for p in self._parts()]
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="default")

    def to_pandas(self) -> pd.DataFrame:
        """All rows as a DataFrame, JSON columns decoded. Needs pandas (`pip install synthloom[pandas]`)."""
        try:
            import pandas as pd
        except ImportError:
            raise OutputError("to_pandas() needs pandas: pip install pandas") from None
        table = self.to_arrow()
        frame = table.to_pandas()
        for f in table.schema:
            if is_json_field(f):
                frame[f.name] = frame[f.name].map(lambda v: None if v is None else orjson.loads(v))
        return pd.DataFrame(frame)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._tables is not None:
            for table in self._tables:
                yield from decode_rows(table)
            return
        for part in self._parts():
            yield from decode_rows(pq.read_table(part))

    def __len__(self) -> int:
        if self._tables is not None:
            return sum(t.num_rows for t in self._tables)
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self._parts())

    def export(self, path: str | Path, format: ExportFormat | None = None) -> Path:
        """Write every row to one file: jsonl, csv or parquet (from the suffix when `format` is None)."""
        path = Path(path)
        fmt = format or path.suffix.lstrip(".").lower()
        if fmt not in ("jsonl", "csv", "parquet"):
            raise OutputError(f"cannot export to '{fmt}': use jsonl, csv or parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            pq.write_table(self.to_arrow(), path, compression="zstd")
        elif fmt == "jsonl":
            with open(path, "wb") as fh:
                for row in self:
                    fh.write(orjson.dumps(row, default=str, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        else:
            table = self.to_arrow()
            with open(path, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(table.column_names)
                for batch in table.to_batches(max_chunksize=4096):
                    for row in batch.to_pylist():
                        writer.writerow(["" if v is None else v for v in row.values()])
        return path

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "in memory"
        return f"<DatasetResult {len(self)} records, {where}>"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
