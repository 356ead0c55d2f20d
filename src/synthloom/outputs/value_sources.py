"""One value of the final record, computed from a row: `from` a column path, a constant `value`, a
Jinja `template` (cast to `dtype`), or nested `fields`.

Compiled once per config; each compiled source is a plain function of the row, so shaping a row group
is a loop of dict lookups and template renders. A problem with one row is an exception carrying the
field's location: `RecordFiltered` (the row has no value where one is required: it is removed on
purpose) or `RecordFailed` (a template raised or its text does not cast).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jinja2

from synthloom.config.output_config import OutputField, ValueSource
from synthloom.plan.casts import CASTS
from synthloom.plan.templates import compile_template

__all__ = [
    "RecordFailed",
    "RecordFiltered",
    "ValueFn",
    "compile_fields",
    "compile_source",
    "lookup_path",
    "path_head",
]

#: A compiled source: the row in, the value out.
ValueFn = Callable[[Mapping[str, Any]], Any]


class RecordFiltered(Exception):
    """The row cannot make a record on purpose (a required part is missing); `field` says where."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class RecordFailed(Exception):
    """Computing a part of the record failed (template error, a cast); `field` says where."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def path_head(path: str, columns: Mapping[str, Any] | set[str] | frozenset[str]) -> str:
    """The column a `from` path reads: the whole path when it is a column name, else its first part."""
    return path if path in columns else path.split(".", 1)[0]


def lookup_path(row: Mapping[str, Any], path: str, parts: Sequence[str] | None = None) -> Any:
    """`answer.text` is `row["answer"]["text"]`; a numeric part indexes a list (`turns.0.content`).
    Anything missing along the way is None. `parts` is `path.split(".")`, when the caller has it."""
    if path in row:
        return row[path]
    value: Any = row
    for part in parts or path.split("."):
        if isinstance(value, dict | Mapping):  # dict first: the ABC check of Mapping is slow
            value = value.get(part)
        elif isinstance(value, list) and _is_index(part):
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _is_index(part: str) -> bool:
    return part.isdigit() or (part.startswith("-") and part[1:].isdigit())


def compile_source(source: ValueSource, where: str) -> ValueFn:
    """The function computing `source` for a row; `where` (like `output.fields.prompt`) names it in
    errors."""
    if isinstance(source, OutputField) and source.fields is not None:
        return _nested(compile_fields(source.fields, f"{where}.fields"))
    if source.from_ is not None:
        path = source.from_
        if "." not in path:
            return lambda row: row.get(path)
        parts = path.split(".")
        return lambda row: lookup_path(row, path, parts)
    if source.template is not None:
        return _template(source.template, source.dtype or "str", f"{where}.template")
    constant = source.value
    if isinstance(constant, dict | list):
        return lambda row: copy.deepcopy(constant)
    return lambda row: constant


def compile_fields(fields: Mapping[str, OutputField], where: str) -> list[tuple[str, ValueFn]]:
    return [(name, compile_source(spec, f"{where}.{name}")) for name, spec in fields.items()]


def _nested(fields: list[tuple[str, ValueFn]]) -> ValueFn:
    def build(row: Mapping[str, Any]) -> dict[str, Any]:
        return {name: fn(row) for name, fn in fields}

    return build


def _template(source: str, dtype: str, where: str) -> ValueFn:
    template = compile_template(source)
    cast = CASTS[dtype]

    def render(row: Mapping[str, Any]) -> Any:
        try:
            text = template.render(row)
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, KeyError) as exc:
            raise RecordFailed(where, f"template error: {type(exc).__name__}: {exc}") from None
        if cast is None:
            return text
        try:
            return cast(text)
        except ValueError as exc:
            raise RecordFailed(where, f"cannot cast to {dtype}: {exc}") from None

    return render
