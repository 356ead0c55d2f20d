"""A generated dataset, read back from its run directory (or held in memory, for a preview)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from synthloom.config.output_config import OutputConfig
from synthloom.errors import OutputError
from synthloom.outputs import (
    ExportReport,
    ExportSource,
    PushResult,
    export_records,
    hf_dataset,
    prepare_source,
    push_to_hub,
    save_hf_dataset,
)
from synthloom.report.record_cards import records_html
from synthloom.store.run_directory import read_data_part
from synthloom.store.run_reader import RunData
from synthloom.store.table_codec import decode_rows, is_json_field, loads_json

if TYPE_CHECKING:
    import datasets
    import pandas as pd

__all__ = ["DatasetResult"]

#: jsonl, csv, parquet, hf, or a training format: messages, sharegpt, oasst, dpo, alpaca.
ExportFormat = str


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
        return cls(RunData(path).root)

    # ---- metadata ---------------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        if self.path is None:
            return {"status": "preview", "committed_records": len(self)}
        return RunData(self.path).metadata

    @property
    def usage(self) -> dict[str, Any]:
        if self._usage is None and self.path is not None:
            self._usage = RunData(self.path).usage
        return self._usage or {}

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Rows that failed: record, column, error type, error, attempts."""
        if self._failures is None and self.path is not None:
            self._failures = RunData(self.path).failures
        return self._failures or []

    @property
    def filtered(self) -> list[dict[str, Any]]:
        """Rows removed on purpose (filters, quality gates): record, column, reason."""
        if self._filtered is None and self.path is not None:
            self._filtered = RunData(self.path).filtered
        return self._filtered or []

    # ---- data -------------------------------------------------------------------------------------
    def _parts(self) -> list[Path]:
        assert self.path is not None
        return RunData(self.path).parts()

    def to_arrow(self) -> pa.Table:
        """All rows as one Arrow table (JSON columns as text, marked in the field metadata)."""
        tables = self._tables if self._tables is not None else [read_data_part(p) for p in self._parts()]
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
                frame[f.name] = frame[f.name].map(lambda v: None if v is None else loads_json(v))
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

    # ---- exports ----------------------------------------------------------------------------------
    def export_source(self) -> ExportSource:
        """The records as an export reads them: committed parts one at a time (or the preview's tables)."""
        if self._tables is not None:
            return ExportSource(self._tables, name="preview", metadata=self.metadata, usage=self.usage)
        assert self.path is not None
        return ExportSource.from_run(self.path)

    def export(
        self,
        path: str | Path,
        format: ExportFormat | None = None,
        *,
        records_as: str | None = None,
        sources: Mapping[str, Any] | None = None,
        output: OutputConfig | Mapping[str, Any] | None = None,
        license: str | None = None,
    ) -> Path:
        """Write every record to `path` as `format` (from the suffix when None): jsonl, csv, parquet,
        hf (a `save_to_disk` folder), or a training format (messages, sharegpt, oasst, dpo, alpaca:
        JSON Lines). `records_as` (a training format) reshapes the records for a file format
        (`format="parquet", records_as="dpo"`). A training format reads its parts from `sources`
        (`{"user": "question", "assistant": "answer.text"}`) or conventional columns; `output`
        applies a whole `output:` block instead. Streams part by part."""
        self.export_report(
            path, format, records_as=records_as, sources=sources, output=output, license=license
        )
        return Path(path)

    def export_report(
        self,
        path: str | Path,
        format: ExportFormat | None = None,
        *,
        records_as: str | None = None,
        sources: Mapping[str, Any] | None = None,
        output: OutputConfig | Mapping[str, Any] | None = None,
        license: str | None = None,
    ) -> ExportReport:
        """`export`, returning what was written and what an export-time reshaping removed."""
        return export_records(
            self.export_source(),
            path,
            format,
            records_as=records_as,
            sources=sources,
            output=output,
            license=license,
        )

    def to_jsonl(self, path: str | Path) -> Path:
        """Every record as one JSON line."""
        return self.export(path, "jsonl")

    def to_csv(self, path: str | Path) -> Path:
        """Every record as a CSV row; nested values as JSON text."""
        return self.export(path, "csv")

    def to_parquet(self, path: str | Path) -> Path:
        """Every record in one Parquet file (nested values as JSON text, as stored)."""
        return self.export(path, "parquet")

    def save_to_disk(
        self,
        path: str | Path,
        *,
        format: str | None = None,
        sources: Mapping[str, Any] | None = None,
        output: OutputConfig | Mapping[str, Any] | None = None,
        license: str | None = None,
    ) -> Path:
        """A folder `datasets.load_from_disk` reads, with a dataset card (needs `synthloom[hf]`).
        `format` (a training format), `sources` and `output` reshape the records as for `export`."""
        source = prepare_source(self.export_source(), format, sources=sources, output=output)
        save_hf_dataset(source, Path(path), license=license)
        return Path(path)

    def to_hf_dataset(
        self,
        *,
        format: str | None = None,
        sources: Mapping[str, Any] | None = None,
        output: OutputConfig | Mapping[str, Any] | None = None,
    ) -> datasets.Dataset:
        """The records as a `datasets.Dataset`, nested values as lists and structs (needs
        `synthloom[hf]`)."""
        return hf_dataset(prepare_source(self.export_source(), format, sources=sources, output=output))

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        revision: str | None = None,
        license: str | None = None,
        format: str | None = None,
        sources: Mapping[str, Any] | None = None,
        output: OutputConfig | Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        commit_message: str | None = None,
    ) -> PushResult:
        """Upload the records (Parquet shards) and a generated dataset card to the Hub dataset repo
        `repo_id` in one commit (needs `synthloom[hf]`). The token is `token`, else `HF_TOKEN` or the
        saved login; the endpoint `endpoint`, else `HF_ENDPOINT`."""
        source = prepare_source(self.export_source(), format, sources=sources, output=output)
        return push_to_hub(
            source,
            repo_id,
            token=token,
            private=private,
            revision=revision,
            endpoint=endpoint,
            license=license,
            commit_message=commit_message,
        )

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "in memory"
        return f"<DatasetResult {len(self)} records, {where}>"

    #: How many records a notebook shows.
    html_records = 10

    def _repr_html_(self) -> str:
        """How Jupyter shows a result: the first records as cards (chats as chats, images as images)."""
        total = len(self)
        rows = list(itertools.islice(iter(self), self.html_records))
        where = str(self.path) if self.path else "preview, in memory"
        removed = f", {len(self.filtered)} filtered, {len(self.failures)} failed"
        shown = f" · first {len(rows)}" if len(rows) < total else ""
        heading = f"{total} records{removed} ({where}){shown}"
        return records_html(((f"record {i}", row) for i, row in enumerate(rows)), heading=heading)
