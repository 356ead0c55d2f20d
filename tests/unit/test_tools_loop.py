"""The tool loop against a scripted loopback server: the exact messages sent on each turn, parallel
calls, timeouts, oversized results, invented tools, malformed arguments, the call budget, ReAct."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.errors import ParseError
from synthloom.models import Message, ModelClient, ModelPool, ToolSpec
from synthloom.testing import SimulatedEndpoint
from synthloom.tools import Answer, ToolLoop, Toolset, python_tools
from synthloom.tools.config import ToolSource

HERE = "tests.unit.test_tools_loop"
PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Oslo?"}]

# -- tools ----------------------------------------------------------------------------------------


def weather(city: str) -> str:
    """The weather in a city."""
    return f"{city}: 21C"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def explode(reason: str) -> str:
    """Always raises."""
    raise RuntimeError(f"kaboom: {reason}")


def huge() -> str:
    """A result far over the size cap."""
    return "x" * 200_000


_release = threading.Event()


def stuck_in_thread() -> str:
    """A plain function that does not return until the test ends."""
    _release.wait(30)
    return "late"


async def stuck() -> str:
    """A coroutine that never returns."""
    await asyncio.Event().wait()
    return "never"


_barrier: asyncio.Barrier | None = None


async def meet(name: str) -> str:
    """Returns only once two calls are running at the same time."""
    assert _barrier is not None
    await asyncio.wait_for(_barrier.wait(), 5)
    return f"met {name}"


def tools(*names: str, timeout: float = 5.0) -> Toolset:
    out = []
    for name in names:
        out += python_tools(ToolSource(function=f"{HERE}:{name}"), field="tools[0]", default_timeout=timeout)
    return Toolset(out, max_result_bytes=1024)


# -- scripted replies -----------------------------------------------------------------------------


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def calls_reply(*calls: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": text, "tool_calls": list(calls)}
    return {"body": {"choices": [{"message": message, "finish_reason": "tool_calls"}], "usage": {}}}


def text_reply(text: str) -> dict[str, Any]:
    return {"text": text}


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


@pytest.fixture
async def client(endpoint: SimulatedEndpoint) -> AsyncIterator[ModelClient]:
    config = ModelConfig(
        alias="m", provider="openai", base_url=endpoint.base_url, model="sim", max_retries=0, timeout=10
    )
    async with ModelPool([config]) as pool:
        yield pool.client("m")


def sent(endpoint: SimulatedEndpoint, index: int) -> dict[str, Any]:
    body: dict[str, Any] = endpoint.requests[index].json_body
    return body


# -- native ---------------------------------------------------------------------------------------


async def test_native_loop_sends_tools_then_each_result_then_takes_the_answer(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(
        calls_reply(call("c1", "weather", '{"city": "Oslo"}'), text="Let me look."),
        text_reply("Mild: 21C."),
    )
    result = await ToolLoop(client, tools("weather", "add"), mode="native", max_tool_calls=4, tag="t").run(
        [Message.from_openai(m) for m in PROMPT]
    )
    first, second = sent(endpoint, 0), sent(endpoint, 1)
    assert first["messages"] == PROMPT
    assert [t["function"]["name"] for t in first["tools"]] == ["weather", "add"]
    assert first["tools"][0] == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    assert "tool_choice" not in first
    assistant = {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [call("c1", "weather", '{"city":"Oslo"}')],
    }
    tool_result = {"role": "tool", "content": "Oslo: 21C", "tool_call_id": "c1"}
    assert second["messages"] == [*PROMPT, assistant, tool_result]
    assert result.value == "Mild: 21C."
    assert result.trajectory_messages == [
        *PROMPT,
        assistant,
        tool_result,
        {"role": "assistant", "content": "Mild: 21C."},
    ]
    assert result.model_calls == 2
    assert result.usage.attempts == 2


async def test_calls_of_one_turn_run_concurrently_and_results_keep_their_order(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    global _barrier
    _barrier = asyncio.Barrier(2)  # `meet` returns only when both calls are in flight at once
    endpoint.script(
        calls_reply(call("a", "meet", '{"name": "first"}'), call("b", "meet", '{"name": "second"}')),
        text_reply("done"),
    )
    result = await ToolLoop(client, tools("meet"), mode="native", max_tool_calls=4).run(
        [Message("user", "go")]
    )
    results = [m for m in sent(endpoint, 1)["messages"] if m["role"] == "tool"]
    assert results == [
        {"role": "tool", "content": "met first", "tool_call_id": "a"},
        {"role": "tool", "content": "met second", "tool_call_id": "b"},
    ]
    assert result.value == "done"


async def test_a_tool_past_its_timeout_is_answered_with_a_timeout_result(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(
        calls_reply(
            call("a", "stuck", "{}"), call("b", "stuck_in_thread", "{}"), call("c", "add", '{"a": 1, "b": 2}')
        ),
        text_reply("gave up"),
    )
    try:
        result = await ToolLoop(
            client, tools("stuck", "stuck_in_thread", "add", timeout=0.05), mode="native", max_tool_calls=5
        ).run([Message("user", "go")])
    finally:
        _release.set()
    contents = [m["content"] for m in sent(endpoint, 1)["messages"] if m["role"] == "tool"]
    assert contents == [
        "Error: tool 'stuck' did not answer within 0.05s",
        "Error: tool 'stuck_in_thread' did not answer within 0.05s",
        "3",
    ]
    assert [o.error for o in result.outcomes] == ["timeout", "timeout", None]


async def test_an_oversized_result_is_cut_to_the_cap_and_says_so(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(calls_reply(call("a", "huge", "{}")), text_reply("ok"))
    result = await ToolLoop(client, tools("huge"), mode="native", max_tool_calls=2).run(
        [Message("user", "go")]
    )
    [content] = [m["content"] for m in sent(endpoint, 1)["messages"] if m["role"] == "tool"]
    assert content.startswith("x" * 1024 + "\n[truncated: the result was 200,000 bytes")
    assert "cut at 1,024" in content
    assert result.outcomes[0].truncated


async def test_invented_tools_bad_arguments_and_raising_tools_become_error_results(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(
        calls_reply(
            call("a", "search_web", '{"q": "x"}'),
            call("b", "add", '{"a": 1, "b": '),
            call("c", "add", '{"a": "one", "b": 2}'),
            call("d", "explode", '{"reason": "test"}'),
        ),
        text_reply("I could not do it."),
    )
    result = await ToolLoop(client, tools("add", "explode"), mode="native", max_tool_calls=8).run(
        [Message("user", "go")]
    )
    contents = [m["content"] for m in sent(endpoint, 1)["messages"] if m["role"] == "tool"]
    assert contents[0] == "Error: there is no tool named 'search_web' (tools: add, explode)"
    assert (
        contents[1]
        == 'Error: the arguments are not a JSON object: \'{"a": 1, "b": \'. Send them as one JSON object.'
    )
    assert contents[2].startswith("Error: invalid arguments for 'add': a: Input should be a valid integer")
    assert contents[3] == "Error: RuntimeError: kaboom: test"
    assert [o.error for o in result.outcomes] == ["unknown_tool", "arguments", "arguments", "error"]
    # The malformed arguments stay in the trajectory as the model sent them.
    assistant = result.trajectory_messages[1]
    assert assistant["tool_calls"][1]["function"]["arguments"] == '{"a": 1, "b": '
    assert result.value == "I could not do it."


async def test_past_max_tool_calls_the_rest_are_not_run_and_the_model_must_answer(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(
        calls_reply(call("a", "add", '{"a": 1, "b": 1}'), call("b", "add", '{"a": 2, "b": 2}')),
        calls_reply(call("c", "add", '{"a": 3, "b": 3}'), text="Final: 2 and 4."),
    )
    result = await ToolLoop(client, tools("add"), mode="native", max_tool_calls=1).run(
        [Message("user", "go")]
    )
    contents = [m["content"] for m in sent(endpoint, 1)["messages"] if m["role"] == "tool"]
    assert contents == ["2", "Error: not run: the limit of 1 tool calls is reached; answer now"]
    assert sent(endpoint, 1)["tool_choice"] == "none"
    # The model called a tool anyway, with text: the text is the answer, the call is dropped.
    assert result.value == "Final: 2 and 4."
    assert result.trajectory_messages[-1] == {"role": "assistant", "content": "Final: 2 and 4."}


async def test_a_model_that_keeps_calling_tools_with_no_answer_fails_the_cell(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(calls_reply(call("a", "add", '{"a": 1, "b": 1}')), calls_reply(call("b", "add", "{}")))
    with pytest.raises(ParseError, match="still calling tools after max_tool_calls=1"):
        await ToolLoop(client, tools("add"), mode="native", max_tool_calls=1).run([Message("user", "go")])


async def test_a_rejected_answer_gets_a_correction_turn_left_out_of_the_trajectory(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    def number(text: str) -> Answer:
        return Answer(True, int(text)) if text.strip().isdigit() else Answer(False, error="not a number")

    endpoint.script(text_reply("about four"), text_reply("4"))
    result = await ToolLoop(client, tools("add"), mode="native", max_tool_calls=1, what="a number").run(
        [Message("user", "2+2?")], number
    )
    assert sent(endpoint, 1)["messages"][-2:] == [
        {"role": "assistant", "content": "about four"},
        {
            "role": "user",
            "content": "Your previous reply could not be used: not a number. Reply again with only a number.",
        },
    ]
    assert result.value == 4
    assert result.trajectory_messages == [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]


async def test_reused_call_ids_are_made_unique_within_the_loop(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(
        calls_reply(call("call_0", "add", '{"a": 1, "b": 1}')),
        calls_reply(call("call_0", "add", '{"a": 2, "b": 2}')),
        text_reply("done"),
    )
    result = await ToolLoop(client, tools("add"), mode="native", max_tool_calls=4).run(
        [Message("user", "go")]
    )
    ids = [m["tool_call_id"] for m in result.trajectory_messages if m["role"] == "tool"]
    assert ids == ["call_0", "call_2_0"]


async def test_anthropic_loop_sends_tool_use_and_tool_result_blocks(endpoint: SimulatedEndpoint) -> None:
    config = ModelConfig(
        alias="c",
        provider="anthropic",
        base_url=endpoint.base_url.removesuffix("/v1"),
        model="claude",
        max_retries=0,
    )
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}}
    endpoint.script(
        {"body": {"content": [{"type": "text", "text": "Checking."}, tool_use], "stop_reason": "tool_use"}},
        {"body": {"content": [{"type": "text", "text": "21C in Oslo."}], "stop_reason": "end_turn"}},
    )
    async with ModelPool([config]) as pool:
        result = await ToolLoop(pool.client("c"), tools("weather"), mode="native", max_tool_calls=2).run(
            [Message.from_openai(m) for m in PROMPT]
        )
    first, second = sent(endpoint, 0), sent(endpoint, 1)
    assert first["tools"][0]["name"] == "weather" and "input_schema" in first["tools"][0]
    assert second["system"] == "Be brief."
    assert second["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, tool_use]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Oslo: 21C"}],
        },
    ]
    assert result.value == "21C in Oslo."
    assert result.trajectory_messages[2]["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city":"Oslo"}',
    }


# -- ReAct ----------------------------------------------------------------------------------------


async def test_react_loop_describes_tools_in_the_system_prompt_and_feeds_observations(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(
        text_reply(
            'Thought: I need the weather.\nAction: weather\nAction Input: {"city": "Oslo"}'
            "\nObservation: made up"
        ),
        text_reply("Thought: I know.\nFinal Answer: 21C in Oslo."),
    )
    loop = ToolLoop(
        client, tools("weather"), mode="react", max_tool_calls=3, inference=InferenceParams(stop=["END"])
    )
    result = await loop.run([Message.from_openai(m) for m in PROMPT])
    first, second = sent(endpoint, 0), sent(endpoint, 1)
    assert "tools" not in first
    assert first["stop"] == ["END", "\nObservation:"]
    system = first["messages"][0]["content"]
    assert system.startswith("Be brief.\n\nYou can use tools to help you answer.")
    assert '"name": "weather"' in system and "Action Input:" in system
    assert second["messages"][2:] == [
        {
            "role": "assistant",
            "content": 'Thought: I need the weather.\nAction: weather\nAction Input: {"city": "Oslo"}',
        },
        {"role": "user", "content": "Observation: Oslo: 21C"},
    ]
    assert result.value == "21C in Oslo."
    # The trajectory is in the native form, with the user's own system prompt.
    assert result.trajectory_messages == [
        *PROMPT,
        {
            "role": "assistant",
            "content": "I need the weather.",
            "tool_calls": [call("call_1", "weather", '{"city":"Oslo"}')],
        },
        {"role": "tool", "content": "Oslo: 21C", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "21C in Oslo."},
    ]


async def test_react_past_the_budget_is_told_to_answer_then_fails_if_it_will_not(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    act = text_reply('Action: add\nAction Input: {"a": 1, "b": 2}')
    endpoint.script(act, act, act)
    with pytest.raises(ParseError, match="still calling tools"):
        await ToolLoop(client, tools("add"), mode="react", max_tool_calls=1).run([Message("user", "go")])
    assert sent(endpoint, 2)["messages"][-1] == {
        "role": "user",
        "content": "Observation: Error: no more tool calls (the limit is 1). "
        "Reply with your Final Answer now.",
    }


def test_toolset_refuses_two_tools_with_one_name() -> None:
    from synthloom.errors import ToolError

    spec = ToolSpec("same")

    class Fake:
        timeout = 1.0

        def __init__(self) -> None:
            self.spec = spec

        async def call(self, arguments: dict[str, Any]) -> Any:
            return None

    with pytest.raises(ToolError, match="two tools are named 'same'"):
        Toolset([Fake(), Fake()])
