"""Namespacing an included sub-pipeline: every name it declares gets a prefix, and every reference to
those names follows.

    prefix_names(columns, "evo")      # columns as plain data (dicts), renamed in place

The names an included file declares are its columns' names and, inside its flows, node names, `writes`
keys, initial `state` keys and history names. They become `<prefix>_<name>`; side columns follow their
owner (`draft__trace` -> `evo_draft__trace`). References are renamed where they are written:

- in every template (any string holding `{{` or `{%`): variable names, found with Jinja's own lexer,
  never attributes (`x.draft`), filters, tests or keyword arguments; the rest of the text is untouched;
- in the fields that name columns or state keys: `source`, `targets`, `inputs`, a sampler's
  `params.category` and `params.reference`, and in a flow its edges (`from`, `to`, `when` targets,
  router `paths`), `output`, the values of `outputs` (its keys are the value's fields and stay), and a
  node's `history.name`.

Names the file reads but does not declare (the including config's columns, seed fields) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

__all__ = ["declared_names", "prefix_names", "rename_in_template", "rename_names"]

#: Only for tokenizing: templates are compiled and checked by the planner, in the sandbox.
_LEXER_ENV = jinja2.Environment()
_BOUNDARIES = frozenset({"START", "END"})


def declared_names(columns: list[Any]) -> set[str]:
    """Every name the columns declare: column names, and inside flows their node and state names."""
    names: set[str] = set()
    for column in columns:
        if isinstance(column, Mapping):
            _add(names, column.get("name"))
            _flow_names(column, names)
    return names


def _flow_names(item: Mapping[str, Any], names: set[str]) -> None:
    if item.get("type") != "flow":
        return
    for key in ("state", "histories"):
        value = item.get(key)
        if isinstance(value, Mapping):
            for name in value:
                _add(names, name)
    for node in _list(item.get("nodes")):
        if isinstance(node, Mapping):
            _add(names, node.get("name"))
            _add(names, node.get("writes"))
            _flow_names(node, names)


def _add(names: set[str], value: Any) -> None:
    if isinstance(value, str) and value not in _BOUNDARIES:
        names.add(value)


def prefix_names(columns: list[Any], prefix: str) -> None:
    """Rename, in place, every name `columns` declare to `<prefix>_<name>`, references included."""
    rename_names(columns, {name: f"{prefix}_{name}" for name in declared_names(columns)})


def rename_names(columns: list[Any], renames: Mapping[str, str]) -> None:
    """Rename, in place, the names in `renames` (old -> new), references included."""
    for i, column in enumerate(columns):
        if isinstance(column, dict):
            columns[i] = _rename_column(column, renames)


def _rename_column(column: dict[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = _rename_templates(column, renames)
    for key in ("name", "writes", "source", "output"):
        if key in out:
            out[key] = _name(out[key], renames)
    for key in ("targets", "inputs"):
        if isinstance(out.get(key), list):
            out[key] = [_name(v, renames) for v in out[key]]
    params = out.get("params")
    if out.get("type") == "sampler" and isinstance(params, dict):
        for key in ("category", "reference"):
            if key in params:
                params[key] = _name(params[key], renames)
    history = out.get("history")
    if isinstance(history, dict) and "name" in history:
        history["name"] = _name(history["name"], renames)
    if out.get("type") == "flow":
        _rename_flow(out, renames)
    return out


def _rename_flow(flow: dict[str, Any], renames: Mapping[str, str]) -> None:
    for key in ("state", "histories"):
        if isinstance(flow.get(key), dict):
            flow[key] = {_name(k, renames): v for k, v in flow[key].items()}
    if isinstance(flow.get("outputs"), dict):
        flow["outputs"] = {k: _name(v, renames) for k, v in flow["outputs"].items()}
    for edge in _list(flow.get("edges")):
        if not isinstance(edge, dict):
            continue
        for key in ("from", "to"):
            if key in edge:
                edge[key] = _name(edge[key], renames)
        for branch in _list(edge.get("when")):
            if isinstance(branch, dict):
                for key in ("to", "else"):
                    if key in branch:
                        branch[key] = _name(branch[key], renames)
        if isinstance(edge.get("paths"), dict):
            edge["paths"] = {k: _name(v, renames) for k, v in edge["paths"].items()}
    nodes = flow.get("nodes")
    if isinstance(nodes, list):
        flow["nodes"] = [_rename_column(n, renames) if isinstance(n, dict) else n for n in nodes]


def _name(value: Any, renames: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    if value in renames:
        return renames[value]
    owner, sep, suffix = value.rpartition("__")
    if sep and owner in renames:
        return f"{renames[owner]}__{suffix}"
    return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _rename_templates(value: Any, renames: Mapping[str, str]) -> Any:
    """A copy of `value` with every string template renamed (mappings' keys are left as they are)."""
    if isinstance(value, str):
        return rename_in_template(value, renames)
    if isinstance(value, Mapping):
        return {k: _rename_templates(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_templates(v, renames) for v in value]
    return value


def rename_in_template(source: str, renames: Mapping[str, str]) -> str:
    """`source` with the variables named in `renames` renamed; everything else byte for byte. A
    template Jinja cannot tokenize is returned as it is (the planner reports its syntax error)."""
    if "{{" not in source and "{%" not in source:
        return source
    try:
        tokens = list(_LEXER_ENV.lex(source))
    except jinja2.TemplateSyntaxError:
        return source
    significant = [(i, kind, value) for i, (_, kind, value) in enumerate(tokens) if kind != "whitespace"]
    replace: dict[int, str] = {}
    depth = 0
    for pos, (index, kind, value) in enumerate(significant):
        if kind in ("variable_end", "block_end"):
            depth = 0
        elif kind == "operator" and value in "([{":
            depth += 1
        elif kind == "operator" and value in ")]}":
            depth = max(0, depth - 1)
        if kind != "name":
            continue
        new = _name(value, renames)
        if new == value:
            continue
        before = significant[pos - 1] if pos else None
        after = significant[pos + 1] if pos + 1 < len(significant) else None
        if before is not None and (
            (before[1] == "operator" and before[2] in (".", "|"))
            or (before[1] == "name" and before[2] in ("is", "not") and _after_is(significant, pos))
            or before[1] == "block_begin"
        ):
            continue  # an attribute, a filter, a test or a statement's keyword
        if depth and after is not None and after[1] == "operator" and after[2] == "=":
            continue  # a keyword argument
        replace[index] = new
    if not replace:
        return source
    # The lexer drops whitespace that `{%-` strips: find each token in the source to keep it all.
    out: list[str] = []
    cursor = 0
    for index, (_, _, value) in enumerate(tokens):
        found = source.find(value, cursor)
        if found < 0:
            return source
        out.append(source[cursor:found])
        out.append(replace.get(index, value))
        cursor = found + len(value)
    out.append(source[cursor:])
    return "".join(out)


def _after_is(significant: list[tuple[int, str, str]], pos: int) -> bool:
    """Whether the name at `pos` follows `is` or `is not` (a test's name)."""
    before = significant[pos - 1]
    if before[2] == "is":
        return True
    return pos >= 2 and significant[pos - 2][2] == "is"
