"""MCP servers as tools, through the official `mcp` SDK: a stdio command the run starts, or a
streamable-HTTP URL.

    server = McpServer(config, base_dir=...)     # nothing starts yet
    tools = await server.tools()                 # first use: start, handshake, list tools
    outcome = await tools[0].call({"city": "Oslo"})
    await server.aclose()                        # at the end of the run

A server is started once per run, on first use, by whichever cell needs it first; every cell shares
its session (MCP multiplexes requests). Each connection is owned by one task, which enters and
leaves the SDK's context managers (anyio cancel scopes must be left by the task that entered them);
cells only send requests through the session.

When a server dies (its process exits, the HTTP session drops), the calls in flight fail with a
`ToolError` (their cells fail; the run goes on) and the next call starts it again. A server that
cannot start fails the cells that need it; start attempts back off (1 s, doubling up to 30 s) so a
broken server costs one start attempt per back-off, not one per cell. Every wait has a deadline:
start, each call (the tool's timeout), and shutdown.

The `env` of a stdio server, and the `url` and `headers` of an HTTP one, are literal text or `${NAME}`
references, read from this process's environment when the server starts. The values read (of at least
`MIN_SECRET_CHARS` characters) are secrets: every tool result, error message and quoted stderr is
scrubbed of them (`***`) before it reaches the model, a trajectory, the lineage or a log.

Health: a server that lets `HANG_AFTER` calls in a row run past their timeouts and then does not
answer a ping is hung: it is stopped in the background (a warning says so; `hangs` counts it) and the
next call starts it again. The SDK's own logging is contained (`mcp_logging.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from synthloom.errors import ConfigError, ToolError
from synthloom.models.messages import ToolSpec
from synthloom.models.secret_scrub import scrub_secrets
from synthloom.tools.config import ENV_REFERENCE, McpServerConfig
from synthloom.tools.mcp_logging import contain_sdk_logging

__all__ = [
    "McpServer",
    "McpTool",
    "ResolvedServer",
    "check_mcp_server",
    "resolve_env",
    "resolve_server",
    "scrub",
]

logger = logging.getLogger(__name__)

#: How long a closing connection may take before its task is cancelled.
_CLOSE_TIMEOUT = 5.0
_PING_TIMEOUT = 5.0
_BACKOFF_FIRST = 1.0
_BACKOFF_MAX = 30.0
_STDERR_TAIL = 800
#: Values read through `${NAME}` this long or longer are scrubbed from what a server sends back; a
#: shorter one (`DEBUG=1`, a greeting) is no credential, and replacing it would mangle ordinary text.
MIN_SECRET_CHARS = 6
#: Timed-out calls in a row (and then an unanswered ping) that mark a server as hung.
HANG_AFTER = 3


def check_mcp_server(config: McpServerConfig, *, field: str, base_dir: Path | None) -> None:
    """What can be known before the run: the SDK is installed, the command exists, the environment
    variables it references are set. Raises `ConfigError` naming `field` (`tools[2].mcp`)."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise ConfigError(
            "MCP servers need the MCP SDK: pip install 'synthloom[tools]' (or pip install mcp)", field=field
        ) from None
    if config.command is not None:
        program = config.command[0]
        cwd = _cwd(config, base_dir)
        if _find_program(program, cwd) is None:
            raise ConfigError(
                f"command '{program}' is not found (not on PATH, nor a file relative to {cwd})",
                field=f"{field}.command",
            )
        if not cwd.is_dir():
            raise ConfigError(f"'{cwd}' is not a directory", field=f"{field}.cwd")
    for where, value in config.secret_templates().items():
        for ref in ENV_REFERENCE.findall(value):
            if ref not in os.environ:
                raise ConfigError(
                    f"references the environment variable '{ref}', which is not set",
                    field=f"{field}.{where}",
                )


@dataclass(frozen=True, slots=True)
class ResolvedServer:
    """What a server is started or reached with, `${NAME}` references read; `secrets` are the values
    read, kept out of everything the server sends back."""

    env: dict[str, str]
    url: str | None
    headers: dict[str, str]
    secrets: tuple[str, ...]


def resolve_server(config: McpServerConfig) -> ResolvedServer:
    """The server's `env`, `url` and `headers` with their references read from this environment."""
    secrets: list[str] = []

    def read(match: Any) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise ToolError(f"{config.label()}: an environment variable its config references is not set")
        if len(value) >= MIN_SECRET_CHARS:
            secrets.append(value)
        return value

    env = {name: ENV_REFERENCE.sub(read, value) for name, value in config.env.items()}
    headers = {name: ENV_REFERENCE.sub(read, value) for name, value in config.headers.items()}
    url = ENV_REFERENCE.sub(read, config.url) if config.url is not None else None
    # Longest first: a secret that contains another is replaced whole.
    return ResolvedServer(env, url, headers, tuple(sorted(set(secrets), key=len, reverse=True)))


def resolve_env(config: McpServerConfig) -> tuple[dict[str, str], list[str]]:
    """The server's environment with `${NAME}` references read, and the values read (to scrub)."""
    resolved = resolve_server(config)
    return resolved.env, list(resolved.secrets)


def scrub(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """`text` with every secret replaced by `***`, also base64- and URL-encoded (`scrub_secrets`)."""
    return scrub_secrets(text, secrets)


def _cwd(config: McpServerConfig, base_dir: Path | None) -> Path:
    base = base_dir or Path.cwd()
    return (base / config.cwd).resolve() if config.cwd else base.resolve()


#: Commands that mean "the Python running synthloom": the `mcp` SDK a server needs is installed there,
#: while the first `python` on PATH may be another environment without it.
_THIS_PYTHON = frozenset({"python", "python3", f"python3.{sys.version_info.minor}"})


def _find_program(program: str, cwd: Path) -> str | None:
    if program in _THIS_PYTHON and sys.executable:
        return sys.executable
    if os.sep in program or (os.altsep and os.altsep in program):
        path = Path(program) if Path(program).is_absolute() else cwd / program
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(program)


class McpTool:
    """One tool of an MCP server, as a `Tool` (see `toolset.py`)."""

    def __init__(self, server: McpServer, remote_name: str, spec: ToolSpec, *, timeout: float) -> None:
        self.server = server
        self.remote_name = remote_name
        self.spec = spec
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"McpTool({self.spec.name!r})"

    async def call(self, arguments: dict[str, Any]) -> Any:
        return await self.server.call(self.remote_name, arguments)

    async def timed_out(self) -> None:
        """Told by the toolset when a call ran past its timeout: the server may be hung."""
        await self.server.note_timeout()


class McpServer:
    """One MCP server of a run: started on first use, restarted after it dies, closed at the end."""

    def __init__(self, config: McpServerConfig, *, base_dir: Path | None = None) -> None:
        self.config = config
        self.label = config.label()
        self._base_dir = base_dir
        self._connection: _Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self._retry_at = 0.0
        self._backoff = _BACKOFF_FIRST
        self._last_error = ""
        #: Connections opened so far (1 + restarts), for tests and the trace.
        self.starts = 0
        #: Times the server was found hung (timed-out calls in a row, no answer to a ping) and restarted.
        self.hangs = 0
        self._timeouts_in_a_row = 0
        self._closing: set[asyncio.Task[None]] = set()

    async def tools(self) -> list[tuple[str, ToolSpec]]:
        """(name on the server, spec) of every tool the server lists."""
        connection = await self._connected()
        return connection.tools

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        """The text of the tool's result ("Error: ..." when the server says the call failed); raises
        `ToolError` when the server is gone."""
        connection = await self._connected()
        try:
            result = await connection.session.call_tool(name, arguments)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if _connection_lost(exc) or not connection.alive or not await connection.answers_ping():
                connection.mark_dead()
                raise ToolError(
                    f"{self.label} stopped during a call of '{name}': {connection.scrub(_describe(exc))}"
                ) from None
            # The server is there and refused the request (a protocol error): the model's call was wrong.
            return f"Error: {connection.scrub(_describe(exc))}"
        self._timeouts_in_a_row = 0
        # A server may echo what it was given (its environment, its headers): never into the data.
        text = connection.scrub(_result_text(result))
        if getattr(result, "is_error", None) or getattr(result, "isError", False):
            return f"Error: {text}"
        return text

    async def note_timeout(self) -> None:
        """A call ran past its timeout. After `HANG_AFTER` in a row, a server that does not answer a
        ping either is hung: it is stopped (the next call starts it again) and a warning says so."""
        self._timeouts_in_a_row += 1
        connection = self._connection
        if self._timeouts_in_a_row < HANG_AFTER or connection is None or not connection.alive:
            return
        self._timeouts_in_a_row = 0
        if await connection.answers_ping():
            return  # slow tools, a live server: the timeouts are the tools' own
        if connection is self._connection and connection.alive:
            self.hangs += 1
            logger.warning(
                "%s did not answer %d tool calls in a row nor a ping: stopping it; the next call starts "
                "it again (hung %d time(s) so far)",
                self.label,
                HANG_AFTER,
                self.hangs,
            )
            connection.mark_dead()

    async def aclose(self) -> None:
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and connection.alive:
            return connection
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            connection = self._connection
            if connection is not None and connection.alive:
                return connection
            if self._closed:
                raise ToolError(f"{self.label}: the run is over")
            if connection is not None:
                logger.warning("%s stopped; starting it again", self.label)
                self._connection = None
                # Closed aside: a hung server takes seconds to stop, and this call has its own timeout.
                closing = asyncio.create_task(connection.aclose(), name=f"{self.label} closing")
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            if time.monotonic() < self._retry_at:
                raise ToolError(self._last_error)
            try:
                connection = await _Connection.open(self.config, self._base_dir)
            except ToolError as exc:
                self._last_error = str(exc)
                self._retry_at = time.monotonic() + self._backoff
                self._backoff = min(self._backoff * 2, _BACKOFF_MAX)
                raise
            self._backoff = _BACKOFF_FIRST
            self.starts += 1
            self._connection = connection
            return connection


class _Connection:
    """One live session with a server, owned by one task from start to close."""

    def __init__(self, label: str, secrets: tuple[str, ...]) -> None:
        self.label = label
        self.secrets = secrets
        self.session: Any = None
        self.tools: list[tuple[str, ToolSpec]] = []
        self._stop = asyncio.Event()
        self._dead = False
        self._task: asyncio.Task[None] | None = None
        self._stderr: IO[str] | None = None

    @property
    def alive(self) -> bool:
        return not self._dead and self._task is not None and not self._task.done()

    async def answers_ping(self) -> bool:
        """Whether the server still answers (after a failed call whose error did not say)."""
        try:
            await asyncio.wait_for(self.session.send_ping(), _PING_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        return True

    def mark_dead(self) -> None:
        self._dead = True
        self._stop.set()

    @classmethod
    async def open(cls, config: McpServerConfig, base_dir: Path | None) -> _Connection:
        contain_sdk_logging()
        resolved = resolve_server(config)
        connection = cls(config.label(), resolved.secrets)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if config.command is not None:
            # Closed with the connection (`_close_stderr`): it outlives this function.
            connection._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            transport = _stdio_transport(config, resolved.env, _cwd(config, base_dir), connection._stderr)
        else:
            transport = _http_transport(resolved)
        connection._task = asyncio.create_task(connection._own(transport, ready), name=connection.label)
        try:
            await asyncio.wait_for(asyncio.shield(ready), config.startup_timeout)
        except asyncio.CancelledError:
            await connection.aclose()
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError):
                problem = f"did not start within {config.startup_timeout:g}s"
            else:
                problem = f"could not be started: {connection.scrub(_describe(exc))}"
            await connection.aclose(keep_stderr=True)
            message = f"{connection.label} {problem}{connection._stderr_tail()}"
            connection._close_stderr()
            raise ToolError(message) from None
        return connection

    async def _own(
        self,
        transport: Callable[[], contextlib.AbstractAsyncContextManager[Any]],
        ready: asyncio.Future[None],
    ) -> None:
        from mcp import ClientSession

        try:
            async with contextlib.AsyncExitStack() as stack:
                streams = await stack.enter_async_context(transport())
                session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
                await session.initialize()
                self.tools = await _list_tools(session)
                self.session = session
                if not ready.done():
                    ready.set_result(None)
                await self._stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.set_exception(ToolError(f"{self.label}: start cancelled"))
            raise
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            logger.debug("%s: connection ended: %s", self.label, self.scrub(_describe(exc)))
        finally:
            self._dead = True

    async def aclose(self, *, keep_stderr: bool = False) -> None:
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), _CLOSE_TIMEOUT)
            except Exception:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, _CLOSE_TIMEOUT)
        if not keep_stderr:
            self._close_stderr()

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            tail = self._stderr.read()[-_STDERR_TAIL:].strip()
        except (OSError, ValueError):
            return ""
        return f"; its stderr ends with:\n{self.scrub(tail)}" if tail else ""


def _stdio_transport(
    config: McpServerConfig, env: dict[str, str], cwd: Path, stderr: Any
) -> Callable[[], contextlib.AbstractAsyncContextManager[Any]]:
    from mcp import StdioServerParameters, stdio_client

    assert config.command is not None
    program = _find_program(config.command[0], cwd) or config.command[0]
    params = StdioServerParameters(command=program, args=list(config.command[1:]), env=env, cwd=str(cwd))
    return lambda: stdio_client(params, errlog=stderr)


def _http_transport(resolved: ResolvedServer) -> Callable[[], contextlib.AbstractAsyncContextManager[Any]]:
    assert resolved.url is not None
    url, headers = resolved.url, dict(resolved.headers)
    try:  # mcp >= 2: headers travel on an HTTP client the caller owns
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        @contextlib.asynccontextmanager
        async def with_headers() -> AsyncIterator[Any]:
            async with (
                create_mcp_http_client(headers=headers or None) as client,
                streamable_http_client(url, http_client=client) as streams,
            ):
                yield streams

        return with_headers
    except ImportError:  # mcp 1.x: yields (read, write, get_session_id)
        from mcp.client.streamable_http import streamablehttp_client  # type: ignore[attr-defined]

        @contextlib.asynccontextmanager
        async def legacy() -> AsyncIterator[Any]:
            async with streamablehttp_client(url, headers=headers or None) as streams:
                yield streams

        return legacy


async def _list_tools(session: Any) -> list[tuple[str, ToolSpec]]:
    tools: list[tuple[str, ToolSpec]] = []
    cursor = None
    for _ in range(100):  # pages; a server that never stops paginating is not followed forever
        listed = await (session.list_tools(cursor=cursor) if cursor else session.list_tools())
        for tool in listed.tools:
            schema = getattr(tool, "input_schema", None) or getattr(tool, "inputSchema", None) or {}
            spec = ToolSpec(
                tool.name, tool.description or "", dict(schema) or {"type": "object", "properties": {}}
            )
            tools.append((tool.name, spec))
        cursor = getattr(listed, "next_cursor", None) or getattr(listed, "nextCursor", None)
        if not cursor:
            break
    return tools


def _result_text(result: Any) -> str:
    """A call's content blocks as text (media as a short placeholder); structured content as JSON
    when there is no text."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or ():
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            mime = getattr(block, "mime_type", None) or getattr(block, "mimeType", None) or "?"
            parts.append(f"[{kind} ({mime}) not shown]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
    if not parts:
        structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
        if structured is not None:
            parts.append(orjson.dumps(structured, default=str).decode())
    return "\n".join(parts)


def _connection_lost(exc: BaseException) -> bool:
    """Whether `exc` means the server is gone (rather than that it refused one request)."""
    code = getattr(getattr(exc, "error", None), "code", None)
    if code == -32000 or "connection closed" in str(exc).lower():
        return True
    try:
        import anyio
    except ImportError:  # pragma: no cover - the SDK depends on anyio
        return isinstance(exc, OSError)
    return isinstance(exc, OSError | anyio.ClosedResourceError | anyio.BrokenResourceError | EOFError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions[:3])
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
