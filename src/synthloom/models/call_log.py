"""Lineage: what each model exchange of a cell sent and got back, for reports and viewers.

The engine sets `call_log` to a list around the work of one cell; every chat exchange made within it
(correction turns, tool-loop turns, a flow's nodes, a custom function's calls) appends one entry: the
messages sent and the reply in OpenAI form, reasoning, tokens, latency and HTTP attempts — or the error.
Outside a cell (`call_log` unset) nothing is recorded and nothing is built.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["call_log", "log_exchange", "log_failure"]

call_log: ContextVar[list[dict[str, Any]] | None] = ContextVar("call_log", default=None)


def log_exchange(model: str, tag: str | None, entry: dict[str, Any]) -> None:
    """Record one finished exchange in the current cell's log, if there is one."""
    log = call_log.get()
    if log is not None:
        log.append({"model": model, "tag": tag, **entry})


def log_failure(model: str, tag: str | None, error: BaseException) -> None:
    """Record an exchange that ended in an error."""
    log = call_log.get()
    if log is not None:
        log.append({"model": model, "tag": tag, "error": f"{type(error).__name__}: {error}"[:2000]})
