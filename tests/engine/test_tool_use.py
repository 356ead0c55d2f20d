"""Tool-using columns in whole runs: Python tools and a real MCP server (written with the SDK's server
side, `mcp_tool_server.py`) used through the simulated endpoint; a server killed mid-run; trajectory
datasets in OpenAI messages form."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.errors import ToolError
from synthloom.models import Message, ToolCall, ToolSpec
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig
from synthloom.tools import McpServer, McpTool, Toolset
from synthloom.tools.config import McpServerConfig

from .conftest import model

SERVER = Path(__file__).with_name("mcp_tool_server.py")
HERE = "tests.engine.test_tool_use"

pytest.importorskip("mcp")


def lookup(term: str) -> str:
    """Look a term up in the encyclopedia.

    Args:
        term: What to look up.
    """
    return f"{term}: a thing worth knowing"


def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


def stdio_server(**extra: Any) -> dict[str, Any]:
    return {"mcp": {"command": [sys.executable, str(SERVER)], **extra}}


def config(
    base_url: str, tools: list[dict[str, Any]], *, records_per_group: int = 10, **column: Any
) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "tools",
            "models": [model("m", base_url)],
            "columns": [
                {
                    "name": "topic",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["tides", "moss"]},
                },
                {
                    "name": "answer",
                    "type": "llm-text",
                    "model": "m",
                    "system_prompt": "Use the tools.",
                    "prompt": "Tell me about {{ topic }}.",
                    "tools": tools,
                    **column,
                },
            ],
            "run": {"buffer_size": records_per_group, "max_row_groups_in_flight": 1},
        }
    )


def tool_results(trajectory: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in trajectory if m["role"] == "tool"]


def check_openai_messages(messages: list[dict[str, Any]]) -> None:
    """A valid OpenAI chat `messages` list of a tool-use conversation, ending with the answer."""
    assert messages[-1]["role"] == "assistant" and isinstance(messages[-1]["content"], str)
    open_calls: set[str] = set()
    for message in messages:
        Message.from_openai(message)  # the shape parses
        assert set(message) <= {"role", "content", "tool_calls", "tool_call_id", "name"}
        if message["role"] == "assistant" and message.get("tool_calls"):
            assert not open_calls, "a new tool-calling turn before every call was answered"
            for call in message["tool_calls"]:
                assert call["type"] == "function" and isinstance(call["function"]["arguments"], str)
                open_calls.add(call["id"])
        elif message["role"] == "tool":
            open_calls.remove(message["tool_call_id"])
        else:
            assert not open_calls
    assert not open_calls


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint(SimulatedEndpointConfig(tool_turns=2, tool_calls_per_turn=2)) as ep:
        yield ep


async def test_a_column_calls_a_stdio_mcp_server_started_once_per_run(
    endpoint: SimulatedEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLOOM_TEST_GREETING", "howdy")
    monkeypatch.setenv("SYNTHLOOM_TEST_TOKEN", "tok-8c1f55e2-secret")
    server = stdio_server(
        env={"GREETING": "${SYNTHLOOM_TEST_GREETING}", "API_TOKEN": "${SYNTHLOOM_TEST_TOKEN}"}
    )
    tools = [{**server, "include": ["greet", "server_pid"]}]
    result = await synthloom.acreate(config(endpoint.base_url, tools), 20, tmp_path)
    rows = list(result)
    assert len(rows) == 20 and not result.failures
    results = [text for row in rows for text in tool_results(row["answer__trajectory"])]
    assert len(results) == 20 * 4  # 2 turns of 2 calls each
    greetings = [r for r in results if not r.isdigit()]
    pids = {r for r in results if r.isdigit()}
    assert greetings and all(g.startswith("howdy, ") for g in greetings)
    assert len(pids) == 1  # one server process for the whole run
    assert all(row["answer"].startswith("Simulated reply to: Tell me about") for row in rows)
    # The environment's values never reach the run directory.
    for path in (tmp_path / "tools").rglob("*"):
        if path.is_file():
            assert b"tok-8c1f55e2-secret" not in path.read_bytes(), path
    assert "${SYNTHLOOM_TEST_TOKEN}" in (tmp_path / "tools" / "config.yaml").read_text()
    assert result.usage["columns"]["answer"]["requests"] == 20 * 3


async def test_a_server_killed_mid_run_fails_its_rows_and_is_restarted_for_later_cells(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    marker = tmp_path / "crash-once"
    marker.touch()  # the first tool call finds it, deletes it and kills the server
    tools = [{**stdio_server(env={"CRASH_MARKER": str(marker)}), "include": ["server_pid"]}]
    run = config(endpoint.base_url, tools, records_per_group=5)
    run.run.max_failure_rate = 1.0
    result = await synthloom.acreate(run, 20, tmp_path / "out")
    assert result.metadata["status"] == "completed"
    failures = result.failures
    assert 1 <= len(failures) <= 5  # only cells with a call in flight on the dead server
    for failure in failures:
        assert failure["column"] == "answer"
        assert failure["error_type"] == "ToolError"
        assert (
            "MCP server 'python mcp_tool_server.py' stopped during a call of 'server_pid'" in failure["error"]
        )
    assert {f["row_group"] for f in failures} == {0}  # the later row groups all made it
    rows = list(result)
    assert len(rows) == 20 - len(failures)
    pids = {text for row in rows for text in tool_results(row["answer__trajectory"])}
    assert len(pids) == 1 and not marker.exists()  # every kept row used the restarted server


async def test_a_server_that_cannot_start_fails_the_rows_that_need_it(endpoint: SimulatedEndpoint) -> None:
    tools = [
        {"mcp": {"command": [sys.executable, "-c", "import sys; sys.stderr.write('no config'); sys.exit(3)"]}}
    ]
    run = config(endpoint.base_url, tools, records_per_group=4)
    run.run.max_failure_rate = 1.0
    result = await synthloom.apreview(run, num_records=4)
    assert len(result) == 0
    assert len(result.failures) == 4
    assert all(f["error_type"] == "ToolError" for f in result.failures)
    assert "could not be started" in result.failures[0]["error"]
    assert "no config" in result.failures[0]["error"]  # the server's stderr says why


async def test_a_trajectory_dataset_is_a_valid_openai_messages_list(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    endpoint.update(tool_unknown_rate=0.2, tool_malformed_rate=0.2)
    tools = [{"function": f"{HERE}:lookup"}, {"function": f"{HERE}:multiply", "timeout": 5}]
    result = await synthloom.acreate(
        config(endpoint.base_url, tools, trajectory="value", max_tool_calls=8), 30, tmp_path
    )
    rows = list(result)
    assert len(rows) == 30 and not result.failures
    assert set(rows[0]) == {"topic", "answer"}
    errors = 0
    for row in rows:
        messages = row["answer"]
        check_openai_messages(messages)
        assert messages[0] == {"role": "system", "content": "Use the tools."}
        assert messages[1] == {"role": "user", "content": f"Tell me about {row['topic']}."}
        errors += sum(1 for text in tool_results(messages) if text.startswith("Error: "))
    assert errors  # invented tools and malformed arguments came back as results, and the rows were kept
    exported = tmp_path / "tools.jsonl"
    result.to_jsonl(exported)
    first = json.loads(exported.read_text().splitlines()[0])
    check_openai_messages(first["answer"])


async def test_react_mode_gives_a_structured_value_through_prompted_tools(
    endpoint: SimulatedEndpoint,
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        "required": ["summary", "score"],
    }
    run = config(endpoint.base_url, [{"function": f"{HERE}:lookup"}], tool_mode="react")
    run.columns[1] = type(run.columns[1]).model_validate({**run.columns[1].model_dump(), "with_trace": True})
    structured = DatasetConfig.model_validate(
        {
            **run.to_dict(),
            "columns": [
                run.to_dict()["columns"][0],
                {
                    "name": "facts",
                    "type": "llm-structured",
                    "model": "m",
                    "prompt": "Facts on {{ topic }}.",
                    "schema": schema,
                    "tools": [{"function": f"{HERE}:lookup"}],
                    "tool_mode": "react",
                },
            ],
        }
    )
    result = await synthloom.apreview(structured, num_records=6)
    assert len(result) == 6
    for row in result:
        jsonschema.validate(row["facts"], schema)
        trajectory = row["facts__trajectory"]
        check_openai_messages(trajectory)
        assert [m["role"] for m in trajectory] == [
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
        ]
        assert tool_results(trajectory)[0].endswith(": a thing worth knowing")
    sent = endpoint.requests[-1].json_body
    assert "tools" not in sent and sent["stop"] == ["\nObservation:"]


async def test_anthropic_models_use_tools_through_tool_use_blocks(endpoint: SimulatedEndpoint) -> None:
    run = DatasetConfig.model_validate(
        {
            "models": [
                {
                    "alias": "c",
                    "provider": "anthropic",
                    "base_url": endpoint.base_url.removesuffix("/v1"),
                    "model": "claude",
                    "timeout": 5,
                }
            ],
            "columns": [
                {
                    "name": "answer",
                    "type": "llm-text",
                    "model": "c",
                    "prompt": "What is 6 times 7?",
                    "tools": [{"function": f"{HERE}:multiply"}],
                }
            ],
        }
    )
    result = await synthloom.apreview(run, num_records=3)
    assert len(result) == 3
    for row in result:
        check_openai_messages(row["answer__trajectory"])
        assert len(tool_results(row["answer__trajectory"])) == 4
    assert endpoint.requests[-1].path == "/v1/messages"
    assert endpoint.requests[-1].json_body["messages"][-1]["content"][0]["type"] == "tool_result"


@contextlib.contextmanager
def listening_socket() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections queue until the server accepts: no waiting for it to be ready
    try:
        yield sock
    finally:
        sock.close()


async def test_a_column_calls_an_mcp_server_over_streamable_http(endpoint: SimulatedEndpoint) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    sys.path.insert(0, str(SERVER.parent))
    try:
        from mcp_tool_server import server as mcp_server  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SERVER.parent))
    app = mcp_server.streamable_http_app()
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        http = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
        serving = asyncio.create_task(http.serve(sockets=[sock]))
        try:
            tools = [{"mcp": {"url": f"http://127.0.0.1:{port}/mcp"}, "include": ["add"], "prefix": "calc_"}]
            result = await synthloom.apreview(config(endpoint.base_url, tools), num_records=4)
        finally:
            http.should_exit = True
            await asyncio.wait_for(serving, 10)
    assert len(result) == 4, result.failures
    for row in result:
        trajectory = row["answer__trajectory"]
        names = {c["function"]["name"] for m in trajectory for c in m.get("tool_calls") or []}
        assert names == {"calc_add"}
        assert all(text.lstrip("-").isdigit() for text in tool_results(trajectory))


# -- the MCP session manager on its own -----------------------------------------------------------


async def test_mcp_tool_errors_timeouts_and_unknown_names_come_back_as_results() -> None:
    server = McpServer(McpServerConfig(command=[sys.executable, str(SERVER)]))
    try:
        specs = dict(await server.tools())
        assert specs["weather"].description.startswith("Today's weather in a city.")
        assert specs["weather"].parameters["required"] == ["city"]
        toolset = Toolset(
            [
                McpTool(server, name, spec, timeout=0.3 if name == "slow" else 5)
                for name, spec in specs.items()
            ]
            + [McpTool(server, "vanished", ToolSpec("vanished"), timeout=5)]
        )
        outcomes = await toolset.run(
            [
                ToolCall("1", "add", {"a": 2, "b": 3}),
                ToolCall("2", "fail", {"message": "nope"}),
                ToolCall("3", "slow", {"seconds": 30}),
                ToolCall("4", "add", {"a": "two"}),
                ToolCall("5", "vanished", {}),
            ]
        )
        assert outcomes[0].content == "5" and outcomes[0].error is None
        assert outcomes[1].content.startswith("Error: ")
        assert (outcomes[2].content, outcomes[2].error) == (
            "Error: tool 'slow' did not answer within 0.3s",
            "timeout",
        )
        assert outcomes[3].content.startswith("Error: ") and "validation error" in outcomes[3].content
        assert outcomes[4].content.startswith("Error: ") and "vanished" in outcomes[4].content
        pid = int(await server.call("server_pid", {}))
        assert server.starts == 1
    finally:
        await server.aclose()
    with pytest.raises(ProcessLookupError):  # closing the run stopped (and reaped) the server
        os.kill(pid, 0)


async def test_a_server_that_will_not_start_is_tried_once_per_back_off_not_once_per_cell(
    tmp_path: Path,
) -> None:
    launches = tmp_path / "launches"
    script = f"import sys; open({str(launches)!r}, 'a').write('x'); sys.exit(3)"
    server = McpServer(McpServerConfig(command=[sys.executable, "-c", script]))
    try:
        outcomes = await asyncio.gather(*(server.tools() for _ in range(6)), return_exceptions=True)
    finally:
        await server.aclose()
    assert all(isinstance(o, ToolError) and "could not be started" in str(o) for o in outcomes)
    assert launches.read_text() == "x"


async def test_a_judge_can_look_things_up_before_it_scores(endpoint: SimulatedEndpoint) -> None:
    run = DatasetConfig.model_validate(
        {
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {"name": "claim", "type": "sampler", "sampler": "category", "params": {"values": ["a", "b"]}},
                {
                    "name": "grade",
                    "type": "llm-judge",
                    "model": "m",
                    "prompt": "Claim: {{ claim }}",
                    "scores": [
                        {"name": "accuracy", "description": "Is it true?", "options": {1: "no", 2: "yes"}}
                    ],
                    "tools": [{"function": f"{HERE}:lookup"}],
                },
            ],
        }
    )
    result = await synthloom.apreview(run, num_records=3)
    assert len(result) == 3
    for row in result:
        assert row["grade"]["accuracy"]["score"] in (1, 2)
        assert len(tool_results(row["grade__trajectory"])) == 4


async def test_python_in_an_mcp_command_is_the_interpreter_running_synthloom(
    endpoint: SimulatedEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first `python` on PATH may lack the `mcp` SDK (here: one that cannot run anything)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "python"
    fake.write_text("#!/bin/sh\necho 'not the python you want' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    tools = [{"mcp": {"command": ["python", str(SERVER)]}, "include": ["greet", "server_pid"]}]
    result = await synthloom.acreate(config(endpoint.base_url, tools), 5, tmp_path / "out")
    assert len(result) == 5 and not result.failures
