"""Rendered template text cast to a column's `dtype` (expressions, output templates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["CASTS", "cast_bool", "cast_float", "cast_int", "cast_json"]

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0", ""})


def cast_int(text: str) -> int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        number = float(text)  # "3.0" is an int written by float arithmetic; "3.5" is not
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number") from None
        return int(number)


def cast_float(text: str) -> float:
    return float(text.strip())


def cast_bool(text: str) -> bool:
    folded = text.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (expected true/false/1/0)")


def cast_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


#: dtype -> cast of the rendered text; `str` keeps the text as rendered.
CASTS: dict[str, Callable[[str], Any] | None] = {
    "str": None,
    "int": cast_int,
    "float": cast_float,
    "bool": cast_bool,
    "json": cast_json,
}
