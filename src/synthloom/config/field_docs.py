"""Each config field's help text, for `synthloom schema` (editors show it on hover) and any command
that documents the config.

A field is documented where it is declared, by a `#:` comment block right above it (the convention of
this package, as Sphinx reads it) or by `Field(description=...)`. Reading the comments from the
source when a schema is asked for, rather than copying them into `description=`, keeps one text per
field and costs nothing at import.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from functools import cache
from typing import Any

from pydantic import BaseModel

__all__ = ["describe_schema", "field_descriptions"]

#: A field declared in a class body (after dedent: four spaces, a name, a colon).
_FIELD_LINE = re.compile(r"^ {4}([A-Za-z_]\w*)\s*:")


@cache
def _comment_blocks(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = _FIELD_LINE.match(line)
        if match and pending:
            found[match.group(1)] = " ".join(pending)
        if stripped and not stripped.startswith("#"):
            pending = []
    return found


def field_descriptions(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> help text, for every documented field of `model` (inherited ones included):
    `Field(description=...)` first, else the `#:` comment above the field in the class that declares it."""
    out: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            out.update(_comment_blocks(klass))
    for name, info in model.model_fields.items():
        if info.description:
            out[name] = info.description
    return {name: text for name, text in out.items() if name in model.model_fields}


def describe_schema(schema: dict[str, Any], root: type[BaseModel]) -> dict[str, Any]:
    """Fill in `description` for every property of `schema` (the JSON Schema of `root`) whose model
    documents the field; `schema` is changed in place and returned."""
    models = _models_by_title(root)
    definitions = schema.get("$defs", {})
    for title, definition in [(root.__name__, schema), *definitions.items()]:
        model = models.get(definition.get("title", title))
        if model is None:
            continue
        docs = field_descriptions(model)
        for name, info in model.model_fields.items():
            prop = definition.get("properties", {}).get(info.alias or name)
            if prop is not None and name in docs and "description" not in prop:
                prop["description"] = docs[name]
    return schema


def _models_by_title(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model class reachable from `root`'s package, by the title its schema gets; a title two
    classes share is left out rather than guessed."""
    seen: dict[str, type[BaseModel] | None] = {}
    stack: list[type[BaseModel]] = list(BaseModel.__subclasses__())
    while stack:
        model = stack.pop()
        stack.extend(model.__subclasses__())
        if not model.__module__.startswith(root.__module__.split(".")[0]):
            continue
        title = model.model_config.get("title") or model.__name__
        seen[title] = None if title in seen and seen[title] is not model else model
    return {title: model for title, model in seen.items() if model is not None}
