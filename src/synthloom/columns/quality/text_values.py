"""Reading what a quality column looks at: a source path's value, as text or as a conversation.

A source is a column (`answer`) or a path into one (`answer.text`, `turns.0.content`). A value is text
as it is; an OpenAI messages list (a conversation) is its turns' text joined by newlines; anything else
(numbers, mappings) is its JSON text. Null stays null: a tag of nothing is `unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = ["as_conversation", "as_text", "column_values", "path_value", "turn_text"]


def path_value(value: Any, path: Sequence[str]) -> Any:
    """`value` followed along `path` (mapping keys, list indices); null where the path is missing.
    Structured values stored as JSON text are decoded on the way."""
    for part in path:
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
    return value


def column_values(table: Mapping[str, Sequence[Any]], source: str, size: int) -> list[Any]:
    """The values of `source` (a column or `column.path`) for every row of `table`."""
    column, _, rest = source.partition(".")
    values = table.get(column)
    if values is None:
        return [None] * size
    if not rest:
        return list(values)
    path = rest.split(".")
    return [path_value(v, path) for v in values]


def as_conversation(value: Any) -> list[dict[str, Any]] | None:
    """`value` as a list of `{role, content}` turns when it is an OpenAI messages list (or its JSON
    text, or a mapping holding one under `messages`); otherwise None."""
    if isinstance(value, str):
        stripped = value.lstrip()
        if not stripped.startswith(("[", "{")):
            return None
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    if isinstance(value, Mapping) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(m, Mapping) and isinstance(m.get("role"), str) for m in value):
        return None
    return [dict(m) for m in value]


def turn_text(message: Mapping[str, Any]) -> str:
    """The text of one turn: its string content, or its text parts (images and audio are left out)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping) and "text" in part
        )
    return "" if content is None else str(content)


def as_text(value: Any) -> str | None:
    """The text a value holds (see the module docstring); None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        conversation = as_conversation(value) if value[:1] in "[{" else None
        if conversation is None:
            return value
        return "\n".join(turn_text(m) for m in conversation)
    if isinstance(value, bytes | bytearray):
        return None  # media, not text
    conversation = as_conversation(value)
    if conversation is not None:
        return "\n".join(turn_text(m) for m in conversation)
    if isinstance(value, Mapping):
        for key in ("text", "content", "answer"):
            if isinstance(value.get(key), str):
                return str(value[key])
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return str(value)
