"""Load a dataset config from YAML or JSON, turning every problem into one `ConfigError` that names
the file, the line, the column and the field."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from synthloom.config.base import ColumnConfig
from synthloom.config.dataset import DatasetConfig
from synthloom.config.includes import expand_includes
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError

__all__ = [
    "EXTENSION_PREFIX",
    "config_error_from_validation",
    "config_from_data",
    "load_config",
    "load_models_file",
    "parse_config",
    "read_data",
]

Loc = tuple[str | int, ...]

#: Top-level keys with this prefix are ignored: `x-defaults: &defaults {...}` holds anchors to merge.
EXTENSION_PREFIX = "x-"


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
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    config = parse_config(text, source=source, fmt=fmt, base_dir=path.resolve().parent)
    config._base_dir = path.resolve().parent
    return config


def load_models_file(path: str | Path) -> list[ModelConfig]:
    """The `models:` of a YAML or JSON file (a whole config, or a file holding only `models:`)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the models file: {exc}", source=source) from None
    data, lines = read_data(text, source=source, fmt="json" if path.suffix.lower() == ".json" else "yaml")
    entries = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError("expected a `models:` list", source=source)
    out = []
    for index, entry in enumerate(entries):
        try:
            out.append(ModelConfig.model_validate(entry))
        except ValidationError as exc:
            wrapped = {"models": entries}
            errors = exc.errors(include_url=False)
            for err in errors:
                err["loc"] = ("models", index, *err["loc"])
            raise _describe(errors[0], wrapped, source, lines) from None
    return out


def parse_config(
    text: str, *, source: str = "<config>", fmt: str = "yaml", base_dir: Path | None = None
) -> DatasetConfig:
    """Validate config text; `source` is used in error messages. `include:` entries are expanded first,
    their paths relative to `base_dir` (the config file's folder; the working directory when None)."""
    data, lines = read_data(text, source=source, fmt=fmt)
    return config_from_data(data, lines, source=source, base_dir=base_dir)


def config_from_data(
    data: Any, lines: dict[Loc, int], *, source: str, base_dir: Path | None = None
) -> DatasetConfig:
    """`parse_config` for data already read (a stage of a pipeline file)."""
    if not isinstance(data, Mapping):
        raise ConfigError("the config must be a mapping with at least a 'columns' list", source=source)
    # Top-level `x-...` keys are the user's own (a place for YAML anchors, as in docker-compose files).
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith(EXTENSION_PREFIX))}
    # Included columns keep the lines of the file they come from, so errors point into that file.
    data, lines = expand_includes(data, lines, source=source, base_dir=base_dir)
    try:
        config = DatasetConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(exc, data, source=source, lines=lines) from None
    config._source = source
    config._lines = lines
    return config


def read_data(text: str, *, source: str, fmt: str = "yaml") -> tuple[Any, dict[Loc, int]]:
    """Parse YAML or JSON text into plain data and the line of every key path (YAML only)."""
    lines: dict[Loc, int] = {}
    if fmt == "json":
        try:
            return json.loads(text), lines
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"invalid JSON: {exc.msg} (column {exc.colno})", source=source, line=exc.lineno, col=exc.colno
            ) from None
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        if node is not None:
            _check_expansion(node, source)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at column {mark.column + 1}" if mark else ""
        hint = _quote_hint(text, mark, problem) if mark else ""
        raise ConfigError(
            f"invalid YAML: {problem}{where}{hint}",
            source=source,
            line=mark.line + 1 if mark else None,
            col=mark.column + 1 if mark else None,
        ) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", source=source) from None
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


#: Parser problems that mean a `:`, `?` or `#` inside unquoted text was read as YAML syntax.
_UNQUOTED_TEXT_PROBLEMS = ("but got '?'", "but got ':'", "mapping values are not allowed here")


def _quote_hint(text: str, mark: Any, problem: str) -> str:
    """When unquoted text broke the parse (`{description: Does it work?}`), say to quote it, showing
    the value as it would be written quoted."""
    if not any(p in problem for p in _UNQUOTED_TEXT_PROBLEMS):
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    start = line.rfind(": ", 0, mark.column)
    if start < 0:
        return "; text containing ':' or '?' must be quoted"
    key_start = max(line.rfind(c, 0, start) for c in "{, -") + 1
    key = line[key_start:start].strip()
    rest = line[start + 2 :]
    value = rest[: _value_end(rest)].strip()
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"; text containing ':' or '?' must be quoted: write {key}: {quoted}"


def _value_end(rest: str) -> int:
    """Where an unquoted value in a flow mapping ends: the first `, ` or `}` outside `{{ ... }}`."""
    depth = i = 0
    while i < len(rest):
        if rest.startswith("{{", i):
            depth, i = depth + 1, i + 2
        elif rest.startswith("}}", i) and depth:
            depth, i = depth - 1, i + 2
        elif depth == 0 and (rest.startswith(", ", i) or rest[i] == "}"):
            return i
        else:
            i += 1
    return len(rest)


_MERGE_TAG = "tag:yaml.org,2002:merge"

#: The most values a YAML file may stand for once its aliases are expanded. A config is a few
#: thousand; "billion laughs" (aliases of aliases of lists) stands for billions in a few lines, and
#: whatever walks it (line indexing, validation, a fingerprint) would exhaust memory.
MAX_YAML_VALUES = 1_000_000


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases expand past `MAX_YAML_VALUES` values, or refer to themselves.
    Each node is sized once (aliases share nodes), so the check costs what the text does."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise ConfigError(
                "invalid YAML: an anchor refers to itself", source=source, line=node.start_mark.line + 1
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(v) for v in node.value)
        open_nodes.discard(key)
        if total > MAX_YAML_VALUES:
            raise ConfigError(
                f"invalid YAML: its anchors and aliases expand to more than {MAX_YAML_VALUES:,} values",
                source=source,
                line=node.start_mark.line + 1,
            )
        sizes[key] = total
        return total

    size(root)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error, not a silent overwrite.

    Anchors, aliases and merge keys (`<<: *defaults`) work as in any YAML: keys written in the
    mapping override the merged ones; only a key written twice in the same mapping is refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        merges = [key_node for key_node, _ in node.value if key_node.tag == _MERGE_TAG]
        if len(merges) > 1:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "duplicate merge key '<<' (merge several mappings with `<<: [*a, *b]`)",
                merges[1].start_mark,
            )
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key}' (the second one would silently win)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads `yes`, `no`, `on`, `off` as booleans (`options: {1: no, 2: yes}` would be two
# booleans, not labels); as in YAML 1.2 only true/false are. A bool field still accepts "yes" and "on".
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def config_error_from_validation(
    exc: ValidationError, data: Any, *, source: str | None = None, lines: Mapping[Loc, int] | None = None
) -> ConfigError:
    """One `ConfigError` for a pydantic error: the first problem in full, and a count of the rest."""
    errors = exc.errors(include_url=False)
    messages = [_describe(err, data, source, lines or {}) for err in errors]
    first = messages[0]
    first.also = messages[1:]
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
    current = _get(data, *data_path)
    tag_skipped = i == 3  # the column's own tag, skipped above
    for part in loc[i:]:
        if _is_pydantic_internal(part):
            continue
        # A nested discriminated union (a flow's nodes, an output format) puts the item's type tag in
        # the location too, once, right after the item: it is not a field the user wrote.
        if not tag_skipped and isinstance(current, Mapping) and part == current.get("type"):
            tag_skipped = True
            continue
        tag_skipped = False
        field_parts.append(str(part))
        data_path.append(part)
        current = _get(current, part)
    msg = err["msg"].removeprefix("Value error, ")
    field = ".".join(field_parts) or None
    fix = None
    if err["type"] == "extra_forbidden" and _is_record_count(loc):
        count = _get(data, *data_path)
        msg = (
            "unknown field: the number of records is not part of the config; give it when running: "
            f"synthloom create CONFIG -n {count if count else 'N'} (or num_records= in Python)"
        )
        fix = f"remove '{field_parts[-1]}' and pass -n {count if count else 'N'}"
    elif err["type"] == "extra_forbidden":
        suggestion = _suggest_field(data, data_path)
        msg = "unknown field" + suggestion
        last = field_parts[-1] if field_parts else ""
        close = re.search(r"did you mean '([^']+)'", suggestion)
        fix = f"rename '{last}' to '{close.group(1)}'" if close else f"remove '{last}'"
    elif err["type"] == "missing":
        msg = "required field is missing"
        fix = f"add '{field_parts[-1]}'" if field_parts else None
    line = _line_for(lines, data_path)
    return ConfigError(
        msg,
        source=source,
        model=model,
        column=column,
        field=field,
        line=line,
        col=getattr(line, "col", None),
        fix=fix,
    )


#: Keys users write for the record count, which is a command-line argument (`-n`), not a config field.
_RECORD_COUNT_KEYS = frozenset({"num_records", "num_samples", "records", "n_records", "num_rows", "count"})


def _is_record_count(loc: Loc) -> bool:
    return str(loc[-1]) in _RECORD_COUNT_KEYS and (len(loc) == 1 or (len(loc) == 2 and loc[0] == "run"))


_SCALAR_TAGS = frozenset({"float", "int", "str", "bool", "list", "dict", "none", "literal"})


def _is_pydantic_internal(part: str | int) -> bool:
    """Union members and validators pydantic puts in a location (`float`, `function-after[...]`)."""
    return isinstance(part, str) and (part in _SCALAR_TAGS or "[" in part or "(" in part)


def _suggest_field(data: Any, data_path: list[str | int]) -> str:
    import difflib

    model = _model_at(data, data_path[:-1])
    if model is None or not data_path:
        return ""
    candidates = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(data_path[-1]), candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _model_at(data: Any, path: list[str | int]) -> type[BaseModel] | None:
    """The config model that validates the mapping at `path` (columns by their `type`)."""
    from synthloom.config import registry

    model: type[BaseModel] | None = DatasetConfig
    for depth, part in enumerate(path):
        if model is None:
            return None
        if isinstance(part, int):
            continue
        if model is DatasetConfig and part == "columns":
            model = None
            if depth + 1 < len(path):
                kind = _name_of(_get(data, *path[: depth + 2]), "type")
                types = registry.column_types()
                model = types[kind].config if kind in types else None
            continue
        parent = _get(data, *path[:depth])
        if issubclass(model, ColumnConfig) and isinstance(parent, Mapping):
            nested = model.field_model(part, parent)
            if nested is not None:
                model = nested
                continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _model_in(field.annotation) if field is not None else None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


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


class LinePosition(int):
    """A 1-based line number that also knows its 1-based character column (`col`): the line index keeps
    plain ints for every reader, and error reports can still say where on the line a key starts."""

    col: int

    def __new__(cls, mark: yaml.Mark) -> LinePosition:
        position = super().__new__(cls, mark.line + 1)
        position.col = mark.column + 1
        return position


def _index_lines(node: yaml.Node, path: Loc, out: dict[Loc, int]) -> None:
    out[path] = LinePosition(node.start_mark)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = (*path, key.value)
                out[child] = LinePosition(key.start_mark)
                _index_lines(value, child, out)
                out[child] = LinePosition(key.start_mark)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _index_lines(value, (*path, index), out)
