"""What an export reads: a run's committed row groups (or a preview's tables), one part at a time.

Exports stream: a part is read, turned into output and released before the next is read, so a run of
any size is exported with the memory of one row group. An `ExportSource` may carry an `OutputShaper`
that reshapes each part on the way out (a training format chosen at export time); the rows it removes
are counted in `problems`. Writers that need two passes over the records (a schema to agree on before
writing) call `spooled()`, which writes the reshaped parts to a scratch folder once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from synthloom.config.output_config import OutputConfig
from synthloom.errors import RunStateError
from synthloom.outputs.shaper import OutputShaper, ShapedRows
from synthloom.store.run_directory import read_data_part
from synthloom.store.run_reader import RunData
from synthloom.store.table_codec import decode_rows

__all__ = ["ExportSource", "ShapingTally"]

Part: TypeAlias = Path | pa.Table

#: How many removal reasons an export keeps to show.
_EXAMPLES = 5


@dataclass
class ShapingTally:
    """Rows an export-time reshaping removed: counts and the first few reasons."""

    filtered: int = 0
    failed: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, shaped: ShapedRows) -> None:
        self.filtered += len(shaped.filtered)
        self.failed += len(shaped.failed)
        for problem in (*shaped.failed, *shaped.filtered):
            if len(self.examples) >= _EXAMPLES:
                break
            self.examples.append(str(problem))


class ExportSource:
    """The records of one run (or of tables in memory), and what a dataset card says about them."""

    def __init__(
        self,
        parts: Sequence[Part],
        *,
        name: str = "dataset",
        config: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        usage: Mapping[str, Any] | None = None,
        shaper: OutputShaper | None = None,
        tally: ShapingTally | None = None,
        origin: str | None = None,
    ) -> None:
        self.parts = list(parts)
        self.name = name
        #: Where the records come from (the run directory), for messages.
        self.origin = origin or name
        #: The run's resolved config as plain data (config.yaml); secrets were never written there.
        self.config: dict[str, Any] = dict(config or {})
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.usage: dict[str, Any] = dict(usage or {})
        self.shaper = shaper
        self.tally = tally if tally is not None else ShapingTally()

    @classmethod
    def from_run(cls, path: str | Path) -> ExportSource:
        """The committed row groups of the run directory at `path`."""
        root = Path(path)
        if not root.is_dir():
            raise RunStateError(f"{root} is not a synthloom run directory (no such folder)")
        run = RunData(root)
        return cls(
            run.parts(),
            name=str(run.metadata.get("name") or run.config.get("name") or root.name),
            config=run.config,
            metadata=run.metadata,
            usage=run.usage,
            origin=str(root),
        )

    # ---- what is there --------------------------------------------------------------------------
    def raw_schemas(self) -> list[pa.Schema]:
        """The stored schema of every part (footers only)."""
        return [p.schema if isinstance(p, pa.Table) else pq.read_schema(p) for p in self.parts]

    def stored_columns(self) -> list[str]:
        """Every column any part holds, in first-seen order."""
        names: dict[str, None] = {}
        for schema in self.raw_schemas():
            names.update(dict.fromkeys(schema.names))
        return list(names)

    def columns(self) -> list[str]:
        """The keys of the exported records."""
        return self.shaper.names if self.shaper is not None else self.stored_columns()

    def stored_rows(self) -> int:
        return sum(
            p.num_rows if isinstance(p, pa.Table) else pq.ParquetFile(p).metadata.num_rows for p in self.parts
        )

    def output_config(self) -> OutputConfig | None:
        """The `output:` block the run was generated with (its records already have that shape)."""
        data = self.config.get("output")
        if not isinstance(data, Mapping):
            return None
        try:
            return OutputConfig.model_validate(data)
        except ValidationError:
            return None

    # ---- reading --------------------------------------------------------------------------------
    def _raw_tables(self) -> Iterator[pa.Table]:
        for part in self.parts:
            yield part if isinstance(part, pa.Table) else read_data_part(part)

    def rows(self) -> Iterator[list[dict[str, Any]]]:
        """The records, one list per part, nested values decoded."""
        for table in self._raw_tables():
            rows = list(decode_rows(table))
            if self.shaper is not None:
                shaped = self.shaper.apply(rows)
                self.tally.add(shaped)
                rows = shaped.records
            yield rows

    def tables(self) -> Iterator[pa.Table]:
        """The records, one Arrow table per part, in the run's own encoding (nested values as JSON text,
        marked in the field metadata). Part schemas may differ: see `arrow_types.unify_stored`."""
        if self.shaper is None:
            yield from self._raw_tables()
            return
        for rows in self.rows():
            yield self.shaper.to_table(rows)

    # ---- derived sources ------------------------------------------------------------------------
    def reshaped(self, output: OutputConfig) -> ExportSource:
        """This source with `output` applied to every record on the way out."""
        if self.shaper is not None:
            raise ValueError("a source is reshaped once")
        columns = self.stored_columns()
        return ExportSource(
            self.parts,
            name=self.name,
            config=self.config,
            metadata=self.metadata,
            usage=self.usage,
            shaper=OutputShaper(output, columns, known=columns),
            origin=self.origin,
        )

    def spooled(self, folder: Path) -> ExportSource:
        """A source that can be read twice: reshaped parts written once to `folder`; itself when
        there is nothing to reshape."""
        if self.shaper is None:
            return self
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, table in enumerate(self.tables()):
            path = folder / f"part-{index:05d}.parquet"
            pq.write_table(table, path, compression="zstd")
            paths.append(path)
        return ExportSource(
            paths,
            name=self.name,
            config=self.config,
            metadata=self.metadata,
            usage=self.usage,
            tally=self.tally,
        )
