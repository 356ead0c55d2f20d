"""Turn a validated config into a plan: every column's dependencies, in an order that respects them.

Everything that can be known before a request is sent is checked here, and reported as a `PlanError`
naming the file, the column and the field: template syntax, unknown references (with the closest
name), unknown model aliases, cycles (with the columns on the cycle), import paths that cannot be
imported or name the wrong kind of object.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from synthloom.config.base import ColumnConfig, ImportPath, ValueShape
from synthloom.config.dataset import DatasetConfig
from synthloom.errors import PlanError

from .templates import is_plain_text, key_reads, literal_placeholders, template_references

__all__ = ["ColumnPlan", "Plan", "add_import_dir", "build_plan", "import_object", "import_problem"]


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
            else:
                out.extend(col.config.kept_when_dropped())
        return out

    @property
    def row_columns(self) -> list[str]:
        """Everything a generated row holds: seed fields, every column (dropped ones included) and
        their side columns."""
        out = list(self.seed_columns)
        for col in self.columns:
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
            # Inside a flow, the line of the flow's `nodes` (a node's own fields are not indexed by name).
            exc.line = config.line_of(exc.column, "nodes" if exc.node else exc.field)
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

    by_name = {col.name: col for col in config.columns}
    shapes = {col.name: col.value_shape() for col in config.columns}
    planned: dict[str, ColumnPlan] = {}
    for col in config.columns:
        scope = _Scope(col.name, known, set(side_owner), aliases, base_dir=config.source_dir, shapes=shapes)
        refs = _reads(col, scope)
        try:
            col.check_with(by_name)
        except PlanError as exc:
            raise scope.error(exc.reason, exc.field) from None
        refs = {side_owner.get(r, r) for r in refs}
        planned[col.name] = ColumnPlan(
            config=col,
            depends_on=frozenset(refs - seed),
            reads_seed=frozenset(refs & seed),
        )

    order = _topological_order(planned, known | set(side_owner))
    dependants: dict[str, set[str]] = {name: set() for name in planned}
    for column_plan in planned.values():
        for dep in column_plan.depends_on:
            dependants[dep].add(column_plan.name)
    return Plan(
        columns=tuple(planned[n] for n in order),
        seed_columns=tuple(seed_columns),
        dependants={k: frozenset(v) for k, v in dependants.items()},
    )


@dataclass(frozen=True)
class _Scope:
    """Where a column (or a node nested in one) is checked: the names it may read from outside."""

    column: str
    known: set[str]  # columns and seed fields
    sides: set[str]  # side columns
    aliases: set[str]
    #: Names bound by the columns it is nested in (a flow's state keys), and its node path.
    inside: frozenset[str] = frozenset()
    node: str | None = None
    #: The config file's folder: import paths resolve there first.
    base_dir: Path | None = None
    #: Each column's value shape (`ColumnConfig.value_shape`), for `{{ column.key }}` checks.
    shapes: Mapping[str, ValueShape | None] = field(default_factory=dict)

    def error(self, message: str, field: str | None) -> PlanError:
        return PlanError(message, column=self.column, node=self.node, field=field)

    def unknown(self, name: str, field: str, bound: frozenset[str]) -> PlanError:
        if not bound:
            return self.error(_unknown("column", name, self.known), field)
        hint = _unknown("name", name, self.known | bound)
        return self.error(f"{hint}: not a column, a seed field or a state key of the flow", field)


def _reads(col: ColumnConfig, scope: _Scope) -> set[str]:
    """Check `col` (a column, or a node nested in `scope.column`) and return the columns, side columns
    and seed fields it reads, its nested columns' included."""
    try:
        col.check_structure()
    except PlanError as exc:
        node = f"{scope.node}.{exc.node}" if scope.node and exc.node else scope.node or exc.node
        raise PlanError(exc.reason, column=scope.column, node=node, field=exc.field) from None
    bound = scope.inside | frozenset(col.internal_names())
    reads: set[str] = set()
    # Nested columns first: their errors name the node, and a flow's model aliases include theirs.
    for name, nested in col.nested_columns().items():
        node = f"{scope.node}.{name}" if scope.node else name
        reads |= _reads(nested, replace(scope, inside=bound, node=node))

    def read(ref: str, field_name: str) -> None:
        if ref in bound:
            # A flow's state key may take the flow's own name: the flow cannot read its own column.
            if ref in scope.known and ref != scope.column:
                raise scope.error(
                    f"'{ref}' is both a state key of the flow and a column or seed field; rename one",
                    field_name,
                )
            return
        if ref not in scope.known and ref not in scope.sides:
            raise scope.unknown(ref, field_name, bound)
        reads.add(ref)

    for field_name, source in col.templates().items():
        try:
            found = template_references(
                source, column=scope.column, field=field_name, columns=scope.known | scope.sides | bound
            )
        except PlanError as exc:
            raise scope.error(exc.reason, field_name) from None
        for ref in sorted(found):
            read(ref, field_name)
        _check_literal_placeholders(source, field_name, scope, bound)
        _check_key_reads(source, field_name, scope, bound)
    for field_name, targets in col.referenced_columns().items():
        for ref in targets:
            read(ref, field_name)
    for field_name, alias in col.model_aliases().items():
        if alias not in scope.aliases:
            hint = _unknown("model alias", alias, scope.aliases)
            if not scope.aliases:
                hint += "; the config declares no models (add a 'models' list)"
            raise scope.error(hint, field_name)
    _check_when(col, scope)
    _check_import_paths(col, scope)
    return reads


def _check_literal_placeholders(source: str, field_name: str, scope: _Scope, bound: frozenset[str]) -> None:
    readable = scope.known | scope.sides | bound
    for name in literal_placeholders(source):
        if name in readable:
            raise scope.error(
                f"'{{{name}}}' is sent as literal text (single braces are not a placeholder here): "
                f"write '{{{{ {name} }}}}' to insert the value of '{name}'",
                field_name,
            )


def _check_key_reads(source: str, field_name: str, scope: _Scope, bound: frozenset[str]) -> None:
    for name, keys in key_reads(source):
        if name in bound:
            continue
        shape = scope.shapes.get(name)
        walked: list[str] = [name]
        for key, as_attribute in keys:
            if shape is None:
                break
            if key not in shape:
                close = difflib.get_close_matches(key, list(shape), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "it has " + ", ".join(shape)
                written = ".".join([*walked, key])
                raise scope.error(
                    f"'{{{{ {written} }}}}' reads key '{key}', which the value of "
                    f"'{'.'.join(walked)}' does not have ({hint}): it would render as an empty string",
                    field_name,
                )
            if as_attribute and hasattr(dict, key):
                # `grade.clear` is the mapping's own `clear` method, not the key: Jinja finds methods first.
                raise scope.error(
                    f"'{{{{ {'.'.join([*walked, key])} }}}}' reads the mapping method '{key}', not the key "
                    f"'{key}': write {'.'.join(walked)}['{key}']",
                    field_name,
                )
            walked.append(key)
            shape = shape[key]


def _topological_order(planned: dict[str, ColumnPlan], readable: set[str]) -> list[str]:
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
                field=_field_reading(where.config, cycle[1], readable) if len(cycle) > 1 else None,
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


def _field_reading(col: ColumnConfig, ref: str, readable: set[str]) -> str | None:
    for field_name, source in col.templates().items():
        if ref in template_references(source, column=col.name, field=field_name, columns=readable):
            return field_name
    for field_name, targets in col.referenced_columns().items():
        if ref in targets:
            return field_name
    return None


def _unknown(kind: str, name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{hint}"


#: A `when` written as a constant is allowed only as an explicit on/off switch.
_CONSTANT_WHEN = frozenset({"true", "false", "yes", "no", "1", "0", "none", "null"})


def _check_when(col: ColumnConfig, scope: _Scope) -> None:
    when = col.when
    if when is not None and is_plain_text(when) and when.strip().lower() not in _CONSTANT_WHEN:
        raise scope.error(
            f"'when' is plain text ({when!r}), so it is not evaluated: write a Jinja condition such as "
            f"'{{{{ {when.strip() or 'x > 5'} }}}}'",
            "when",
        )


_KIND_NAMES = {"callable": "a callable (a function or a class)", "pydantic-model": "a Pydantic model class"}


def _check_import_paths(col: ColumnConfig, scope: _Scope) -> None:
    for field_name, ref in col.import_paths().items():
        problem = import_problem(ref, base_dir=scope.base_dir)
        if problem:
            raise scope.error(problem, field_name)


def import_problem(ref: ImportPath, *, base_dir: Path | None = None) -> str | None:
    """Why `ref` cannot be used (it does not import, or names the wrong kind of object), or None."""
    try:
        obj = import_object(ref.path, base_dir=base_dir)
    except ModuleNotFoundError as exc:
        module = ref.path.partition(":")[0] if ":" in ref.path else ref.path.rpartition(".")[0]
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            where = "next to the config file, " if base_dir else ""
            return (
                f"cannot import '{ref.path}': No module named '{exc.name}' "
                f"(put it {where}in an installed package or on PYTHONPATH)"
            )
        return f"cannot import '{ref.path}': importing it raised ModuleNotFoundError: {exc}"
    except AttributeError as exc:
        return f"cannot import '{ref.path}': {exc}"
    except ValueError as exc:
        return f"cannot import '{ref.path}': {exc}"
    except Exception as exc:  # the user's module raised while importing: that is theirs to fix
        return f"cannot import '{ref.path}': importing it raised {type(exc).__name__}: {exc}"
    if not _is_kind(obj, ref.kind):
        what = type(obj).__name__ if not isinstance(obj, type) else f"the class {obj.__name__}"
        return f"'{ref.path}' is {_article(what)}, not {_KIND_NAMES[ref.kind]}"
    return None


def _is_kind(obj: object, kind: str) -> bool:
    if kind == "callable":
        return callable(obj)
    from pydantic import BaseModel

    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _article(what: str) -> str:
    return what if what.startswith("the ") else ("an " if what[:1] in "aeiouAEIOU" else "a ") + what


def import_object(path: str, *, base_dir: str | Path | None = None) -> object:
    """Import `package.module:name` (or `package.module.name`).

    `base_dir` (the folder of the config file the path comes from) goes first on `sys.path`, once,
    and stays there, as a script's folder does for `python script.py`: a helper module next to the
    config imports without PYTHONPATH, the module is imported once per process, and its functions
    pickle by reference (a process or Ray worker needs the same folder on its path)."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError("expected 'package.module:name'")
    if base_dir is not None:
        add_import_dir(base_dir)
    module = importlib.import_module(module_name)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def add_import_dir(folder: str | Path) -> None:
    """Put `folder` first on `sys.path` unless it is already there."""
    entry = str(Path(folder).resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)
        importlib.invalidate_caches()
