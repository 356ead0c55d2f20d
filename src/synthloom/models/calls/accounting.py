"""`Accounting`: every request counted once — per model, per column, per row group — and logged in its
cell's lineage.

The outermost handler of the chain, so what it records is what the cell experienced: all attempts of a
call, or one cached answer (counted apart, at no cost). Failed calls still cost tokens and are counted.
Lineage entries are JSON bytes in the scope's sink (no Python containers for the garbage collector to
scan); inline media is replaced by a short description. When the run keeps a spend journal
(`models/spend_journal.py`), the tracker appends each exchange to it as it ends: what was paid survives
a kill before the row group commits.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from synthloom.errors import ModelError
from synthloom.models.calls.handler import Handler, Wrapper
from synthloom.models.calls.request import ModelRequest, ModelResponse
from synthloom.models.results import CallUsage
from synthloom.models.usage import UsageTracker

__all__ = ["Accounting", "lineage_entry"]


class Accounting(Wrapper):
    """Records each call of `inner` in `usage` and, when its scope keeps lineage, in the cell's log."""

    def __init__(self, inner: Handler, *, usage: UsageTracker) -> None:
        super().__init__(inner)
        self.usage = usage

    async def handle(self, request: ModelRequest) -> ModelResponse:
        scope = request.scope
        try:
            response = await self.inner.handle(request)
        except ModelError as exc:
            spent = exc.usage if isinstance(exc.usage, CallUsage) else _one_failed_attempt(exc)
            self.usage.record(request.alias, scope.tag, spent, ok=False, row_group=scope.row_group)
            if scope.lineage is not None and request.describe is not None:
                scope.lineage.append(
                    orjson.dumps(
                        {
                            "model": request.alias,
                            "tag": scope.tag,
                            "error": f"{type(exc).__name__}: {exc}"[:2000],
                        }
                    )
                )
            raise
        except BaseException:
            spent = CallUsage(attempts=1, status_codes=[None])
            self.usage.record(request.alias, scope.tag, spent, ok=False, row_group=scope.row_group)
            raise
        self.usage.record(
            request.alias,
            scope.tag,
            response.usage,
            ok=True,
            row_group=scope.row_group,
            cached=response.cached,
            batched=response.batched,
        )
        if scope.lineage is not None and request.describe is not None:
            scope.lineage.append(lineage_entry(request, response))
        return response


def _one_failed_attempt(exc: ModelError) -> CallUsage:
    return CallUsage(attempts=1, latency_s=exc.latency_s, status_codes=[getattr(exc, "status_code", None)])


def lineage_entry(request: ModelRequest, response: ModelResponse) -> bytes:
    """One finished exchange as the cell's lineage keeps it."""
    assert request.describe is not None
    usage = response.usage
    entry: dict[str, Any] = {
        "model": request.alias,
        "tag": request.scope.tag,
        **request.describe(response.value),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "latency_s": round(usage.latency_s, 4),
        "http_attempts": usage.attempts,
    }
    if response.cached:
        entry["cached"] = True
    if response.batched:
        entry["batched"] = True
    if _has_parts(entry.get("messages")):
        entry = _without_media(entry)
    return orjson.dumps(entry, default=str)


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
