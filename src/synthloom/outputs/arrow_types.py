"""One Arrow schema for all the parts of an export.

Row groups are written independently, so their schemas can differ: a column that is all null in one
part has Arrow's null type; a column of mixed scalars is JSON text in one part and native in another.
A single output file needs one schema, so every exporter that writes Arrow agrees on one first.

Two encodings:

- **stored** (`unify_stored`, `conform`): the run's own — nested values as JSON text marked
  `synthloom.json`. Used for parquet exports; a column whose parts disagree beyond Arrow's type
  promotion (int and double promote; int and string do not) becomes JSON text.
- **native** (`native_schema`, `to_native`): nested values as Arrow lists and structs, as Hugging Face
  `datasets` and trainers want them (`messages: list<struct<role, content>>`). Types are inferred over
  every part (a first pass), so a struct field seen in only some records is a nullable field of one
  struct. A column whose values cannot share one Arrow type (a number here, text there) stays JSON text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from synthloom.store.table_codec import JSON_FIELD_KEY, dumps_json, is_json_field, loads_json

__all__ = ["conform", "native_schema", "to_native", "unify_stored"]

_JSON_META = {JSON_FIELD_KEY: b"1"}


def _json_field(name: str) -> pa.Field:
    return pa.field(name, pa.string(), metadata=_JSON_META)


def _promote(types: list[pa.DataType]) -> pa.DataType | None:
    """One type for all of `types`, or None when Arrow cannot promote them to one."""
    concrete = [t for t in types if t != pa.null()]
    if not concrete:
        return pa.null()
    first = concrete[0]
    if all(t == first for t in concrete):
        return first
    try:
        schema = pa.unify_schemas(
            [pa.schema([pa.field("x", t)]) for t in concrete], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
        return None
    return schema.field("x").type


def unify_stored(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """The stored-encoding schema every part can be conformed to, columns in first-seen order."""
    seen: dict[str, list[pa.Field]] = {}
    for schema in schemas:
        for f in schema:
            seen.setdefault(f.name, []).append(f)
    fields = []
    for name, variants in seen.items():
        if any(is_json_field(f) for f in variants):
            fields.append(_json_field(name))
            continue
        promoted = _promote([f.type for f in variants])
        fields.append(_json_field(name) if promoted is None else pa.field(name, promoted))
    return pa.schema(fields)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns and types (missing columns as nulls)."""
    arrays = []
    for target in schema:
        if target.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, target.type))
            continue
        column = table.column(target.name)
        source = table.schema.field(target.name)
        if is_json_field(target) and not is_json_field(source) and column.type != pa.null():
            arrays.append(_encode_json(column.to_pylist()))
        elif column.type != target.type:
            arrays.append(column.cast(target.type))
        else:
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


def _encode_json(values: list[Any]) -> pa.Array:
    return pa.array([None if v is None else dumps_json(v) for v in values], type=pa.string())


def _decoded(column: pa.ChunkedArray) -> list[Any]:
    return [None if v is None else loads_json(v) for v in column.to_pylist()]


def native_schema(tables: Iterable[pa.Table]) -> pa.Schema:
    """The native-encoding schema of all `tables` (stored encoding), inferred over every value."""
    types: dict[str, list[pa.DataType]] = {}
    stays_json: set[str] = set()
    for table in tables:
        for f in table.schema:
            bucket = types.setdefault(f.name, [])
            if f.name in stays_json:
                continue
            if not is_json_field(f):
                bucket.append(f.type)
                continue
            try:
                bucket.append(pa.array(_decoded(table.column(f.name))).type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                stays_json.add(f.name)
    fields = []
    for name, found in types.items():
        promoted = None if name in stays_json else _promote(found)
        fields.append(_json_field(name) if promoted is None else pa.field(name, promoted))
    return pa.schema(fields)


def to_native(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` (stored encoding) in `schema` (native encoding)."""
    arrays = []
    for target in schema:
        if target.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, target.type))
            continue
        column = table.column(target.name)
        source = table.schema.field(target.name)
        if is_json_field(target):
            if is_json_field(source):
                arrays.append(column)
            else:
                arrays.append(_encode_json(column.to_pylist()))
        elif is_json_field(source):
            arrays.append(pa.array(_decoded(column), type=target.type))
        elif column.type != target.type:
            arrays.append(column.cast(target.type))
        else:
            arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)
