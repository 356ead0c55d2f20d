"""The simulated endpoint answers requests that offer tools with scripted tool calls, then a final answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jsonschema
import orjson
import pytest

from synthloom.models import ToolSpec
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig
from synthloom.tools import react_instructions

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "days"],
}
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": WEATHER}}]
ASK = [{"role": "user", "content": "Weather in Oslo?"}]


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint(SimulatedEndpointConfig(tool_turns=2, tool_calls_per_turn=3, seed=5)) as ep:
        yield ep


async def post(endpoint: SimulatedEndpoint, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(endpoint.base_url + path, data=orjson.dumps(body)) as response,
    ):
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def test_offered_tools_are_called_with_schema_valid_arguments_then_answered(
    endpoint: SimulatedEndpoint,
) -> None:
    first = await post(endpoint, "/chat/completions", {"model": "m", "messages": ASK, "tools": TOOLS})
    message = first["choices"][0]["message"]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] is None and len(message["tool_calls"]) == 3
    for call in message["tool_calls"]:
        assert call["function"]["name"] == "weather"
        jsonschema.validate(orjson.loads(call["function"]["arguments"]), WEATHER)
    results = [{"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in message["tool_calls"]]
    conversation = [*ASK, message, *results]
    second = await post(
        endpoint, "/chat/completions", {"model": "m", "messages": conversation, "tools": TOOLS}
    )
    second_message = second["choices"][0]["message"]
    assert len(second_message["tool_calls"]) == 3  # tool_turns=2
    ids = {c["id"] for c in message["tool_calls"]} | {c["id"] for c in second_message["tool_calls"]}
    assert len(ids) == 6
    results2 = [
        {"role": "tool", "tool_call_id": c["id"], "content": "rain"} for c in second_message["tool_calls"]
    ]
    final = await post(
        endpoint,
        "/chat/completions",
        {"model": "m", "messages": [*conversation, second_message, *results2], "tools": TOOLS},
    )
    assert final["choices"][0]["finish_reason"] == "stop"
    assert (
        final["choices"][0]["message"]["content"]
        == "Simulated reply to: Weather in Oslo? (after 6 tool results)"
    )


async def test_the_same_request_gets_the_same_calls(endpoint: SimulatedEndpoint) -> None:
    body = {"model": "m", "messages": ASK, "tools": TOOLS}
    one = await post(endpoint, "/chat/completions", body)
    two = await post(endpoint, "/chat/completions", body)
    assert one["choices"] == two["choices"]
    other = await post(
        endpoint, "/chat/completions", {**body, "messages": [{"role": "user", "content": "Bergen?"}]}
    )
    assert other["choices"] != one["choices"]


async def test_tool_choice_none_gets_the_answer_at_once(endpoint: SimulatedEndpoint) -> None:
    reply = await post(
        endpoint, "/chat/completions", {"model": "m", "messages": ASK, "tools": TOOLS, "tool_choice": "none"}
    )
    assert reply["choices"][0]["message"]["content"].startswith("Simulated reply to: Weather in Oslo?")


async def test_malformed_arguments_and_unknown_tools_come_at_their_rates(endpoint: SimulatedEndpoint) -> None:
    endpoint.update(tool_malformed_rate=1.0)
    reply = await post(endpoint, "/chat/completions", {"model": "m", "messages": ASK, "tools": TOOLS})
    for call in reply["choices"][0]["message"]["tool_calls"]:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(call["function"]["arguments"])
    endpoint.update(tool_malformed_rate=0.0, tool_unknown_rate=1.0)
    reply = await post(endpoint, "/chat/completions", {"model": "m", "messages": ASK, "tools": TOOLS})
    assert {c["function"]["name"] for c in reply["choices"][0]["message"]["tool_calls"]} == {
        "nonexistent_tool"
    }


async def test_anthropic_requests_get_tool_use_blocks(endpoint: SimulatedEndpoint) -> None:
    tools = [{"name": "weather", "input_schema": WEATHER}]
    reply = await post(
        endpoint, "/messages", {"model": "c", "max_tokens": 10, "messages": ASK, "tools": tools}
    )
    assert reply["stop_reason"] == "tool_use"
    blocks = reply["content"]
    assert [b["type"] for b in blocks] == ["tool_use"] * 3
    jsonschema.validate(blocks[0]["input"], WEATHER)


async def test_a_react_prompt_gets_action_text_then_a_final_answer(endpoint: SimulatedEndpoint) -> None:
    endpoint.update(tool_turns=1)
    system = {"role": "system", "content": react_instructions([ToolSpec("weather", "", WEATHER)])}
    reply = await post(endpoint, "/chat/completions", {"model": "m", "messages": [system, *ASK]})
    text = reply["choices"][0]["message"]["content"]
    assert text.startswith("Thought: I should use weather.\nAction: weather\nAction Input: {")
    conversation = [
        system,
        *ASK,
        {"role": "assistant", "content": text},
        {"role": "user", "content": "Observation: ok"},
    ]
    final = await post(endpoint, "/chat/completions", {"model": "m", "messages": conversation})
    assert final["choices"][0]["message"]["content"] == (
        "Thought: I have what I need.\n"
        "Final Answer: Simulated reply to: Weather in Oslo? (after 1 tool results)"
    )
