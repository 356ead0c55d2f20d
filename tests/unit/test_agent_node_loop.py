"""What an agent node is made of, each on its own: the tool loop's `max_turns` bound against a scripted
loopback server, the part of a trajectory one step added (`own_turn`), and a history that keeps an
agent's tool use for the agent alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from synthloom.columns.flow.agent import own_turn
from synthloom.columns.flow.config import HistoryConfig, Injection
from synthloom.columns.flow.history import ChatHistory
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ParseError
from synthloom.models import Message, ModelClient, ModelPool
from synthloom.testing import SimulatedEndpoint
from synthloom.tools import ToolLoop, Toolset, python_tools
from synthloom.tools.config import ToolSource

HERE = "tests.unit.test_agent_node_loop"
PROMPT = [Message("system", "Be brief."), Message("user", "Weather in Oslo?")]


def weather(city: str) -> str:
    """The weather in a city."""
    return f"{city}: 21C"


def toolset() -> Toolset:
    return Toolset(python_tools(ToolSource(function=f"{HERE}:weather"), field="tools[0]", default_timeout=5))


def calls_reply(call_id: str, city: str, text: str | None = None) -> dict[str, Any]:
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "weather", "arguments": f'{{"city": "{city}"}}'},
    }
    message = {"role": "assistant", "content": text, "tool_calls": [call]}
    return {"body": {"choices": [{"message": message, "finish_reason": "tool_calls"}], "usage": {}}}


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


# ---- max_turns in the tool loop -------------------------------------------------------------------


async def test_the_last_turn_max_turns_allows_is_asked_to_answer_without_tools(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(calls_reply("c1", "Oslo"), calls_reply("c2", "Oslo", text="Mild, 21C."))
    loop = ToolLoop(client, toolset(), mode="native", max_tool_calls=10, max_turns=2)
    result = await loop.run(PROMPT)
    bodies = [r.json_body for r in endpoint.requests]
    assert [b.get("tool_choice") for b in bodies] == [None, "none"]
    assert all(b["tools"] for b in bodies)  # still described: the conversation refers to them
    # The calls of the last turn are not run: its text is the answer.
    assert result.value == "Mild, 21C." and result.model_calls == 2
    assert [m["role"] for m in result.trajectory_messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]


async def test_a_model_calling_tools_on_its_last_turn_with_no_text_fails(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(calls_reply("c1", "Oslo"), calls_reply("c2", "Bergen"))
    loop = ToolLoop(client, toolset(), mode="native", max_tool_calls=10, max_turns=2)
    with pytest.raises(ParseError, match="still calling tools after max_turns=2"):
        await loop.run(PROMPT)
    assert len(endpoint.requests) == 2


async def test_corrections_stay_within_max_turns(endpoint: SimulatedEndpoint, client: ModelClient) -> None:
    endpoint.script({"text": "   "}, {"text": "Mild."})
    with pytest.raises(ParseError, match="no usable answer within max_turns=1 requests"):
        await ToolLoop(client, toolset(), mode="native", max_tool_calls=3, max_turns=1).run(PROMPT)
    assert len(endpoint.requests) == 1


async def test_without_max_turns_the_loop_is_bounded_by_tool_calls_only(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    endpoint.script(
        calls_reply("c1", "Oslo"), calls_reply("c2", "Rome"), calls_reply("c3", "Lima"), {"text": "Done."}
    )
    result = await ToolLoop(client, toolset(), mode="native", max_tool_calls=10).run(PROMPT)
    assert result.model_calls == 4 and len(result.outcomes) == 3
    assert all("tool_choice" not in r.json_body for r in endpoint.requests)


# ---- what one step added --------------------------------------------------------------------------


def test_own_turn_is_the_answer_and_the_tool_use_before_it() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    earlier = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "content": "r", "tool_call_id": "c"},
        {"role": "assistant", "content": "a1"},
    ]
    assert own_turn(earlier) == earlier[2:]
    with_next = [*earlier, {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]
    assert own_turn(with_next) == [{"role": "assistant", "content": "a2"}]
    # Speaking twice in a row: the earlier answer is not part of the later step.
    assert own_turn([*earlier, {"role": "assistant", "content": "a2"}]) == [
        {"role": "assistant", "content": "a2"}
    ]
    assert own_turn(None) == [] and own_turn([]) == []


# ---- a history with an agent in it ------------------------------------------------------------------


def test_an_agent_sees_its_own_tool_use_again_and_the_others_see_its_answers() -> None:
    chat = ChatHistory(HistoryConfig(window=2, inject=[Injection(at_turn=2, content="Be kind.")]))
    call = {"id": "c", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    own = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "content": "21C", "tool_call_id": "c"},
        {"role": "assistant", "content": "It is 21C."},
    ]
    chat.append("user", "Weather?")
    assert chat.inject_due({})
    chat.append("agent", "It is 21C.", own)
    assert chat.messages_for("agent") == [
        {"role": "user", "content": "Weather?"},
        {"role": "system", "content": "Be kind."},
        *own,
    ]
    assert chat.messages_for("user") == [
        {"role": "assistant", "content": "Weather?"},
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "It is 21C."},
    ]
    # The window counts spoken turns: an agent's turn is one, however many messages it holds.
    chat.append("user", "Thanks!")
    assert chat.messages_for("agent") == [*own, {"role": "user", "content": "Thanks!"}]
    assert chat.view()["turns"][1] == {"speaker": "agent", "content": "It is 21C."}
    # What a caller does with the messages it got does not change the history.
    chat.messages_for("agent")[0]["content"] = "changed"
    assert chat.messages_for("agent")[0]["content"] is None


async def test_call_ids_stay_unique_across_an_agents_earlier_turns(
    endpoint: SimulatedEndpoint, client: ModelClient
) -> None:
    """A server that numbers calls from `call_0` in every request would repeat the ids of the turns an
    agent sees again in its history."""
    earlier = [
        Message.from_openai(m)
        for m in [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": [_call("call_0"), _call("call_1_0")]},
            {"role": "tool", "content": "Oslo: 21C", "tool_call_id": "call_0"},
            {"role": "tool", "content": "Oslo: 21C", "tool_call_id": "call_1_0"},
            {"role": "assistant", "content": "Mild."},
            {"role": "user", "content": "And tomorrow?"},
        ]
    ]
    endpoint.script(calls_reply("call_0", "Oslo"), {"text": "Mild again."})
    result = await ToolLoop(client, toolset(), mode="native", max_tool_calls=3).run(earlier)
    ids = [c["id"] for m in result.trajectory_messages for c in m.get("tool_calls") or []]
    assert ids == ["call_0", "call_1_0", "call_1_0_"]
    assert result.trajectory_messages[-2]["tool_call_id"] == "call_1_0_"


def _call(call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
    }


def test_an_injection_for_one_speaker_is_seen_by_that_speaker_only() -> None:
    chat = ChatHistory(
        HistoryConfig(inject=[Injection(at_turn=2, role="user", content="Ask about refunds.", to="customer")])
    )
    chat.append("customer", "Hello.")
    assert chat.inject_due({})
    assert chat.messages_for("customer") == [
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Ask about refunds."},
    ]
    # The support agent never sees a second user turn in a row.
    assert chat.messages_for("support") == [{"role": "user", "content": "Hello."}]


def test_an_injection_for_an_unknown_speaker_is_a_plan_error() -> None:
    from synthloom.columns.flow.config import FlowColumn
    from synthloom.errors import PlanError

    flow = FlowColumn.model_validate(
        {
            "name": "chat",
            "histories": {"talk": {"inject": [{"at_turn": 2, "content": "x", "to": ["custmer"]}]}},
            "nodes": [
                {
                    "name": "a",
                    "type": "llm-text",
                    "model": "m",
                    "history": {"name": "talk", "speaker": "customer"},
                },
            ],
        }
    )
    with pytest.raises(PlanError) as caught:
        flow.check_structure()
    assert caught.value.field == "histories.talk.inject[0].to" and "'custmer'" in str(caught.value)
