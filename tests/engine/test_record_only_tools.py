"""Tool-call data without running anything (`execute: false`) on LLM columns and agent nodes, and
`response_format` sent next to tools for `llm-structured`, through the simulated endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model
from .test_tool_use import config

HERE = "tests.engine.test_record_only_tools"
RAN: list[str] = []


def book_flight(origin: str, destination: str) -> str:
    """Book a flight.

    Args:
        origin: Where from.
        destination: Where to.
    """
    RAN.append(f"{origin}->{destination}")
    return "booked"


def lookup(term: str) -> str:
    """Look a term up."""
    RAN.append(term)
    return f"{term}: known"


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    RAN.clear()
    async with SimulatedEndpoint(SimulatedEndpointConfig(tool_turns=2, tool_calls_per_turn=1)) as ep:
        yield ep


async def test_record_only_tools_keep_the_calls_and_run_nothing(endpoint: SimulatedEndpoint) -> None:
    tools = [{"function": f"{HERE}:book_flight", "execute": False}]
    result = await synthloom.apreview(config(endpoint.base_url, tools), num_records=5)
    assert len(result) == 5, result.failures
    assert RAN == []  # nothing was run
    for row in result:
        trajectory = row["answer__trajectory"]
        assert [m["role"] for m in trajectory] == ["system", "user", "assistant"]
        calls = trajectory[-1]["tool_calls"]
        assert [c["function"]["name"] for c in calls] == ["book_flight"]
        # The value is the calls themselves, as the trajectory's last turn holds them.
        sent = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]
        assert row["answer"] == [{"name": name, "arguments": arguments} for name, arguments in sent]
    # One request per record: the loop ended at the calls.
    assert len(endpoint.requests) == 5


async def test_an_agent_node_with_record_only_tools_ends_its_step_at_the_calls(
    endpoint: SimulatedEndpoint,
) -> None:
    flow = DatasetConfig.model_validate(
        {
            "name": "agent",
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {
                    "name": "chat",
                    "type": "flow",
                    "nodes": [
                        {
                            "name": "support",
                            "type": "agent",
                            "model": "m",
                            "prompt": "Book me a trip.",
                            "tools": [{"function": f"{HERE}:book_flight", "execute": False}],
                        }
                    ],
                    "outputs": {"calls": "support", "messages": "support__trajectory"},
                }
            ],
        }
    )
    result = await synthloom.apreview(flow, num_records=3)
    assert len(result) == 3, result.failures
    assert RAN == []
    for row in result:
        messages = row["chat"]["messages"]
        assert messages[-1]["role"] == "assistant" and messages[-1]["tool_calls"]
        assert row["chat"]["calls"][0]["name"] == "book_flight"


async def test_structured_answers_with_tools_go_as_response_format_not_prompt_text(
    endpoint: SimulatedEndpoint,
) -> None:
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["summary", "score"],
    }
    run = DatasetConfig.model_validate(
        {
            "name": "structured",
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {
                    "name": "facts",
                    "type": "llm-structured",
                    "model": "m",
                    "prompt": "Facts on tides.",
                    "schema": schema,
                    "tools": [{"function": f"{HERE}:lookup"}],
                }
            ],
        }
    )
    result = await synthloom.apreview(run, num_records=3)
    assert len(result) == 3, result.failures
    for row in result:
        jsonschema.validate(row["facts"], schema)
        user_turns = [m for m in row["facts__trajectory"] if m["role"] == "user"]
        assert user_turns == [{"role": "user", "content": "Facts on tides."}]
    bodies: list[dict[str, Any]] = [r.json_body for r in endpoint.requests]
    assert all(b["response_format"]["type"] == "json_schema" and b["tools"] for b in bodies)
    assert all("JSON" not in str(b["messages"][0]["content"]) for b in bodies)


def test_a_record_only_entry_refuses_a_timeout(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "columns:\n  - name: a\n    type: llm-text\n    model: m\n    prompt: hi\n"
        f"    tools: [{{function: '{HERE}:lookup', execute: false, timeout: 3}}]\n"
        "models: [{alias: m, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: x}]\n"
    )
    from click.testing import CliRunner

    from synthloom.interface.cli import cli

    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 2
    assert "'timeout' has no use with 'execute: false'" in out.output
