"""Turn a validated config into a plan: every column's dependencies, in an order that respects them.

Everything that can be known before a request is sent is checked here, and reported as a `PlanError`
naming the file, the column and the field: template syntax, unknown references (with the closest
name), unknown model aliases, cycles (with the columns on the cycle), unresolvable import paths.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from synthloom.config.base import ColumnConfig
from synthloom.config.dataset import DatasetConfig
from synthloom.errors import PlanError

from .templates import template_references

__all__ = ["ColumnPlan", "Plan", "build_plan", "import_object"]


@dataclass(frozen=True)
class ColumnPlan:
    """One column with what it reads."""

    config: ColumnConfig
    #: Columns (not seed fields) this column's value or `when` reads.
    depends_on: frozenset[str]
    #: Seed fields it reads.
    reads_seed: frozenset[str]

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class Plan:
    """Columns in dependency order, plus what the output holds."""

    columns: tuple[ColumnPlan, ...]
    seed_columns: tuple[str, ...]
    dependants: dict[str, frozenset[str]] = field(default_factory=dict)

    def column(self, name: str) -> ColumnPlan:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def output_columns(self) -> list[str]:
        """Seed fields, then every kept column and its side columns, in declaration order."""
        out = list(self.seed_columns)
        for col in self.columns:
            if not col.config.drop:
                out.append(col.name)
                out.extend(col.config.side_columns())
        return out

    @property
    def model_aliases(self) -> set[str]:
        return {alias for col in self.columns for alias in col.config.model_aliases().values()}


def build_plan(config: DatasetConfig, *, seed_columns: Sequence[str] = ()) -> Plan:
    """Check `config` and order its columns. `seed_columns` are the fields of the seed data."""
    try:
        return _build(config, seed_columns)
    except PlanError as exc:
        if exc.line is None:
            exc.line = config.line_of(exc.column, exc.field)
        raise exc.with_source(config.source) from None


def _build(config: DatasetConfig, seed_columns: Sequence[str]) -> Plan:
    names = [c.name for c in config.columns]
    seed = set(seed_columns)
    for col in config.columns:
        if col.name in seed:
            raise PlanError(
                "has the same name as a field of the seed data; rename one", column=col.name, field="name"
            )
    known = set(names) | seed
    aliases = {m.alias for m in config.models}
    side_owner = {side: col.name for col in config.columns for side in col.side_columns()}

    planned: dict[str, ColumnPlan] = {}
    for col in config.columns:
        refs: set[str] = set()
        for field_name, source in col.templates().items():
            found = template_references(source, column=col.name, field=field_name)
            for ref in sorted(found):
                if ref not in known and ref not in side_owner:
                    raise PlanError(_unknown("column", ref, known), column=col.name, field=field_name)
            refs |= found
        for field_name, targets in col.referenced_columns().items():
            for ref in targets:
                if ref not in known and ref not in side_owner:
                    raise PlanError(_unknown("column", ref, known), column=col.name, field=field_name)
            refs |= set(targets)
        for field_name, alias in col.model_aliases().items():
            if alias not in aliases:
                hint = _unknown("model alias", alias, aliases)
                if not aliases:
                    hint += "; the config declares no models (add a 'models' list)"
                raise PlanError(hint, column=col.name, field=field_name)
        _check_import_paths(col)
        refs = {side_owner.get(r, r) for r in refs}
        planned[col.name] = ColumnPlan(
            config=col,
            depends_on=frozenset(refs - seed),
            reads_seed=frozenset(refs & seed),
        )

    order = _topological_order(planned)
    dependants: dict[str, set[str]] = {name: set() for name in planned}
    for col in planned.values():
        for dep in col.depends_on:
            dependants[dep].add(col.name)
    return Plan(
        columns=tuple(planned[n] for n in order),
        seed_columns=tuple(seed_columns),
        dependants={k: frozenset(v) for k, v in dependants.items()},
    )


def _topological_order(planned: dict[str, ColumnPlan]) -> list[str]:
    """Declaration order where possible (stable), dependencies first. Raises on a cycle."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            where = planned[name]
            raise PlanError(
                "dependency cycle: " + " -> ".join(cycle),
                column=where.name,
                field=_field_reading(where.config, cycle[1]) if len(cycle) > 1 else None,
            )
        state[name] = 1
        path.append(name)
        for dep in sorted(planned[name].depends_on, key=list(planned).index):
            visit(dep)
        path.pop()
        state[name] = 2
        order.append(name)

    for name in planned:
        visit(name)
    return order


def _field_reading(col: ColumnConfig, ref: str) -> str | None:
    for field_name, source in col.templates().items():
        if ref in template_references(source, column=col.name, field=field_name):
            return field_name
    for field_name, targets in col.referenced_columns().items():
        if ref in targets:
            return field_name
    return None


def _unknown(kind: str, name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}"


def _check_import_paths(col: ColumnConfig) -> None:
    for field_name in ("function", "output_schema"):
        value = getattr(col, field_name, None)
        if isinstance(value, str):
            try:
                import_object(value)
            except (ImportError, AttributeError, ValueError) as exc:
                alias = "schema" if field_name == "output_schema" else field_name
                raise PlanError(f"cannot import '{value}': {exc}", column=col.name, field=alias) from None


def import_object(path: str) -> object:
    """Import `package.module:name` (or `package.module.name`)."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError("expected 'package.module:name'")
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
