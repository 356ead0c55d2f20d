"""Seed transforms: the ordered steps of `seed.transforms`, applied to a source's records in one pass.

    rename: {old: new}           select: [a, b]           drop: [c]
    filter: "{{ score > 3 }}"    skip: {first: N, last: M}
    window: {size: 3, step: 1, join: {text: "\\n"}}       dedup: key | [a, b]
    sort: {by: [a, b], descending: false}                   limit: N

Every step is checked against the fields the steps before it leave, before any record is read: a
field that does not exist, a rename onto a field that does, a filter reading an unknown field is a
`SeedDataError` naming the step (`seed.transforms[2].rename`). Steps then run over small Arrow
tables as they stream by, so a transform never holds more than a window of records (dedup keeps
the keys it has seen).

A `filter` renders its template in synthloom's sandbox for each record (fields as variables, JSON
fields as values) and keeps the record unless the text reads false: '', 'false', '0', 'none', 'no'
or 'null' (case-insensitive), as a column's `when` does.

A `window` turns `size` consecutive records into one, starting a new window every `step` records:
each field either joins its values into text with a separator (`None` values left out; dicts and
lists as JSON) or, with no separator given, becomes the list of its values.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from jinja2.exceptions import SecurityError

from synthloom.config.seed_config import SeedTransform, SortSpec, WindowSpec
from synthloom.errors import PlanError, SeedDataError
from synthloom.plan.templates import compile_template, is_truthy, template_references
from synthloom.seeds.sources import decoded_columns, decoded_rows
from synthloom.store.table_codec import JSON_FIELD_KEY, dumps_json, is_json_field

__all__ = ["Step", "build_steps", "filter_step", "run_steps"]

Chunks = Iterator[pa.Table]


@dataclass
class Step:
    """One checked transform: what it is called in the config, what it leaves, how it runs."""

    name: str
    schema: pa.Schema
    run: Callable[[Chunks], Chunks]
    records_in: int = field(default=0, init=False)
    records_out: int = field(default=0, init=False)


def build_steps(
    transforms: list[SeedTransform], schema: pa.Schema, *, prefix: str, source: str | None
) -> list[Step]:
    """Check every step against the fields before it; `prefix` names the list (`seed.transforms`)."""
    steps = []
    for i, transform in enumerate(transforms):
        name = f"{prefix}[{i}].{transform.kind}"
        builder = _BUILDERS[transform.kind]
        step = builder(getattr(transform, transform.kind), schema, name, source)
        steps.append(step)
        schema = step.schema
    return steps


def filter_step(condition: str, schema: pa.Schema, name: str, source: str | None) -> Step:
    """A step keeping the records for which `condition` renders true (also `seed.where`)."""
    return _filter(condition, schema, name, source)


def run_steps(steps: list[Step], chunks: Chunks) -> Chunks:
    """The records of `chunks` through every step, empty tables left out."""
    for step in steps:
        chunks = _counted(step, chunks)
    return chunks


def _counted(step: Step, chunks: Chunks) -> Chunks:
    def inputs() -> Chunks:
        for chunk in chunks:
            step.records_in += chunk.num_rows
            yield chunk

    for out in step.run(inputs()):
        if out.num_rows:
            step.records_out += out.num_rows
            yield out


def _error(message: str, name: str, source: str | None) -> SeedDataError:
    return SeedDataError(message, source=source, field=name)


def _require(fields: list[str], schema: pa.Schema, name: str, source: str | None) -> None:
    missing = [f for f in fields if f not in schema.names]
    if missing:
        raise _error(
            f"no field {', '.join(repr(f) for f in missing)} in the seed records; "
            f"fields: {', '.join(schema.names) or '(none)'}",
            name,
            source,
        )


# -- the steps ----------------------------------------------------------------------------------------


def _rename(mapping: dict[str, str], schema: pa.Schema, name: str, source: str | None) -> Step:
    _require(list(mapping), schema, name, source)
    targets = list(mapping.values())
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise _error(f"two fields renamed to {', '.join(repr(t) for t in twice)}", name, source)
    kept = [n for n in schema.names if n not in mapping]
    clash = [t for t in targets if t in kept]
    if clash:
        raise _error(
            f"cannot rename onto {', '.join(repr(c) for c in clash)}: a field of that name exists "
            "(drop it first, or choose another name)",
            name,
            source,
        )
    names = [mapping.get(n, n) for n in schema.names]
    out = pa.schema([f.with_name(n) for f, n in zip(schema, names, strict=True)])
    return Step(name, out, lambda chunks: (c.rename_columns(names) for c in chunks))


def _select(fields: list[str], schema: pa.Schema, name: str, source: str | None) -> Step:
    _require(fields, schema, name, source)
    if len(set(fields)) != len(fields):
        raise _error("a field is named twice", name, source)
    out = pa.schema([schema.field(f) for f in fields])
    return Step(name, out, lambda chunks: (c.select(fields) for c in chunks))


def _drop(fields: list[str], schema: pa.Schema, name: str, source: str | None) -> Step:
    _require(fields, schema, name, source)
    kept = [f for f in schema.names if f not in fields]
    if not kept:
        raise _error("drops every field: nothing would be left", name, source)
    return _select(kept, schema, name, source)


def _filter(condition: str, schema: pa.Schema, name: str, source: str | None) -> Step:
    try:
        names = template_references(condition, column="seed", field=name)
        template = compile_template(condition)
    except (PlanError, jinja2.TemplateError) as exc:
        reason = exc.reason if isinstance(exc, PlanError) else str(exc)
        raise _error(reason, name, source) from None
    unknown = sorted(names - set(schema.names))
    if unknown:
        raise _error(
            f"the condition reads {', '.join(repr(u) for u in unknown)}, not a field of the seed records; "
            f"fields: {', '.join(schema.names)}",
            name,
            source,
        )

    def run(chunks: Chunks) -> Chunks:
        seen = 0
        for chunk in chunks:
            keep = np.empty(chunk.num_rows, dtype=bool)
            for i, row in enumerate(decoded_rows(chunk)):
                try:
                    text = template.render(row)
                except (jinja2.TemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
                    raise _error(f"seed record {seen + i}: {exc}", name, source) from None
                keep[i] = is_truthy(text)
            seen += chunk.num_rows
            yield chunk.filter(pa.array(keep))

    return Step(name, schema, run)


def _skip(spec: Any, schema: pa.Schema, name: str, source: str | None) -> Step:
    first, last = spec.first, spec.last

    def run(chunks: Chunks) -> Chunks:
        to_skip = first
        held: deque[pa.Table] = deque()
        held_rows = 0
        for chunk in chunks:
            if to_skip:
                cut = min(to_skip, chunk.num_rows)
                chunk = chunk.slice(cut)
                to_skip -= cut
            if not last:
                yield chunk
                continue
            held.append(chunk)
            held_rows += chunk.num_rows
            # Hold back the last `last` records seen so far; whatever is older is safe to pass on.
            while held and held_rows - held[0].num_rows >= last:
                out = held.popleft()
                held_rows -= out.num_rows
                yield out
            if held and held_rows > last:
                extra = held_rows - last
                yield held[0].slice(0, extra)
                held[0] = held[0].slice(extra)
                held_rows = last

    return Step(name, schema, run)


def _dedup(key: str | list[str], schema: pa.Schema, name: str, source: str | None) -> Step:
    keys = [key] if isinstance(key, str) else key
    _require(keys, schema, name, source)

    def hashable(value: Any) -> Any:
        if isinstance(value, dict | list):
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        return value

    def run(chunks: Chunks) -> Chunks:
        seen: set[Any] = set()
        for chunk in chunks:
            columns = [[hashable(v) for v in chunk.column(k).to_pylist()] for k in keys]
            values = columns[0] if len(keys) == 1 else list(zip(*columns, strict=True))
            keep = np.zeros(chunk.num_rows, dtype=bool)
            for i, value in enumerate(values):
                if value not in seen:
                    seen.add(value)
                    keep[i] = True
            yield chunk.filter(pa.array(keep))

    return Step(name, schema, run)


def _window(spec: WindowSpec, schema: pa.Schema, name: str, source: str | None) -> Step:
    size, step, partial = spec.size, spec.step or spec.size, spec.partial
    if isinstance(spec.join, dict):
        _require(list(spec.join), schema, f"{name}.join", source)
        joins: dict[str, str] = dict(spec.join)
    elif spec.join is not None:
        joins = dict.fromkeys(schema.names, spec.join)
    else:
        joins = {}
    fields = []
    for f in schema:
        if f.name in joins:
            fields.append(pa.field(f.name, pa.string()))
        elif is_json_field(f):
            fields.append(pa.field(f.name, pa.string(), metadata={JSON_FIELD_KEY: b"1"}))
        else:
            fields.append(pa.field(f.name, pa.list_(f.type)))
    out_schema = pa.schema(fields)

    def combine(buffer: pa.Table, starts: list[int]) -> pa.Table:
        ranges = [np.arange(s, min(s + size, buffer.num_rows), dtype=np.int64) for s in starts]
        offsets = np.zeros(len(ranges) + 1, dtype=np.int32)
        offsets[1:] = np.cumsum([r.size for r in ranges])
        flat = buffer.take(pa.array(np.concatenate(ranges), type=pa.int64()))
        values = decoded_columns(flat) if (joins or any(is_json_field(f) for f in schema)) else {}
        arrays = []
        for f, out in zip(schema, out_schema, strict=True):
            if f.name in joins:
                vals = values[f.name]
                sep = joins[f.name]
                text = [_join(vals[a:b], sep) for a, b in itertools.pairwise(offsets.tolist())]
                arrays.append(pa.array(text, type=pa.string()))
            elif is_json_field(f):
                vals = values[f.name]
                text = [dumps_json(vals[a:b]) for a, b in itertools.pairwise(offsets.tolist())]
                arrays.append(pa.array(text, type=pa.string()))
            else:
                column = flat.column(f.name).combine_chunks()
                arrays.append(pa.ListArray.from_arrays(pa.array(offsets), column, type=out.type))
        return pa.Table.from_arrays(arrays, schema=out_schema)

    def run(chunks: Chunks) -> Chunks:
        buffer = schema.empty_table()
        next_start = 0  # of the next window, counted from the buffer's first record
        for chunk in chunks:
            buffer = pa.concat_tables([buffer, chunk]) if buffer.num_rows else chunk
            starts = list(range(next_start, buffer.num_rows - size + 1, step))
            if starts:
                yield combine(buffer, starts)
                next_start = starts[-1] + step
            drop = min(next_start, buffer.num_rows)
            buffer = buffer.slice(drop)
            next_start -= drop
        if partial:
            starts = list(range(next_start, buffer.num_rows, step))
            if starts:
                yield combine(buffer, starts)

    return Step(name, out_schema, run)


def _join(values: list[Any], sep: str) -> str:
    parts = []
    for v in values:
        if v is None:
            continue
        parts.append(orjson.dumps(v, default=str).decode() if isinstance(v, dict | list) else str(v))
    return sep.join(parts)


def _sort(spec: SortSpec, schema: pa.Schema, name: str, source: str | None) -> Step:
    fields = spec.fields
    _require(fields, schema, name, source)
    unsortable = [
        f for f in fields if is_json_field(schema.field(f)) or pa.types.is_nested(schema.field(f).type)
    ]
    if unsortable:
        raise _error(
            f"cannot sort by {', '.join(repr(f) for f in unsortable)}: a list or object field", name, source
        )
    order = "descending" if spec.descending else "ascending"

    def run(chunks: Chunks) -> Chunks:
        tables = list(chunks)
        if not tables:
            return
        table = pa.concat_tables(tables)
        # A stable sort: records with equal keys keep the source's order.
        indices = pc.sort_indices(table, sort_keys=[(f, order, "at_end") for f in fields])
        yield table.take(indices)

    return Step(name, schema, run)


def _limit(count: int, schema: pa.Schema, name: str, source: str | None) -> Step:
    def run(chunks: Chunks) -> Chunks:
        left = count
        for chunk in chunks:
            if chunk.num_rows >= left:
                yield chunk.slice(0, left)
                return  # the records past the limit are never read
            left -= chunk.num_rows
            yield chunk

    return Step(name, schema, run)


_BUILDERS: dict[str, Callable[[Any, pa.Schema, str, str | None], Step]] = {
    "rename": _rename,
    "select": _select,
    "drop": _drop,
    "filter": _filter,
    "skip": _skip,
    "window": _window,
    "dedup": _dedup,
    "sort": _sort,
    "limit": _limit,
}
