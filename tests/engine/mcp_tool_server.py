"""An MCP server for the tests, written with the SDK's server side (FastMCP; `MCPServer` in mcp 2).

    python mcp_tool_server.py               # stdio
    python mcp_tool_server.py --http PORT   # streamable HTTP at http://127.0.0.1:PORT/mcp

Environment:
    GREETING       what `greet` says hello with (a config's `env:` sets it)
    CRASH_MARKER   a file path: the first tool call that finds the file deletes it and kills the
                   server (exit 1), so a test can crash the server once, mid-run, deterministically
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

try:  # mcp >= 2
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef]

server: Any = _Server("synthloom-test-tools")


def _maybe_crash() -> None:
    marker = os.environ.get("CRASH_MARKER")
    if marker and Path(marker).exists():
        Path(marker).unlink()
        os._exit(1)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    _maybe_crash()
    return a + b


@server.tool()
def weather(city: str, unit: str = "celsius") -> str:
    """Today's weather in a city.

    Args:
        city: The city's name.
        unit: celsius or fahrenheit.
    """
    _maybe_crash()
    return f"{city}: 21 degrees {unit}, light wind"


@server.tool()
def greet(name: str) -> str:
    """Greet someone, with the greeting from the server's environment."""
    _maybe_crash()
    return f"{os.environ.get('GREETING', 'hello')}, {name}"


@server.tool()
def server_pid() -> int:
    """The server's process id (tells one server process from its restart)."""
    _maybe_crash()
    return os.getpid()


@server.tool()
async def slow(seconds: float) -> str:
    """Wait, then answer (for timeouts)."""
    await asyncio.sleep(seconds)
    return "done"


@server.tool()
def fail(message: str) -> str:
    """Always raise."""
    raise ValueError(message)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
