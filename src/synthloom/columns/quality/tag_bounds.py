"""Thresholds that turn a tag into a filter: a value outside its `TagBounds` gives the reason to
remove its row; anything inside (or a value that cannot be compared) gives None."""

from __future__ import annotations

from typing import Any

from synthloom.columns.quality.config import TagBounds

__all__ = ["outside"]


def _shown(value: Any) -> str:
    return (
        f"{value:.4g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)
    )


def outside(column: str, tag: str | None, value: Any, bounds: TagBounds) -> str | None:
    """Why `value` breaks `bounds` (for filtered.jsonl), or None when it does not. Null and `unknown`
    fail `in` (a row must be shown to be in) and pass the others (nothing is known against it)."""
    name = f"'{column}.{tag}'" if tag else f"'{column}'"
    if bounds.in_ is not None and value not in bounds.in_:
        return f"{name} is {_shown(value)}, not in {bounds.in_}"
    if bounds.not_in is not None and value is not None and value in bounds.not_in:
        return f"{name} is {_shown(value)}, in {bounds.not_in}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if bounds.min is not None and value < bounds.min:
        return f"{name} = {_shown(value)} is below min {bounds.min:g}"
    if bounds.max is not None and value > bounds.max:
        return f"{name} = {_shown(value)} is above max {bounds.max:g}"
    return None
