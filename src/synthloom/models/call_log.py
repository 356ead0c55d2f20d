"""Lineage: what each model exchange of a cell sent and got back, for reports and viewers.

The engine sets `call_log` to a list around the work of one cell; every chat exchange made within it
(correction turns, tool-loop turns, a flow's nodes, a custom function's calls) appends one entry: the
messages sent and the reply in OpenAI form, reasoning, tokens, latency and HTTP attempts — or the error.
Entries are kept as JSON bytes: a row group's worth of lineage then holds no Python containers for the
garbage collector to scan. Outside a cell (`call_log` unset) nothing is recorded and nothing is built.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

import orjson

__all__ = ["call_log", "log_exchange", "log_failure"]

call_log: ContextVar[list[bytes] | None] = ContextVar("call_log", default=None)


def log_exchange(model: str, tag: str | None, entry: dict[str, Any]) -> None:
    """Record one finished exchange in the current cell's log, if there is one. Inline media (base64
    images and audio) is replaced by a short description: lineage says what was sent, not the bytes."""
    log = call_log.get()
    if log is not None:
        if _has_parts(entry.get("messages")):
            entry = _without_media(entry)
        log.append(orjson.dumps({"model": model, "tag": tag, **entry}, default=str))


def _has_parts(messages: Any) -> bool:
    """Whether any message has content parts (only those can hold inline media)."""
    return isinstance(messages, list) and any(
        isinstance(m, dict) and isinstance(m.get("content"), list) for m in messages
    )


_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,")


def _without_media(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("type") == "input_audio" and isinstance(value.get("input_audio"), dict):
            audio = value["input_audio"]
            size = len(audio.get("data") or "") * 3 // 4
            return {"type": "input_audio", "input_audio": {"format": audio.get("format"), "bytes": size}}
        return {k: _without_media(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_media(v) for v in value]
    if isinstance(value, str) and len(value) > 256 and (match := _DATA_URI.match(value)):
        return f"<{match.group(1)}, {(len(value) - match.end()) * 3 // 4} bytes>"
    return value


def log_failure(model: str, tag: str | None, error: BaseException) -> None:
    """Record an exchange that ended in an error."""
    log = call_log.get()
    if log is not None:
        log.append(
            orjson.dumps({"model": model, "tag": tag, "error": f"{type(error).__name__}: {error}"[:2000]})
        )
