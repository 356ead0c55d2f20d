"""What the viewer's API sends so a page can show records as what they are: images as data URIs,
chats and trajectories summarised in the record list, records sorted by any field, and each model
exchange of a cell labelled with the flow node and the speaker that made it."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from synthloom.report.record_cards import image_type

__all__ = ["label_exchanges", "list_preview", "readable", "sort_key", "sorted_rows"]


def readable(value: Any) -> Any:
    """`value` as JSON can carry it: image bytes as `{"$image": data URI, "bytes": n}`, other bytes
    as `{"$bytes": n}`; containers walked."""
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        media_type = image_type(data)
        if media_type is None:
            return {"$bytes": len(data)}
        return {"$image": f"data:{media_type};base64,{base64.b64encode(data).decode()}", "bytes": len(data)}
    if isinstance(value, Mapping):
        return {k: readable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [readable(v) for v in value]
    return value


def _is_chat(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, Mapping) and ("role" in m or "speaker" in m or "node" in m) for m in value)
    )


def list_preview(value: Any, limit: int = 160) -> Any:
    """A short form of a value for the record list (the record's own view shows it whole)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 1] + "…"
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, bytes | bytearray):
        kind = "image" if image_type(bytes(value)) else "bytes"
        return f"[{kind}, {len(value)} bytes]"
    if _is_chat(value):
        tools = sum(len(m.get("tool_calls") or []) for m in value)
        last = next((m.get("content") for m in reversed(value) if isinstance(m.get("content"), str)), "")
        head = f"[{len(value)} {'steps' if 'node' in value[0] else 'messages'}"
        head += f", {tools} tool call{'s' if tools != 1 else ''}]" if tools else "]"
        return list_preview(f"{head} {last}", limit)
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sort_key(value: Any) -> tuple[int, Any]:
    """Orders numbers by value, then text, then anything else by its JSON; missing values last."""
    if value is None:
        return (3, 0)
    if isinstance(value, bool | int | float):
        return (0, float(value))
    if isinstance(value, str):
        return (1, value.lower())
    return (2, orjson.dumps(value, default=str).decode())


def sorted_rows(
    rows: Sequence[tuple[int, dict[str, Any]]], values: Sequence[Any], *, descending: bool
) -> list[tuple[int, dict[str, Any]]]:
    """`rows` ordered by `values` (one per row; missing values last either way), ties by record."""
    present = [(r, v) for r, v in zip(rows, values, strict=True) if v is not None]
    missing = [r for r, v in zip(rows, values, strict=True) if v is None]
    present.sort(key=lambda pair: (sort_key(pair[1]), pair[0][0]), reverse=descending)
    return [r for r, _ in present] + missing


def _speakers(config: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(column, node) -> the speaker that node talks as, from the run's config: a flow node with a
    history speaks as its `speaker`; a conversation's two nodes are the speakers `user` and
    `assistant`."""
    found: dict[tuple[str, str], str] = {}
    for col in config.get("columns") or []:
        if not isinstance(col, Mapping):
            continue
        name = str(col.get("name"))
        if col.get("type") == "conversation":
            found[(name, "user")] = "user"
            found[(name, "assistant")] = "assistant"
        for node in col.get("nodes") or []:
            history = node.get("history") if isinstance(node, Mapping) else None
            if isinstance(history, Mapping) and history.get("speaker"):
                found[(name, str(node.get("name")))] = str(history["speaker"])
    return found


def label_exchanges(config: Mapping[str, Any], lineage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each cell's exchanges with the flow node that made them (from the usage tag `<column>.<node>`)
    and, when the node speaks in a history, its speaker."""
    speakers = _speakers(config)
    for cell in lineage:
        column = str(cell.get("column"))
        for call in cell.get("calls") or []:
            tag = str(call.get("tag") or "")
            if tag.startswith(column + "."):
                node = tag[len(column) + 1 :]
                call["node"] = node
                speaker = speakers.get((column, node))
                if speaker is not None:
                    call["speaker"] = speaker
    return lineage
