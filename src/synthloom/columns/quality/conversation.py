"""Conversation shape: turns, average turn length and each role's share of the turns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from synthloom.columns.quality.text_values import turn_text

__all__ = ["conversation_tags"]


def conversation_tags(turns: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """`turns` (system turns not counted), `avg_turn_length` (characters) and `role_shares` (each role's
    share of all turns); nulls when the value is not a conversation."""
    if not turns:
        return {"turns": None, "avg_turn_length": None, "role_shares": None}
    roles = Counter(str(m.get("role")) for m in turns)
    spoken = [m for m in turns if m.get("role") != "system"]
    lengths = [len(turn_text(m)) for m in spoken]
    return {
        "turns": len(spoken),
        "avg_turn_length": round(sum(lengths) / len(lengths), 1) if lengths else 0.0,
        "role_shares": {role: round(n / len(turns), 4) for role, n in sorted(roles.items())},
    }
