"""`Toolset`: the tools one cell offers, and running the calls a model makes.

Whatever goes wrong with a call goes back to the model as the call's result, and the loop carries on:
an unknown tool name, arguments that are not a JSON object or do not fit the parameters, a tool that
raises, one that runs past its timeout, a result larger than `max_result_bytes` (cut, with a note
saying so). Only a failure of the machinery itself (an MCP server that died) is raised, as a
`ToolError`: it fails the cell, not the call.

The calls of one assistant turn run concurrently; results come back in the order of the calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from synthloom.errors import ToolError
from synthloom.models.messages import Message, ToolCall, ToolSpec
from synthloom.tools.python_tools import ToolArgumentsError

__all__ = ["DEFAULT_MAX_RESULT_BYTES", "Tool", "ToolOutcome", "Toolset", "result_text"]

logger = logging.getLogger(__name__)

#: Tool results longer than this (UTF-8 bytes) are cut before the model sees them.
DEFAULT_MAX_RESULT_BYTES = 64 * 1024


class Tool(Protocol):
    """Something a model can call: a Python function, an MCP server's tool."""

    @property
    def spec(self) -> ToolSpec: ...

    @property
    def timeout(self) -> float: ...

    async def call(self, arguments: dict[str, Any]) -> Any:
        """The result (text, or any JSON-able value). Raise `ToolArgumentsError` for arguments that
        do not fit, `ToolError` when the tool's machinery failed, anything else for the tool's own
        error."""
        ...


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """One call, run: the text the model gets back, and how it went."""

    call: ToolCall
    content: str
    #: None when the call succeeded; else "unknown_tool", "arguments", "error", "timeout".
    error: str | None = None
    truncated: bool = False
    latency_s: float = 0.0

    def to_message(self) -> Message:
        return Message("tool", self.content, tool_call_id=self.call.id)

    def summary(self) -> dict[str, Any]:
        """What a cell's lineage keeps of the call (the result itself is in the conversation)."""
        return {
            "tool": self.call.name,
            "error": self.error,
            "truncated": self.truncated,
            "latency_s": round(self.latency_s, 4),
        }


class Toolset:
    """Tools by name, each with its timeout; `run(calls)` runs one assistant turn's calls."""

    def __init__(
        self,
        tools: Iterable[Tool],
        *,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
        record_only: Iterable[str] = (),
    ) -> None:
        self.tools: dict[str, Tool] = {}
        #: Tools offered whose calls are recorded, never run (`execute: false`).
        self.record_only = frozenset(record_only)
        for tool in tools:
            name = tool.spec.name
            if name in self.tools:
                raise ToolError(f"two tools are named '{name}': give one source a 'prefix'")
            self.tools[name] = tool
        self.max_result_bytes = max_result_bytes

    def __len__(self) -> int:
        return len(self.tools)

    def records_only(self, calls: Sequence[ToolCall]) -> bool:
        """Whether a turn with these calls ends the loop unrun: one of them names a record-only tool."""
        return any(call.name in self.record_only for call in calls)

    @property
    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self.tools.values()]

    async def run(self, calls: Sequence[ToolCall]) -> list[ToolOutcome]:
        """Every call's outcome, in order; the calls run concurrently."""
        if len(calls) == 1:
            return [await self.run_one(calls[0])]
        return list(await asyncio.gather(*(self.run_one(call) for call in calls)))

    async def run_one(self, call: ToolCall) -> ToolOutcome:
        tool = self.tools.get(call.name)
        if tool is None:
            names = ", ".join(self.tools) or "none"
            return ToolOutcome(
                call, f"Error: there is no tool named '{call.name}' (tools: {names})", "unknown_tool"
            )
        if call.raw_arguments is not None:
            shown = call.raw_arguments[:300]
            return ToolOutcome(
                call,
                f"Error: the arguments are not a JSON object: {shown!r}. Send them as one JSON object.",
                "arguments",
            )
        started = time.monotonic()
        try:
            value = await asyncio.wait_for(tool.call(dict(call.arguments)), tool.timeout)
        except TimeoutError:
            # A tool that can tell a hung server from a slow tool (an MCP server's) is told.
            timed_out = getattr(tool, "timed_out", None)
            if timed_out is not None:
                await timed_out()
            return self._outcome(
                call, f"Error: tool '{call.name}' did not answer within {tool.timeout:g}s", "timeout", started
            )
        except ToolArgumentsError as exc:
            return self._outcome(call, f"Error: {exc}", "arguments", started)
        except ToolError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("tool %r raised", call.name, exc_info=True)
            message = str(exc)[:2000] or "(no message)"
            return self._outcome(call, f"Error: {type(exc).__name__}: {message}", "error", started)
        return self._outcome(call, result_text(value), None, started)

    def _outcome(self, call: ToolCall, text: str, error: str | None, started: float) -> ToolOutcome:
        text, truncated = _capped(text, self.max_result_bytes)
        return ToolOutcome(call, text, error, truncated, time.monotonic() - started)


def result_text(value: Any) -> str:
    """A tool's return value as the text a model reads: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return orjson.dumps(value, default=_jsonable, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(value)


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _capped(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit // 4:  # no UTF-8 character is longer than 4 bytes: no need to encode
        return text, False
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text, False
    kept = raw[:limit].decode("utf-8", "ignore")
    return f"{kept}\n[truncated: the result was {len(raw):,} bytes; tool results are cut at {limit:,}]", True
