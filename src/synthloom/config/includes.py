"""Sub-pipelines: `include:` entries in a config's `columns`, expanded into plain columns when the config
is loaded, before it is validated.

    columns:
      - name: seed_instruction
        type: sampler
        ...
      - recipe: evol-instruct              # from synthloom's recipe library; or include: pipelines/qa.yaml
        prefix: evo                        # every name it declares becomes evo_<name>; references follow
        params: {instruction: seed_instruction, model: writer}
        overrides:                         # per column or flow node (`column.node` when ambiguous)
          rewrite: {model: big, inference: {temperature: 1.0}}
          critique: {name: review}         # rename a column or node (references follow)
          polish: null                     # remove one

An included file (a path is relative to the file that includes it) is YAML or JSON:

    description: What it makes, and what its columns are.
    params:                                # every parameter it reads, declared
      instruction: {description: the column holding the instruction}        # required
      rounds: {description: evolution rounds, default: 2}
      judge_model: {default: "${model}"}   # a default may be another parameter's value
    columns: [...]                         # any columns, `include:` entries too

`${name}` in a string of `columns` is the parameter's value (`synthloom.config.include_params`; in a
YAML flow mapping quote it: `{min: "${min_score}"}`). Then, in this order: the file's own includes are
expanded, `overrides` are merged into the columns and nodes they name (mappings merged key by key,
anything else replaced; `name: new` renames a column or node, its references following; `null` removes
it), and `prefix` renames (`synthloom.config.name_prefix`).

Every mistake is a `ConfigError` naming the file and line where it is written: an include or recipe that
does not exist, an unknown parameter or a missing one, an override naming no column or node, a name that
collides with a column of the including config. Errors found later in included columns (validation,
planning) name the including file's line of the `include:` entry and the included file's own line:
``config.yaml:12 (pipelines/qa.yaml:7), column 'qa_answer', field 'prompt': ...``.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from synthloom.config.base import COLUMN_NAME_PATTERN
from synthloom.config.include_params import Param, declarations, default_values, substitute_columns
from synthloom.config.name_prefix import declared_names, prefix_names, rename_names
from synthloom.config.recipe_library import RECIPES_DIR, recipe_path, unknown_recipe_message
from synthloom.errors import ConfigError

__all__ = ["ENTRY_FIELDS", "IncludedLine", "expand_includes", "is_include_entry"]

Loc = tuple[str | int, ...]
Lines = dict[Loc, int]

#: The fields of an include entry.
ENTRY_FIELDS = ("include", "recipe", "prefix", "params", "overrides")
#: The top-level fields of an included file (besides `x-...` keys, ignored as in a config).
FILE_FIELDS = ("description", "params", "columns")


class IncludedLine(int):
    """A line of the including config (the `include:` entry, which is what the number is) that also
    knows the file and line its content comes from; it prints as both: `12 (pipelines/qa.yaml:7)`.
    Error messages that print a line therefore point into the included file."""

    file: str
    inner: int

    def __new__(cls, outer: int, file: str, inner: int) -> IncludedLine:
        line = super().__new__(cls, outer)
        line.file = file
        line.inner = inner
        return line

    def __getnewargs__(self) -> tuple[int, str, int]:  # type: ignore[override]
        return int(self), self.file, self.inner

    def __str__(self) -> str:
        return f"{int(self)} ({self.file}:{self.inner})"

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else format(int(self), spec)

    def __repr__(self) -> str:
        return f"IncludedLine({int(self)}, {self.file!r}, {self.inner})"


def is_include_entry(item: Any) -> bool:
    """Whether an entry of `columns` includes a file or a recipe rather than declaring a column."""
    return isinstance(item, Mapping) and ("include" in item or "recipe" in item)


def expand_includes(
    data: Mapping[str, Any], lines: Mapping[Loc, int], *, source: str, base_dir: Path | None = None
) -> tuple[dict[str, Any], Lines]:
    """`data` (a config as plain data) with its include entries replaced by the columns they bring,
    and the line of every key path of the result (`lines` holds the config file's own)."""
    columns = data.get("columns")
    if not isinstance(columns, list) or not any(is_include_entry(c) for c in columns):
        return dict(data), dict(lines)
    expanded, column_lines = _expand_columns(columns, lines, source, base_dir or Path.cwd(), ())
    out_lines = {loc: line for loc, line in lines.items() if loc[:1] != ("columns",) or len(loc) == 1}
    out_lines.update({("columns", *loc): line for loc, line in column_lines.items()})
    return {**data, "columns": expanded}, out_lines


# ---- one list of columns --------------------------------------------------------------------------------
def _expand_columns(
    columns: list[Any], lines: Mapping[Loc, int], source: str, base_dir: Path, stack: tuple[Path, ...]
) -> tuple[list[Any], Lines]:
    """The columns of one file, include entries expanded; lines keyed from the list: `(index, ...)`."""
    by_index: dict[int, Lines] = {}
    for loc, line in lines.items():
        if len(loc) >= 2 and loc[0] == "columns" and isinstance(loc[1], int):
            by_index.setdefault(loc[1], {})[loc[2:]] = line
    out: list[Any] = []
    out_lines: Lines = {}
    owners: list[int | None] = []
    for i, item in enumerate(columns):
        if not is_include_entry(item):
            out_lines.update({(len(out), *loc): line for loc, line in by_index.get(i, {}).items()})
            out.append(item)
            owners.append(None)
            continue
        entry = _Entry(item, i, lines, source, base_dir)
        included, included_lines = entry.expand(stack)
        for column, column_lines in zip(included, included_lines, strict=True):
            out_lines.update({(len(out), *loc): line for loc, line in column_lines.items()})
            out.append(column)
            owners.append(i)
    _check_collisions(columns, out, owners, lines, source)
    return out, out_lines


def _check_collisions(
    entries: list[Any], out: list[Any], owners: list[int | None], lines: Mapping[Loc, int], source: str
) -> None:
    first: dict[str, int | None] = {}
    for column, owner in zip(out, owners, strict=True):
        name = column.get("name") if isinstance(column, Mapping) else None
        if not isinstance(name, str):
            continue
        if name not in first:
            first[name] = owner
            continue
        other = first[name]
        if (owner is None and other is None) or owner == other:
            continue  # not the include's doing: the config's own check reports it
        blamed = owner if owner is not None else other
        assert blamed is not None
        entry = entries[blamed]
        what = _what(entry)
        elsewhere = (
            "a column of this config" if other is None or owner is None else "a column another include brings"
        )
        fix = "choose another 'prefix'" if entry.get("prefix") else "set 'prefix' to namespace its names"
        raise ConfigError(
            f"{what} brings a column named '{name}', the same name as {elsewhere}: {fix}",
            source=source,
            line=lines.get(("columns", blamed, "prefix")) or lines.get(("columns", blamed)),
            column=name,
            field="prefix",
        )


def _what(entry: Mapping[str, Any]) -> str:
    return f"recipe '{entry['recipe']}'" if "recipe" in entry else f"include '{entry.get('include')}'"


# ---- one include entry ----------------------------------------------------------------------------------
class _Entry:
    """One `include:` or `recipe:` entry of a `columns` list, at index `index` of the file `source`."""

    def __init__(
        self, item: Mapping[str, Any], index: int, lines: Mapping[Loc, int], source: str, base_dir: Path
    ) -> None:
        self.item = item
        self.index = index
        self.lines = lines
        self.source = source
        self.base_dir = base_dir
        self.what = _what(item)

    def error(self, message: str, *field: str | int, node: str | None = None) -> ConfigError:
        loc = ("columns", self.index, *field)
        line = next(
            (self.lines[loc[:end]] for end in range(len(loc), 1, -1) if loc[:end] in self.lines), None
        )
        return ConfigError(
            message, source=self.source, line=line, node=node, field=".".join(str(f) for f in field) or None
        )

    def included_here(self, exc: ConfigError) -> ConfigError:
        """`exc` (found in the included file) saying where that file is included."""
        line = self.lines.get(("columns", self.index))
        exc.reason += f" (included at {self.source}:{line})" if line else f" (included by {self.source})"
        exc.args = (exc._render(),)
        return exc

    def expand(self, stack: tuple[Path, ...]) -> tuple[list[Any], list[Lines]]:
        """The columns this entry brings, and for each its lines (in the including file's terms)."""
        self._check_fields()
        path, display = self._locate()
        if path in stack:
            chain = " -> ".join(p.name for p in (*stack, path))
            raise self.error(f"include cycle: {chain}", "recipe" if "recipe" in self.item else "include")
        try:
            data, lines = _read_file(path, display)
            declared = declarations(data.get("params"), display, lines)
        except ConfigError as exc:
            raise self.included_here(exc) from None
        values = self._bind(declared)
        try:
            columns = substitute_columns(data["columns"], values, display, lines)
            columns, column_lines = _expand_columns(columns, lines, display, path.parent, (*stack, path))
        except ConfigError as exc:
            raise self.included_here(exc) from None
        here = self.lines.get(("columns", self.index)) or 0
        per_column: list[Lines] = [{} for _ in columns]
        for (j, *rest), line in column_lines.items():
            per_column[int(j)][tuple(rest)] = _lift(line, here, display)
        self._override(columns, per_column)
        prefix = self.item.get("prefix")
        if prefix is not None:
            prefix_names(columns, prefix)
        return columns, per_column

    def _check_fields(self) -> None:
        for key in self.item:
            if key not in ENTRY_FIELDS:
                close = difflib.get_close_matches(str(key), ENTRY_FIELDS, n=1, cutoff=0.6)
                hint = (
                    f" (did you mean '{close[0]}'?)"
                    if close
                    else f" (an include has {', '.join(ENTRY_FIELDS)})"
                )
                raise self.error(f"unknown field{hint}", str(key))
        if "include" in self.item and "recipe" in self.item:
            raise self.error(
                "give 'include' (a file) or 'recipe' (a name from the library), not both", "recipe"
            )
        prefix = self.item.get("prefix")
        if prefix is not None and not (isinstance(prefix, str) and re.match(COLUMN_NAME_PATTERN, prefix)):
            raise self.error(f"{prefix!r} is not a usable prefix (letters, digits and _)", "prefix")
        for key in ("params", "overrides"):
            if self.item.get(key) is not None and not isinstance(self.item[key], Mapping):
                raise self.error(f"'{key}' must be a mapping", key)

    def _locate(self) -> tuple[Path, str]:
        if "recipe" in self.item:
            name = self.item["recipe"]
            found = recipe_path(name) if isinstance(name, str) else None
            if found is None:
                raise self.error(unknown_recipe_message(str(name)), "recipe")
            shown = f"synthloom/recipes/{found.name}" if found.parent == RECIPES_DIR else str(found)
            return found.resolve(), shown
        target = self.item["include"]
        if not isinstance(target, str) or not target.strip():
            raise self.error("expected the path of a YAML or JSON file", "include")
        path = (self.base_dir / target).resolve()
        display = os.path.normpath(os.path.join(os.path.dirname(self.source), target))
        if not path.is_file():
            raise self.error(f"included file not found: {display}", "include")
        return path, display

    def _bind(self, declared: dict[str, Param]) -> dict[str, Any]:
        given = dict(self.item.get("params") or {})
        for name in given:
            if name not in declared:
                close = difflib.get_close_matches(str(name), list(declared), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                known = ", ".join(declared) or "none"
                raise self.error(
                    f"unknown parameter '{name}' of {self.what} ({hint}its parameters: {known})",
                    "params",
                    name,
                )
        missing = [name for name, p in declared.items() if p.required and name not in given]
        if missing:
            described = "; ".join(
                f"{n}: {declared[n].description}" if declared[n].description else n for n in missing
            )
            raise self.error(
                f"{self.what} needs the parameter(s) {', '.join(missing)} ({described})", "params"
            )
        return default_values(declared, given)

    def _override(self, columns: list[Any], per_column: list[Lines]) -> None:
        """Merge each override into its column or node; `name: new` renames it (references follow),
        `null` removes it. Removals go last, from the end, so earlier places stay valid."""
        overrides = self.item.get("overrides") or {}
        targets = _override_targets(columns)
        renames: dict[str, str] = {}
        removals: list[Target] = []
        taken = declared_names(columns)
        for target, patch in overrides.items():
            found = targets.get(str(target))
            if found is None or isinstance(found, list):
                raise self.error(_no_target(str(target), targets, self.what), "overrides", node=str(target))
            j, inside = found
            if patch is None:
                removals.append(found)
                continue
            if not isinstance(patch, Mapping):
                raise self.error(
                    "expected a mapping of the fields to change (or null to remove it)", "overrides", target
                )
            place = columns[j]
            for part in inside:
                place = place[part]
            patch = dict(patch)
            new_name = patch.pop("name", None)
            if new_name is not None:
                old_name = place.get("name")
                if not isinstance(new_name, str) or not re.fullmatch(COLUMN_NAME_PATTERN, new_name):
                    raise self.error(f"{new_name!r} is not a valid name", "overrides", target, "name")
                if new_name in taken or new_name in renames.values():
                    raise self.error(
                        f"'{new_name}' is already a name in {self.what}", "overrides", target, "name"
                    )
                renames[str(old_name)] = new_name
            _merge(place, patch)
            prefix: Loc = ("columns", self.index, "overrides", target)
            for loc, line in self.lines.items():
                if loc[: len(prefix)] == prefix and len(loc) > len(prefix):
                    per_column[j][(*inside, *loc[len(prefix) :])] = line
        if renames:
            rename_names(columns, renames)
        for j, inside in sorted(removals, key=lambda t: (t[0], len(t[1]), t[1]), reverse=True):
            if not inside:
                del columns[j]
                del per_column[j]
                continue
            parent = columns[j]
            for part in inside[:-1]:
                parent = parent[part]
            del parent[inside[-1]]
        if not columns:
            raise self.error(f"the overrides remove every column of {self.what}", "overrides")


def _lift(line: int, here: int, display: str) -> IncludedLine:
    """A line of an included file (or of a file it includes) seen from the file including it."""
    if isinstance(line, IncludedLine):
        return IncludedLine(here, line.file, line.inner)
    return IncludedLine(here, display, line)


# ---- the included file ----------------------------------------------------------------------------------
def _read_file(path: Path, display: str) -> tuple[dict[str, Any], Lines]:
    from synthloom.config.loader import read_data  # the loader imports this module

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read included file: {exc}", source=display) from None
    data, lines = read_data(text, source=display, fmt="json" if path.suffix.lower() == ".json" else "yaml")
    if not isinstance(data, Mapping):
        raise ConfigError(
            "an included file is a mapping with a 'columns' list (and its 'params')", source=display
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and key.startswith("x-"):
            continue
        if key not in FILE_FIELDS:
            close = difflib.get_close_matches(str(key), FILE_FIELDS, n=1, cutoff=0.6)
            hint = (
                f" (did you mean '{close[0]}'?)"
                if close
                else f" (an included file has {', '.join(FILE_FIELDS)})"
            )
            raise ConfigError(f"unknown field{hint}", source=display, line=lines.get((key,)), field=str(key))
        out[key] = value
    if not isinstance(out.get("columns"), list) or not out["columns"]:
        raise ConfigError(
            "an included file needs a non-empty 'columns' list", source=display, line=lines.get(("columns",))
        )
    return out, lines


# ---- overrides ------------------------------------------------------------------------------------------
Target = tuple[int, tuple[str | int, ...]]


def _override_targets(columns: list[Any]) -> dict[str, Target | list[str]]:
    """What an override may name: a column, `column.node` (nested: `column.node.node`), or a node's
    bare name when only one flow has it (else the list of its full names)."""
    found: dict[str, Target | list[str]] = {}
    bare: dict[str, list[tuple[str, Target]]] = {}

    def nodes_of(item: Mapping[str, Any], path: str, j: int, inside: tuple[str | int, ...]) -> None:
        if item.get("type") != "flow":
            return
        for k, node in enumerate(item.get("nodes") or []):
            if isinstance(node, Mapping) and isinstance(node.get("name"), str):
                full = f"{path}.{node['name']}"
                where: Target = (j, (*inside, "nodes", k))
                found[full] = where
                bare.setdefault(node["name"], []).append((full, where))
                nodes_of(node, full, j, (*inside, "nodes", k))

    for j, column in enumerate(columns):
        if isinstance(column, Mapping) and isinstance(column.get("name"), str):
            found[column["name"]] = (j, ())
            nodes_of(column, column["name"], j, ())
    for name, places in bare.items():
        if name not in found:
            found[name] = places[0][1] if len(places) == 1 else [full for full, _ in places]
    return found


def _no_target(target: str, targets: Mapping[str, Target | list[str]], what: str) -> str:
    choices = targets.get(target)
    if isinstance(choices, list):
        return f"several flows of {what} have a node '{target}': name one ({', '.join(choices)})"
    names = sorted(k for k, v in targets.items() if not isinstance(v, list))
    close = difflib.get_close_matches(target, names, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{what} has no column or node '{target}'{hint}; it has: {', '.join(names)}"


def _merge(base: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = dict(base[key])
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
