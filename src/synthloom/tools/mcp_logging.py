"""The MCP SDK's own logging, contained: one line per bad message, and only a few per minute.

A server that writes junk to stdout makes the SDK log an ERROR with a full traceback for every line
(tens of thousands of lines on the user's terminal). `contain_sdk_logging()` puts a filter on the
SDK's loggers that drops the traceback (keeping the exception's one-line description) and lets at
most `per_window` records of one message through per `window` seconds, then says how many it held
back. Installed once, when the first MCP server starts; it changes nothing else about the SDK.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["SdkLogFilter", "contain_sdk_logging"]

#: The SDK modules that log per message received.
SDK_LOGGERS = (
    "mcp.client.stdio",
    "mcp.client.session",
    "mcp.client.streamable_http",
    "mcp.shared.session",
)
_installed: SdkLogFilter | None = None
_install_lock = threading.Lock()


class SdkLogFilter(logging.Filter):
    """Tracebacks folded into one line; at most `per_window` records per message per `window` s."""

    def __init__(
        self, *, per_window: int = 5, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.per_window = per_window
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        #: message template → (window start, records seen in the window)
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = self._clock()
        with self._lock:
            start, count = self._seen.get(key, (now, 0))
            held_back = 0
            if now - start >= self.window:
                held_back = max(0, count - self.per_window)
                start, count = now, 0
            count += 1
            self._seen[key] = (start, count)
            if len(self._seen) > 1000:  # messages with values in their template: keep the map bounded
                self._seen = {key: (start, count)}
        if count > self.per_window:
            return False
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            detail = str(error).splitlines()[0][:200] if str(error) else ""
            record.msg = f"{record.getMessage()}: {type(error).__name__}" + (f": {detail}" if detail else "")
            record.args = None
            record.exc_info = None
            record.exc_text = None
        if held_back:
            record.msg = (
                f"{record.getMessage()} ({held_back} more like it in the last {self.window:g}s not shown)"
            )
            record.args = None
        elif count == self.per_window:
            record.msg = f"{record.getMessage()} (more like it in the next {self.window:g}s are not shown)"
            record.args = None
        return True


def contain_sdk_logging() -> SdkLogFilter:
    """Install the filter on the SDK's loggers (once per process); returns it."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = SdkLogFilter()
            for name in SDK_LOGGERS:
                logging.getLogger(name).addFilter(_installed)
        return _installed
