"""What each field of a config model means, read from the model's own source: for `synthloom
reference`, and for `synthloom schema` (`describe_schema`: editors show it on hover).

The config models document their fields the way the code base always has: a `#:` comment on the lines
above the field (Sphinx's convention), or a string right under it (pydantic's attribute docstrings), or
`Field(description=...)`. `field_meanings(Model)` finds all three, so `synthloom reference` can describe
any model, a plugin's included, without the model having to be written for it.

Source is read with `inspect` and parsed with `ast`; a model whose source is not available (built in a
REPL, shipped without `.py` files) simply has no meanings beyond its `description=`s.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

__all__ = ["describe_schema", "field_meanings", "first_sentence"]


def first_sentence(text: str | None) -> str:
    """The first line-joined sentence of `text` (what a one-line meaning shows)."""
    if not text:
        return ""
    flat = " ".join(text.split())
    # ". " followed by a capital: a sentence ends (not "e.g. the" nor "`a.b` ...").
    for index in range(len(flat) - 2):
        if flat[index] == "." and flat[index + 1] == " " and flat[index + 2].isupper():
            return flat[: index + 1]
    return flat


def field_meanings(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> its meaning, for every field of `model` (inherited ones included); fields with no
    documentation are left out."""
    out: dict[str, str] = {}
    # Base classes first, so a subclass documenting a field again wins.
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            out.update(_class_meanings(cls))
    for name, info in model.model_fields.items():
        if info.description:
            out[name] = info.description.strip()
    return {name: text for name, text in out.items() if name in model.model_fields}


@lru_cache(maxsize=512)
def _class_meanings(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    if not tree.body or not isinstance(tree.body[0], ast.ClassDef):
        return {}
    lines = source.splitlines()
    body = tree.body[0].body
    out: dict[str, str] = {}
    for index, stmt in enumerate(body):
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        name = stmt.target.id
        after = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            out[name] = inspect.cleandoc(after.value.value)
            continue
        comment = _comment_above(lines, stmt.lineno - 1)
        if comment:
            out[name] = comment
    return out


def _comment_above(lines: list[str], index: int) -> str:
    """The `#:` comment block directly above line `index` (0-based)."""
    parts: list[str] = []
    row = index - 1
    while row >= 0 and lines[row].strip().startswith("#:"):
        parts.append(lines[row].strip()[2:].strip())
        row -= 1
    return " ".join(reversed(parts))


def describe_schema(schema: dict[str, Any], root: type[BaseModel]) -> dict[str, Any]:
    """Fill in `description` for every property of `schema` (the JSON Schema of `root`) whose model
    documents the field; `schema` is changed in place and returned."""
    models = _models_by_title(root)
    definitions = schema.get("$defs", {})
    for title, definition in [(root.__name__, schema), *definitions.items()]:
        model = models.get(definition.get("title", title))
        if model is None:
            continue
        docs = field_meanings(model)
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
