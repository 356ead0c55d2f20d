"""From generated rows to final records: the `output:` block applied to a row group.

`OutputShaper(config.output, output_columns).apply(rows)` is pure: rows in, records out, with the rows
that make no record returned as values — *filtered* (a required part is missing, the record breaks
`output.schema`) or *failed* (a template raised). Everything is compiled in the constructor, so
`apply` is a loop of lookups and renders.

A record holds, in this order: the declared `fields`, the training format's keys, then the output
columns `include_columns` asks for. With neither `fields` nor `format`, the record is the row's
output columns, as without an `output:` block (a `schema` then validates those).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from synthloom.config.output_config import OutputConfig
from synthloom.errors import PlanError
from synthloom.outputs.record_schema import RecordSchema
from synthloom.outputs.training_formats import CompiledFormat, compile_format
from synthloom.outputs.value_sources import RecordFailed, RecordFiltered, ValueFn, compile_fields
from synthloom.store.table_codec import to_arrow_table

__all__ = ["OutputShaper", "RowProblem", "ShapedRows", "record_layout"]


@dataclass(frozen=True)
class RowProblem:
    """A row that made no record: its position in the rows given to `apply`, where and why."""

    position: int
    #: The part of the `output:` block concerned: `output.schema`, `output.format.assistant`, ...
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class ShapedRows:
    """The result of `OutputShaper.apply`."""

    records: list[dict[str, Any]] = field(default_factory=list)
    #: For each record, the position of its row in the input.
    positions: list[int] = field(default_factory=list)
    #: Rows removed on purpose (missing part, schema): the run counts them as filtered.
    filtered: list[RowProblem] = field(default_factory=list)
    #: Rows whose record could not be computed (a template raised): the run counts them as failed.
    failed: list[RowProblem] = field(default_factory=list)


@dataclass(frozen=True)
class RecordLayout:
    """What a record is made of, known before any row: declared fields, format keys, copied columns."""

    field_names: tuple[str, ...]
    format_keys: tuple[str, ...]
    copied: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return self.field_names + self.format_keys + self.copied


def record_layout(
    output: OutputConfig, columns: Sequence[str], fmt: CompiledFormat | None, where: str = "output"
) -> RecordLayout:
    """The keys of every record; a field that clashes with a format key is a `PlanError`."""
    names = tuple(output.fields or ())
    format_keys = fmt.keys if fmt else ()
    clash = [k for k in names if k in format_keys]
    if clash:
        raise PlanError(
            f"'{clash[0]}' is also written by format '{fmt.name if fmt else ''}'; rename the field",
            field=f"{where}.fields.{clash[0]}",
        )
    if isinstance(output.include_columns, list):
        wanted: Sequence[str] = output.include_columns
    elif output.include_columns or (output.fields is None and output.format is None):
        wanted = columns
    else:
        wanted = ()
    taken = set(names) | set(format_keys)
    return RecordLayout(names, format_keys, tuple(c for c in wanted if c not in taken))


class OutputShaper:
    """Builds final records from rows.

    `columns` are the run's output columns (`plan.output_columns`); rows may hold more (dropped
    columns, seed fields a mapping reads). With `output=None` a record is a row's output columns."""

    def __init__(
        self, output: OutputConfig | None, columns: Sequence[str], *, known: Collection[str] | None = None
    ) -> None:
        self.output = output
        self.columns = list(columns)
        available = set(known) if known is not None else set(self.columns)
        self._fields: list[tuple[str, ValueFn]] = []
        self._format: CompiledFormat | None = None
        self._schema: RecordSchema | None = None
        if output is None:
            self.layout = RecordLayout((), (), tuple(self.columns))
            return
        if output.fields:
            self._fields = compile_fields(output.fields, "output.fields")
        if output.format is not None:
            self._format = compile_format(output.format, available)
        self.layout = record_layout(output, self.columns, self._format)
        if output.record_schema is not None:
            self._schema = RecordSchema.load(output.record_schema)

    @property
    def names(self) -> list[str]:
        """The keys of every record, in order: the columns of the table `to_table` builds."""
        return list(self.layout.keys)

    def apply(self, rows: Sequence[Mapping[str, Any]]) -> ShapedRows:
        """Records for `rows`, and the rows that made none."""
        out = ShapedRows()
        fields, fmt, copied, schema = self._fields, self._format, self.layout.copied, self._schema
        for position, row in enumerate(rows):
            try:
                record = {name: fn(row) for name, fn in fields}
                if fmt is not None:
                    record.update(fmt.build(row))
                for name in copied:
                    record[name] = row.get(name)
            except RecordFiltered as exc:
                out.filtered.append(RowProblem(position, exc.field, exc.reason))
                continue
            except RecordFailed as exc:
                out.failed.append(RowProblem(position, exc.field, exc.reason))
                continue
            if schema is not None:
                problem = schema.problem(record)
                if problem is not None:
                    out.filtered.append(RowProblem(position, "output.schema", problem))
                    continue
            out.records.append(record)
            out.positions.append(position)
        return out

    def to_table(self, records: Sequence[Mapping[str, Any]]) -> pa.Table:
        """`records` as an Arrow table in the run's own encoding (nested values as JSON text)."""
        names = self.names
        return to_arrow_table({n: [r.get(n) for r in records] for n in names}, names)
