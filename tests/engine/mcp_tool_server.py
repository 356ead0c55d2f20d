"""An MCP server for the tests, written with the SDK's server side (FastMCP; `MCPServer` in mcp 2).

    python mcp_tool_server.py               # stdio
    python mcp_tool_server.py --http PORT   # streamable HTTP at http://127.0.0.1:PORT/mcp

Environment:
    GREETING       what `greet` says hello with (a config's `env:` sets it)
    CRASH_MARKER   a file path: the first tool call that finds the file deletes it and kills the
                   server (exit 1), so a test can crash the server once, mid-run, deterministically
    NOISE_LINES    a number: that many malformed lines written to stdout before the server starts
    HANG_MARKER    a file path: `hang` blocks the server whole (no ping answered) while the file exists
                   in the process's first life; a restarted server (the file gone) answers at once
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

try:  # mcp >= 2
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver import MCPServer as _Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context  # type: ignore[no-redef]
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
def echo_env(name: str) -> str:
    """The value of one of the server's environment variables (a server that leaks what it was given)."""
    return f"{name}={os.environ.get(name, '')}"


@server.tool()
def echo_header(name: str, ctx: Context) -> str:  # type: ignore[type-arg]
    """The value of one of the HTTP request's headers."""
    headers = ctx.headers or {}
    return f"{name}: {headers.get(name.lower(), '')}"


@server.tool()
def leak() -> str:
    """The server's API_TOKEN, as a careless server might put it in a result."""
    return f"using token {os.environ.get('API_TOKEN', '')} for the lookup"


@server.tool()
def auth_header(ctx: Context) -> str:  # type: ignore[type-arg]
    """The request's X-Api-Key header, as a careless server might put it in a result."""
    return f"key {(ctx.headers or {}).get('x-api-key', '')} accepted"


@server.tool()
async def hang() -> str:
    """Block the whole server (its event loop too) while HANG_MARKER exists; a ping goes unanswered."""
    marker = os.environ.get("HANG_MARKER")
    if marker and Path(marker).exists():
        Path(marker).unlink()  # the next life of the server answers
        time.sleep(3600)  # blocks the loop on purpose: the server is hung, not slow
    return f"answered by {os.getpid()}"


@server.tool()
def fail(message: str) -> str:
    """Always raise."""
    raise ValueError(message)


if __name__ == "__main__":
    for index in range(int(os.environ.get("NOISE_LINES", "0"))):
        sys.stdout.write(f"not a JSON-RPC message #{index}\n")
    sys.stdout.flush()
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
