"""Several seed sources as one record:

    seed:
      combine: join            # join | left_join | zip | cross | sample
      key: doc_id              # join and left_join: the field(s) to match on
      sources:
        - {path: questions.jsonl}
        - {path: documents.parquet, transforms: [{rename: {id: doc_id}}]}

- `join`: one record per pair of records, one from each source, with equal keys (an inner join, taken
  left to right: the first source with the second, the result with the third...). Records keep the
  first source's order, and matches the later source's order.
- `left_join`: as `join`, but a record of the first source with no match is kept, its other fields null.
- `zip`: record i of every source side by side; as many records as the shortest source has.
- `cross`: every combination (first source slowest): `n1 * n2 * ...` records, computed on demand,
  never materialised.
- `sample`: for each generated record, every source is sampled on its own with its own `sampling`
  (a shuffled list of personas with a cycling list of topics, say).

Fields must not clash: a field in two sources (other than a join key) is an error naming both; rename
it in one of them with a `rename` transform.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from synthloom.errors import SeedDataError
from synthloom.seeds.sources import IndexedSource, TableSource, hstack

__all__ = ["CrossSource", "ZipSource", "check_distinct_fields", "join_sources"]


def check_distinct_fields(schemas: Sequence[pa.Schema], *, prefix: str, except_: Sequence[str] = ()) -> None:
    """Refuse a field that two sources both have (join keys aside)."""
    owner: dict[str, int] = {}
    for i, schema in enumerate(schemas):
        for name in schema.names:
            if name in except_:
                continue
            if name in owner:
                raise SeedDataError(
                    f"field '{name}' is in both {prefix}.sources[{owner[name]}] and {prefix}.sources[{i}]: "
                    "rename it in one of them (transforms: [{rename: {" + name + ": other_name}}])",
                    field=f"{prefix}.sources[{i}]",
                )
            owner[name] = i


class ZipSource(IndexedSource):
    """Record i of every part, side by side."""

    def __init__(self, parts: Sequence[IndexedSource]) -> None:
        self.parts = list(parts)
        self.num_rows = min(p.num_rows for p in self.parts)
        self.schema = pa.schema([f for p in self.parts for f in p.schema])
        self.lazy = any(p.lazy for p in self.parts)
        self.row_bytes = sum(p.row_bytes for p in self.parts)

    def take(self, indices: np.ndarray) -> pa.Table:
        return hstack([p.take(indices) for p in self.parts])

    def slice(self, start: int, length: int) -> pa.Table:
        return hstack([p.slice(start, length) for p in self.parts])

    def close(self) -> None:
        for p in self.parts:
            p.close()


class CrossSource(IndexedSource):
    """Every combination of two parts' records: record i is (first[i // n2], second[i % n2])."""

    def __init__(self, first: IndexedSource, second: IndexedSource) -> None:
        self.first, self.second = first, second
        self.num_rows = first.num_rows * second.num_rows
        self.schema = pa.schema([*first.schema, *second.schema])
        self.lazy = first.lazy or second.lazy
        self.row_bytes = first.row_bytes + second.row_bytes

    def take(self, indices: np.ndarray) -> pa.Table:
        outer, inner = np.divmod(np.asarray(indices, dtype=np.int64), self.second.num_rows)
        return hstack([self.first.take(outer), self.second.take(inner)])

    def close(self) -> None:
        self.first.close()
        self.second.close()


def join_sources(
    parts: Sequence[IndexedSource], keys: list[str], *, left: bool, prefix: str
) -> IndexedSource:
    """The records of `parts` joined on `keys`, left to right (every part read into memory)."""
    for i, part in enumerate(parts):
        missing = [k for k in keys if k not in part.schema.names]
        if missing:
            raise SeedDataError(
                f"join key {', '.join(repr(k) for k in missing)} is not a field of {prefix}.sources[{i}]; "
                f"its fields: {', '.join(part.schema.names)}",
                field=f"{prefix}.key",
            )
    check_distinct_fields([p.schema for p in parts], prefix=prefix, except_=keys)
    result = _read_all(parts[0])
    for part in parts[1:]:
        result = _join_two(result, _read_all(part), keys, left=left)
    if result.num_rows == 0:
        raise SeedDataError(
            f"no records match on {', '.join(keys)}: the join is empty", field=f"{prefix}.key"
        )
    return TableSource(result)


def _read_all(source: IndexedSource) -> pa.Table:
    tables = list(source.batches())
    source.close()
    return pa.concat_tables(tables) if tables else source.schema.empty_table()


def _key_values(table: pa.Table, keys: list[str]) -> list[Any]:
    columns = [table.column(k).to_pylist() for k in keys]

    def hashable(v: Any) -> Any:
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS) if isinstance(v, dict | list) else v

    if len(keys) == 1:
        return [hashable(v) for v in columns[0]]
    return [tuple(hashable(v) for v in row) for row in zip(*columns, strict=True)]


def _join_two(left_table: pa.Table, right_table: pa.Table, keys: list[str], *, left: bool) -> pa.Table:
    # A hash join by hand: Arrow's own does not keep the left order and refuses some payload types.
    matches: dict[Any, list[int]] = {}
    for j, key in enumerate(_key_values(right_table, keys)):
        if key is not None and not (isinstance(key, tuple) and None in key):
            matches.setdefault(key, []).append(j)
    left_rows: list[int] = []
    right_rows: list[int | None] = []
    for i, key in enumerate(_key_values(left_table, keys)):
        found = matches.get(key)
        if found:
            left_rows.extend([i] * len(found))
            right_rows.extend(found)
        elif left:
            left_rows.append(i)
            right_rows.append(None)
    payload = right_table.drop_columns(keys)
    return hstack(
        [
            left_table.take(pa.array(left_rows, type=pa.int64())),
            payload.take(pa.array(right_rows, type=pa.int64())),
        ]
    )
