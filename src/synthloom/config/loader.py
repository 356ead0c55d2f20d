"""Load a dataset config from YAML or JSON, turning every problem into one `ConfigError` that names
the file, the line, the column and the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from synthloom.config.dataset import DatasetConfig
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError

__all__ = ["config_error_from_validation", "load_config", "parse_config"]

Loc = tuple[str | int, ...]


def load_config(path: str | Path) -> DatasetConfig:
    """Read and validate the config at `path` (`.yaml`, `.yml` or `.json`)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", source=source) from None
    config = parse_config(text, source=source, fmt="json" if path.suffix.lower() == ".json" else "yaml")
    config._base_dir = path.resolve().parent
    config._source = source
    return config


def parse_config(text: str, *, source: str = "<config>", fmt: str = "yaml") -> DatasetConfig:
    """Validate config text; `source` is used in error messages."""
    lines: dict[Loc, int] = {}
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg} (column {exc.colno})", source=source, line=exc.lineno) from None
    else:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(
                f"invalid YAML: {problem}", source=source, line=mark.line + 1 if mark else None
            ) from None
        if node is not None:
            _index_lines(node, (), lines)
    if not isinstance(data, Mapping):
        raise ConfigError("the config must be a mapping with at least a 'columns' list", source=source)
    try:
        return DatasetConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(exc, data, source=source, lines=lines) from None


def config_error_from_validation(
    exc: ValidationError, data: Any, *, source: str | None = None, lines: Mapping[Loc, int] | None = None
) -> ConfigError:
    """One `ConfigError` for a pydantic error: the first problem in full, and a count of the rest."""
    errors = exc.errors(include_url=False)
    messages = [_describe(err, data, source, lines or {}) for err in errors]
    first = messages[0]
    if len(messages) > 1:
        rest = "\n".join(f"  also: {m}" for m in messages[1:6])
        more = f"\n  ... and {len(messages) - 6} more" if len(messages) > 6 else ""
        first.reason = f"{first.reason}\n{rest}{more}"
        first.args = (first._render(),)
    return first


def _describe(err: Any, data: Any, source: str | None, lines: Mapping[Loc, int]) -> ConfigError:
    loc: Loc = tuple(err["loc"])
    column = model = None
    field_parts: list[str] = []
    data_path: list[str | int] = []
    i = 0
    if len(loc) > 1 and loc[0] in ("columns", "models") and isinstance(loc[1], int):
        item = _get(data, loc[0], loc[1])
        data_path = [loc[0], loc[1]]
        i = 2
        if loc[0] == "columns":
            column = _name_of(item, "name") or f"#{loc[1] + 1}"
            # A discriminated union puts the type tag in the location: skip it.
            if len(loc) > 2 and loc[2] == _name_of(item, "type"):
                i = 3
        else:
            model = _name_of(item, "alias") or f"#{loc[1] + 1}"
    for part in loc[i:]:
        field_parts.append(str(part))
        data_path.append(part)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field" + _suggest_field(data, data_path)
    elif err["type"] == "missing":
        msg = "required field is missing"
    return ConfigError(
        msg,
        source=source,
        model=model,
        column=column,
        field=".".join(field_parts) or None,
        line=_line_for(lines, data_path),
    )


def _suggest_field(data: Any, data_path: list[str | int]) -> str:
    import difflib

    from synthloom.config import registry

    name = str(data_path[-1]) if data_path else ""
    parent = data
    for part in data_path[:-1]:
        parent = _get(parent, part)
    candidates: list[str] = []
    if isinstance(parent, Mapping):
        kind = parent.get("type")
        types = registry.column_types()
        if len(data_path) == 3 and data_path[0] == "columns" and isinstance(kind, str) and kind in types:
            candidates = [f.alias or n for n, f in types[kind].config.model_fields.items()]
        elif len(data_path) == 3 and data_path[0] == "models":
            candidates = list(ModelConfig.model_fields)
        elif len(data_path) == 1:
            candidates = list(DatasetConfig.model_fields)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _get(node: Any, *parts: str | int) -> Any:
    for part in parts:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _name_of(item: Any, key: str) -> str | None:
    value = item.get(key) if isinstance(item, Mapping) else None
    return value if isinstance(value, str) else None


def _line_for(lines: Mapping[Loc, int], path: list[str | int]) -> int | None:
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def _index_lines(node: yaml.Node, path: Loc, out: dict[Loc, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = (*path, key.value)
                out[child] = key.start_mark.line + 1
                _index_lines(value, child, out)
                out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _index_lines(value, (*path, index), out)
