"""The `output:` block checked before any request is sent: every column it reads exists, every
template parses, a format has each part it needs, `include_columns` names real columns, the schema
loads and at least one record could meet it. Problems are `PlanError`s naming the config file and the
field (`output.fields.prompt.from`), with the closest column name when there is one.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import Any

from synthloom.config.dataset import DatasetConfig
from synthloom.config.output_config import FormatConfig, OutputConfig, OutputField, ValueSource
from synthloom.errors import PlanError
from synthloom.outputs.record_schema import RecordSchema
from synthloom.outputs.shaper import record_layout
from synthloom.outputs.training_formats import compile_format, resolve_parts
from synthloom.outputs.value_sources import path_head
from synthloom.plan.templates import template_references

__all__ = ["check_format_sources", "check_output", "kept_columns"]


def check_output(config: DatasetConfig, known_columns: Collection[str]) -> None:
    """Raise `PlanError` (attributed to the config's file) for anything wrong in `config.output`.

    `known_columns` is everything a row holds when it is shaped: seed fields, every column (dropped
    ones included) and their side columns."""
    output: OutputConfig | None = getattr(config, "output", None)
    if output is None:
        return
    try:
        check_output_block(output, set(known_columns), kept_columns(config, known_columns))
    except PlanError as exc:
        raise exc.with_source(config.source) from None


def kept_columns(config: DatasetConfig, known_columns: Collection[str]) -> list[str]:
    """The known columns a record keeps without a mapping: all but dropped columns and their sides."""
    dropped = set()
    for col in config.columns:
        if col.drop:
            dropped.add(col.name)
            dropped.update(col.side_columns())
    return [c for c in known_columns if c not in dropped]


def check_output_block(output: OutputConfig, known: set[str], kept: list[str], where: str = "output") -> None:
    """`check_output` for a bare `OutputConfig` (no source file)."""
    constants: dict[str, Any] = {}
    for name, spec in (output.fields or {}).items():
        _check_field(spec, f"{where}.fields.{name}", known)
        if spec.fields is None and spec.from_ is None and spec.template is None:
            constants[name] = spec.value
    fmt = None
    if output.format is not None:
        check_format_sources(output.format, known, f"{where}.format")
        fmt = compile_format(output.format, known, f"{where}.format")
    if isinstance(output.include_columns, list):
        for index, name in enumerate(output.include_columns):
            if name not in known:
                raise PlanError(_unknown(name, known), field=f"{where}.include_columns.{index}")
    layout = record_layout(output, kept, fmt, where)
    if output.record_schema is not None:
        schema = RecordSchema.load(output.record_schema, where=f"{where}.schema")
        problems = schema.static_problems(layout.keys, constants)
        if problems:
            raise PlanError("no record can pass: " + "; ".join(problems), field=f"{where}.schema")


def check_format_sources(
    fmt: FormatConfig, known: set[str], where: str = "output.format", advice: str = "name one with {where}"
) -> None:
    """Every source `fmt` reads (conventional columns included) exists. `advice` (formatted with the
    part's `where` and `role`) says how to name a source when a default column is missing."""
    for part in resolve_parts(fmt, known, where):
        if part.default and part.source.from_ not in known:
            column = part.source.from_
            hint = _unknown(column or "", known).removeprefix("unknown column ")
            raise PlanError(
                f"format '{fmt.type}' needs a source for '{part.role}' and none is named; the default, "
                f"column {hint}, does not exist: " + advice.format(where=part.where, role=part.role),
                field=part.where,
            )
        _check_source(part.source, part.where, known)


def _check_field(spec: OutputField, where: str, known: set[str]) -> None:
    if spec.fields is not None:
        for name, child in spec.fields.items():
            _check_field(child, f"{where}.fields.{name}", known)
        return
    _check_source(spec, where, known)


def _check_source(source: ValueSource, where: str, known: set[str]) -> None:
    if source.from_ is not None:
        head = path_head(source.from_, known)
        if head not in known:
            raise PlanError(_unknown(head, known), field=f"{where}.from")
    elif source.template is not None:
        field = f"{where}.template"
        try:
            refs = template_references(source.template, column="", field=field)
        except PlanError as exc:
            raise PlanError(exc.reason, field=field) from None
        for ref in sorted(refs):
            if ref not in known:
                raise PlanError(_unknown(ref, known), field=field)


def _unknown(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"unknown column '{name}'" + (f" (did you mean '{close[0]}'?)" if close else "")
