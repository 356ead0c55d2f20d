"""Python values <-> Arrow tables.

Scalars, datetimes and numeric vectors (embeddings) are stored natively. So are binary values
(images, audio): `bytes` as Arrow binary, lists of them as a list of binary, and Hugging Face
Image/Audio feature dicts (`{"bytes": ..., "path": ...}`) as `struct<bytes: binary, path: string>`,
the type `datasets` itself uses, so they read back as the same Python values. Dicts and lists of any
other shape (structured replies, judge results, persons, traces) are stored as JSON text and the
field is marked with `synthloom.json` metadata: their shape may differ from row group to row group,
and a parquet dataset whose files disagree on a struct's fields cannot be read as one table. Bytes
inside such a value (an image in a list of mixed values, in an output template's object) are kept as
`{"$bytes": "<base64>"}` in the text and read back as bytes (`dumps_json` / `loads_json`), never as
their Python repr.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from numbers import Real
from typing import Any

import orjson
import pyarrow as pa

__all__ = ["JSON_FIELD_KEY", "decode_rows", "dumps_json", "is_json_field", "loads_json", "to_arrow_table"]

JSON_FIELD_KEY = b"synthloom.json"


def _is_vector(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(x, Real) and not isinstance(x, bool) for x in value)
    )


_BYTES = (bytes, bytearray, memoryview)
#: How `datasets` stores an Image or Audio feature.
MEDIA_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def _is_media_dict(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and value.keys() <= {"bytes", "path"}
        and isinstance(value.get("bytes"), (*_BYTES, type(None)))
        and isinstance(value.get("path"), str | None)
    )


def _binary_array(values: Sequence[Any]) -> pa.Array | None:
    """Binary values as Arrow binary (or list of binary, or the media struct); None for other data."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, _BYTES) for v in present):
        return pa.array([None if v is None else bytes(v) for v in values], type=pa.binary())
    if all(isinstance(v, list | tuple) and v and all(isinstance(x, _BYTES) for x in v) for v in present):
        return pa.array(
            [None if v is None else [bytes(x) for x in v] for v in values], type=pa.list_(pa.binary())
        )
    if all(_is_media_dict(v) for v in present):
        rows = [
            None
            if v is None
            else {"bytes": None if v.get("bytes") is None else bytes(v["bytes"]), "path": v.get("path")}
            for v in values
        ]
        return pa.array(rows, type=MEDIA_STRUCT)
    return None


def _column_array(values: Sequence[Any]) -> tuple[pa.Array, bool]:
    """The Arrow array for one column, and whether it holds JSON text."""
    present = [v for v in values if v is not None]
    if present and all(_is_vector(v) for v in present):
        return pa.array(values, type=pa.list_(pa.float32())), False
    if present and isinstance(present[0], (*_BYTES, list, tuple, dict)):
        binary = _binary_array(values)
        if binary is not None:
            return binary, False
    if any(isinstance(v, dict | list | tuple) for v in present):
        return _json_array(values), True
    try:
        return pa.array(values), False
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # Mixed scalar types (a number in one row, text in another): keep every value as JSON.
        return _json_array(values), True


#: The key of the object that stands for bytes inside JSON text.
BYTES_KEY = "$bytes"
_BYTES_MARK = f'"{BYTES_KEY}"'


def _tagged(value: Any) -> Any:
    if isinstance(value, _BYTES):
        return {BYTES_KEY: base64.b64encode(bytes(value)).decode()}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def dumps_json(value: Any) -> str:
    """`value` as JSON text, bytes anywhere in it as `{"$bytes": base64}`."""
    return orjson.dumps(value, default=_tagged, option=orjson.OPT_NON_STR_KEYS).decode()


def loads_json(text: str | bytes) -> Any:
    """JSON text written by `dumps_json`, bytes restored."""
    value = orjson.loads(text)
    marked = _BYTES_MARK in text if isinstance(text, str) else _BYTES_MARK.encode() in text
    return _restored(value) if marked else value


def _restored(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(BYTES_KEY), str):
            return base64.b64decode(value[BYTES_KEY])
        return {k: _restored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restored(v) for v in value]
    return value


def _json_array(values: Sequence[Any]) -> pa.Array:
    return pa.array([None if v is None else dumps_json(v) for v in values], type=pa.string())


def to_arrow_table(columns: Mapping[str, Sequence[Any]], names: Sequence[str]) -> pa.Table:
    """A table of `names` (in that order) from columnar Python values."""
    arrays = []
    fields = []
    for name in names:
        array, is_json = _column_array(columns[name])
        arrays.append(array)
        fields.append(pa.field(name, array.type, metadata={JSON_FIELD_KEY: b"1"} if is_json else None))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def is_json_field(field: pa.Field) -> bool:
    return bool(field.metadata and field.metadata.get(JSON_FIELD_KEY))


def decode_rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    """Rows as dicts, JSON columns parsed back into Python values."""
    json_columns = [f.name for f in table.schema if is_json_field(f)]
    for batch in table.to_batches(max_chunksize=4096):
        for row in batch.to_pylist():
            for name in json_columns:
                value = row.get(name)
                if value is not None:
                    row[name] = loads_json(value)
            yield row
