"""Parameters of an included file: their declarations, and `${name}` replaced by their values.

    params:
      instruction: {description: the column holding the instruction}   # no default: required
      rounds: {description: evolution rounds, default: 2}
      judge_model: {default: "${model}"}       # a default may be another parameter's value

`${name}` in a string is the parameter's value: a string that is only `${name}` takes the value as it is
(a number, a list, a mapping), one with more text gets it as text (JSON for what is not a string).
`$${` writes a literal `${`. A `${name}` naming no declared parameter is a `ConfigError` at its line.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from synthloom.config.base import COLUMN_NAME_PATTERN
from synthloom.errors import ConfigError

__all__ = ["Param", "declarations", "default_values", "substitute_columns"]

Loc = tuple[str | int, ...]
Unknown = Callable[[str, Loc], None]

_SPEC_FIELDS = ("default", "description")
_PARAMETER = re.compile(r"\$(\$?)\{([^{}]*)\}")
_WHOLE_PARAMETER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Param:
    """One declared parameter."""

    required: bool
    default: Any = None
    description: str = ""


def declarations(raw: Any, display: str, lines: Mapping[Loc, int]) -> dict[str, Param]:
    """The parameters the file `display` declares in its `params` (`raw`), checked."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "expected a mapping: parameter name -> {description, default}",
            source=display,
            line=lines.get(("params",)),
            field="params",
        )
    out: dict[str, Param] = {}
    for name, spec in raw.items():
        line, field = lines.get(("params", name)), f"params.{name}"
        if not (isinstance(name, str) and re.match(COLUMN_NAME_PATTERN, name)):
            raise ConfigError(
                f"{name!r} is not a usable parameter name (letters, digits and _)",
                source=display,
                line=line,
                field=field,
            )
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping) or not set(spec) <= set(_SPEC_FIELDS):
            raise ConfigError(
                "declare a parameter as {description: ..., default: ...} (without a default it is required)",
                source=display,
                line=line,
                field=field,
            )
        out[name] = Param("default" not in spec, spec.get("default"), str(spec.get("description") or ""))
    return out


def substitute_columns(
    columns: list[Any], params: Mapping[str, Any], display: str, lines: Mapping[Loc, int]
) -> list[Any]:
    """Fresh copies of `columns` (no YAML alias shares an object with another) with `${name}` replaced."""
    out = []
    for k, column in enumerate(columns):
        name = column.get("name") if isinstance(column, Mapping) else None

        def unknown(param: str, loc: Loc, column: Any = name, k: int = k) -> None:
            full = ("columns", k, *loc)
            line = next((lines[full[:end]] for end in range(len(full), 0, -1) if full[:end] in lines), None)
            raise ConfigError(
                f"unknown parameter '${{{param}}}': declare it under 'params' "
                f"(declared: {', '.join(params) or 'none'})",
                source=display,
                line=line,
                column=column if isinstance(column, str) else None,
                field=".".join(str(p) for p in loc) or None,
            )

        out.append(_substitute(column, params, unknown, ()))
    return out


def _substitute(value: Any, params: Mapping[str, Any], unknown: Unknown, loc: Loc) -> Any:
    if isinstance(value, str):
        whole = _WHOLE_PARAMETER.fullmatch(value)
        if whole:
            if whole.group(1) in params:
                return copy.deepcopy(params[whole.group(1)])
            unknown(whole.group(1), loc)
            return value
        return _substitute_text(value, params, lambda name: unknown(name, loc))
    if isinstance(value, Mapping):
        return {
            (
                _substitute_text(key, params, lambda name: unknown(name, loc))
                if isinstance(key, str)
                else key
            ): (_substitute(item, params, unknown, (*loc, key)))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_substitute(item, params, unknown, (*loc, i)) for i, item in enumerate(value)]
    return value


def _substitute_text(text: str, params: Mapping[str, Any], unknown: Callable[[str], None]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1):  # `$${...}`: a literal `${...}`
            return "${" + match.group(2) + "}"
        name = match.group(2).strip()
        if name not in params:
            unknown(name)
            return match.group(0)
        value = params[name]
        return value if isinstance(value, str) else json.dumps(value)

    return _PARAMETER.sub(one, text)


def default_values(declared: Mapping[str, Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value: the given one, else its default (which may name another parameter)."""
    values = {name: given.get(name, p.default) for name, p in declared.items()}
    for name, p in declared.items():
        if name not in given and isinstance(p.default, str) and "${" in p.default:
            values[name] = _substitute(p.default, values, _keep_unknown, ())
    return values


def _keep_unknown(name: str, loc: Loc) -> None:
    """A default naming no parameter stays as it is written."""
