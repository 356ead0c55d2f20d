"""MCP servers with secrets (stdio `env`, HTTP `headers` and `${NAME}` in `url`), kept out of tool
results, trajectories, lineage and every file of the run; a hung server found and restarted; the SDK's
logging of a noisy server contained; the cap on tools offered per request. All through a real MCP
server written with the SDK (`mcp_tool_server.py`), over stdio and streamable HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import synthloom
from synthloom.models import ToolCall
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig
from synthloom.tools import McpServer, McpTool, Toolset, mcp_servers
from synthloom.tools.config import McpServerConfig

from .test_tool_use import SERVER, config, listening_socket, stdio_server, tool_results

pytest.importorskip("mcp")

SECRET = "tok-5d1e0a77-do-not-leak"


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint(SimulatedEndpointConfig(tool_turns=1, tool_calls_per_turn=1)) as ep:
        yield ep


def run_files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if p.is_file())


async def test_a_secret_a_stdio_server_echoes_never_reaches_the_data_or_any_file(
    endpoint: SimulatedEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLOOM_TEST_TOKEN", SECRET)
    tools = [{**stdio_server(env={"API_TOKEN": "${SYNTHLOOM_TEST_TOKEN}"}), "include": ["leak"]}]
    run = config(endpoint.base_url, tools, with_trace=True)
    result = await synthloom.acreate(run, 6, tmp_path)
    rows = list(result)
    assert len(rows) == 6 and not result.failures
    for row in rows:
        assert tool_results(row["answer__trajectory"]) == ["using token *** for the lookup"]
    files = list(run_files(tmp_path / "tools"))
    assert any("lineage" in str(p) for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[int]:
    uvicorn = pytest.importorskip("uvicorn")
    sys.path.insert(0, str(SERVER.parent))
    try:
        from mcp_tool_server import server as mcp_server  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SERVER.parent))
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        http = uvicorn.Server(
            uvicorn.Config(mcp_server.streamable_http_app(), log_level="error", lifespan="on")
        )
        serving = asyncio.create_task(http.serve(sockets=[sock]))
        try:
            yield port
        finally:
            http.should_exit = True
            await asyncio.wait_for(serving, 10)


async def test_http_headers_and_url_references_are_read_from_the_environment_and_never_written(
    endpoint: SimulatedEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with http_server() as port:
        monkeypatch.setenv("SYNTHLOOM_TEST_PORT", str(port))
        monkeypatch.setenv("SYNTHLOOM_TEST_KEY", SECRET)
        server = {
            "url": "http://127.0.0.1:${SYNTHLOOM_TEST_PORT}/mcp",
            "headers": {"X-Api-Key": "${SYNTHLOOM_TEST_KEY}"},
        }
        result = await synthloom.acreate(
            config(endpoint.base_url, [{"mcp": server, "include": ["auth_header"]}]), 4, tmp_path
        )
    rows = list(result)
    assert len(rows) == 4 and not result.failures
    # The server got the key (it echoed exactly the secret, which the scrubber then recognised).
    for row in rows:
        assert tool_results(row["answer__trajectory"]) == ["key *** accepted"]
    for path in run_files(tmp_path / "tools"):
        assert SECRET.encode() not in path.read_bytes(), path
    written = (tmp_path / "tools" / "config.yaml").read_text()
    assert "${SYNTHLOOM_TEST_KEY}" in written and "${SYNTHLOOM_TEST_PORT}" in written


async def test_a_hung_server_is_found_after_timeouts_in_a_row_and_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(mcp_servers, "_PING_TIMEOUT", 0.5)
    marker = tmp_path / "hang"
    marker.write_text("x")
    server = McpServer(
        McpServerConfig(command=[sys.executable, str(SERVER)], env={"HANG_MARKER": str(marker)})
    )
    try:
        toolset = Toolset([McpTool(server, name, spec, timeout=0.3) for name, spec in await server.tools()])
        first_pid = int(await server.call("server_pid", {}))
        with caplog.at_level(logging.WARNING, logger="synthloom.tools.mcp_servers"):
            for index in range(mcp_servers.HANG_AFTER):
                [outcome] = await toolset.run([ToolCall(str(index), "hang", {})])
                assert outcome.error == "timeout"
        assert server.hangs == 1
        assert any("did not answer 3 tool calls in a row" in r.getMessage() for r in caplog.records)
        # The next call starts the server again (a start takes longer than those calls' timeout).
        answer = await server.call("hang", {})
        assert answer.startswith("answered by ") and int(answer.rsplit(" ", 1)[1]) != first_pid
        assert server.starts == 2
    finally:
        await server.aclose()


async def test_slow_tools_on_a_live_server_are_not_taken_for_a_hang() -> None:
    server = McpServer(McpServerConfig(command=[sys.executable, str(SERVER)]))
    try:
        toolset = Toolset([McpTool(server, name, spec, timeout=0.2) for name, spec in await server.tools()])
        for index in range(mcp_servers.HANG_AFTER + 1):
            [outcome] = await toolset.run([ToolCall(str(index), "slow", {"seconds": 30})])
            assert outcome.error == "timeout"
        assert server.hangs == 0 and server.starts == 1
    finally:
        await server.aclose()


async def test_a_server_flooding_stdout_with_junk_logs_a_few_single_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = McpServer(McpServerConfig(command=[sys.executable, str(SERVER)], env={"NOISE_LINES": "500"}))
    try:
        with caplog.at_level(logging.DEBUG, logger="mcp"):
            tools = dict(await server.tools())
            assert "add" in tools
            assert await server.call("add", {"a": 1, "b": 2}) == "3"
    finally:
        await server.aclose()
    noisy = [r for r in caplog.records if r.name.startswith("mcp.") and r.levelno >= logging.WARNING]
    assert 1 <= len(noisy) <= 5
    assert all(r.exc_info is None for r in noisy)
    assert "not shown" in noisy[-1].getMessage()


async def test_a_server_offering_more_tools_than_max_tools_fails_with_what_to_do(
    endpoint: SimulatedEndpoint,
) -> None:
    result = await synthloom.apreview(config(endpoint.base_url, [stdio_server()], max_tools=3), num_records=2)
    assert len(result) == 0
    error = result.failures[0]["error"]
    assert "more than max_tools (3)" in error and "'include'" in error


def test_headers_go_only_with_a_url_and_references_must_be_well_formed() -> None:
    with pytest.raises(ValueError, match="'headers' is only for a server at a 'url'"):
        McpServerConfig(command=["python"], headers={"X": "y"})
    with pytest.raises(ValueError, match="a '\\$\\{' that is not a reference"):
        McpServerConfig(url="http://127.0.0.1/mcp", headers={"X": "${1BAD}"})
    label = McpServerConfig(url="https://h.example/mcp?key=abc").label()
    assert "abc" not in label
