"""What `ModelClient.chat` sends for images, tools and tool results, and how each provider's replies
are read: the exact JSON on real sockets against the simulated endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.errors import MalformedResponseError, ModelError
from synthloom.models import (
    AudioPart,
    ImagePart,
    Message,
    ModelPool,
    TextPart,
    ToolCall,
    ToolSpec,
    as_messages,
)
from synthloom.models.providers import local_llamacpp
from synthloom.testing import ScriptedResponse, SimulatedEndpoint

WEATHER = ToolSpec(
    "weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CONVERSATION = [
    Message("system", "You answer with tools."),
    Message(
        "user",
        [
            TextPart("Where is this, and how is the weather?"),
            ImagePart(data="iVBORw0KGgo=", media_type="image/png"),
        ],
    ),
    Message("assistant", "Oslo, I think.", tool_calls=[ToolCall("call_1", "weather", {"city": "Oslo"})]),
    Message("tool", "4 °C, light snow", tool_call_id="call_1"),
]
OPENAI_CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You answer with tools."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Where is this, and how is the weather?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    },
    {
        "role": "assistant",
        "content": "Oslo, I think.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
            }
        ],
    },
    {"role": "tool", "content": "4 °C, light snow", "tool_call_id": "call_1"},
]
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOL_REPLY = {
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Bergen"}'},
                    },
                    {
                        "id": "call_3",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Trond'},
                    },
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 40, "completion_tokens": 12},
}
ANTHROPIC_TOOL_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [
        {"type": "thinking", "thinking": "Need the weather.", "signature": "s"},
        {"type": "text", "text": "Checking Bergen."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Bergen"}},
    ],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 50, "output_tokens": 20},
}


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


def _openai(endpoint: SimulatedEndpoint, **fields: Any) -> ModelConfig:
    return ModelConfig(alias="o", base_url=endpoint.base_url, model="sim-1", **fields)


def _anthropic(endpoint: SimulatedEndpoint) -> ModelConfig:
    base = endpoint.base_url.removesuffix("/v1")
    return ModelConfig(alias="a", provider="anthropic", base_url=base, model="claude-x")


async def test_openai_request_for_images_tools_calls_and_results(endpoint: SimulatedEndpoint) -> None:
    async with ModelPool([_openai(endpoint)]) as pool:
        await pool.client("o").chat(
            CONVERSATION, tools=[WEATHER], tool_choice="auto", inference=InferenceParams(max_tokens=64)
        )
    assert endpoint.requests[-1].path == "/v1/chat/completions"
    assert endpoint.requests[-1].json_body == {
        "model": "sim-1",
        "messages": OPENAI_CONVERSATION,
        "max_tokens": 64,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Current weather in a city.",
                    "parameters": WEATHER_SCHEMA,
                },
            }
        ],
        "tool_choice": "auto",
    }


async def test_anthropic_request_for_images_tools_calls_and_results(endpoint: SimulatedEndpoint) -> None:
    async with ModelPool([_anthropic(endpoint)]) as pool:
        await pool.client("a").chat(
            CONVERSATION, tools=[WEATHER], tool_choice="auto", inference=InferenceParams(max_tokens=64)
        )
    assert endpoint.requests[-1].path == "/v1/messages"
    assert endpoint.requests[-1].json_body == {
        "model": "claude-x",
        "max_tokens": 64,
        "system": "You answer with tools.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Where is this, and how is the weather?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Oslo, I think."},
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "4 °C, light snow"}],
            },
        ],
        "tools": [
            {"name": "weather", "description": "Current weather in a city.", "input_schema": WEATHER_SCHEMA}
        ],
        "tool_choice": {"type": "auto"},
    }


async def test_openai_style_dicts_send_the_same_request_as_typed_messages(
    endpoint: SimulatedEndpoint,
) -> None:
    async with ModelPool([_openai(endpoint), _anthropic(endpoint)]) as pool:
        for alias in ("o", "a"):
            await pool.client(alias).chat(CONVERSATION, tools=[WEATHER])
            await pool.client(alias).chat(OPENAI_CONVERSATION, tools=[WEATHER])
    bodies = [r.json_body for r in endpoint.requests]
    assert bodies[0] == bodies[1] and bodies[2] == bodies[3]
    assert bodies[0] != bodies[2]


async def test_anthropic_tool_results_of_one_turn_share_a_user_turn_with_the_text_after_them(
    endpoint: SimulatedEndpoint,
) -> None:
    conversation = [
        Message("user", [TextPart("Compare"), ImagePart(url="https://example.com/a.png")]),
        Message(
            "assistant",
            "",
            tool_calls=[ToolCall("t1", "weather", {"city": "A"}), ToolCall("t2", "weather", {"city": "B"})],
        ),
        Message("tool", "sunny", tool_call_id="t1"),
        Message("tool", [TextPart("rain")], tool_call_id="t2"),
        Message("user", "Which is warmer?"),
    ]
    async with ModelPool([_anthropic(endpoint)]) as pool:
        await pool.client("a").chat(conversation, tools=[WEATHER], tool_choice="weather")
    body = endpoint.requests[-1].json_body
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "A"}},
                {"type": "tool_use", "id": "t2", "name": "weather", "input": {"city": "B"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "rain"}]},
                {"type": "text", "text": "Which is warmer?"},
            ],
        },
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "weather"}


@pytest.mark.parametrize(
    ("choice", "openai", "anthropic"),
    [
        ("none", "none", {"type": "none"}),
        ("required", "required", {"type": "any"}),
        (
            "weather",
            {"type": "function", "function": {"name": "weather"}},
            {"type": "tool", "name": "weather"},
        ),
    ],
)
async def test_tool_choice_in_each_wire_shape(
    endpoint: SimulatedEndpoint, choice: str, openai: Any, anthropic: Any
) -> None:
    async with ModelPool([_openai(endpoint), _anthropic(endpoint)]) as pool:
        await pool.client("o").chat([Message("user", "hi")], tools=[WEATHER], tool_choice=choice)
        await pool.client("a").chat([Message("user", "hi")], tools=[WEATHER], tool_choice=choice)
    assert [r.json_body["tool_choice"] for r in endpoint.requests] == [openai, anthropic]


async def test_openai_tool_calls_are_parsed_and_malformed_arguments_kept(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(body=OPENAI_TOOL_REPLY))
    async with ModelPool([_openai(endpoint)]) as pool:
        result = await pool.client("o").chat(CONVERSATION, tools=[WEATHER])
    assert result.tool_calls == [
        ToolCall("call_2", "weather", {"city": "Bergen"}),
        ToolCall("call_3", "weather", {}, raw_arguments='{"city": "Trond'),
    ]
    assert (result.text, result.finish_reason) == ("", "tool_calls")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (40, 12)
    assert result.reply.tool_calls == result.tool_calls
    # The trace is the whole conversation in OpenAI form, ending with the assistant's calls as sent.
    assert result.messages == [
        *OPENAI_CONVERSATION,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Bergen"}'},
                },
                {
                    "id": "call_3",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Trond'},
                },
            ],
        },
    ]


async def test_anthropic_tool_use_blocks_are_parsed(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(body=ANTHROPIC_TOOL_REPLY))
    async with ModelPool([_anthropic(endpoint)]) as pool:
        result = await pool.client("a").chat(CONVERSATION, tools=[WEATHER])
    assert result.tool_calls == [ToolCall("toolu_1", "weather", {"city": "Bergen"})]
    assert (result.text, result.reasoning, result.finish_reason) == (
        "Checking Bergen.",
        "Need the weather.",
        "tool_use",
    )
    assert result.messages[-1] == {
        "role": "assistant",
        "content": "Checking Bergen.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Bergen"}'},
            }
        ],
    }


async def test_a_conversation_continues_from_the_trace_with_a_tool_result(
    endpoint: SimulatedEndpoint,
) -> None:
    endpoint.script(ScriptedResponse(body=ANTHROPIC_TOOL_REPLY), ScriptedResponse(text="Bergen: 7 °C."))
    async with ModelPool([_anthropic(endpoint)]) as pool:
        first = await pool.client("a").chat([Message("user", "Weather in Bergen?")], tools=[WEATHER])
        follow_up = [*first.messages, {"role": "tool", "content": "7 °C", "tool_call_id": "toolu_1"}]
        second = await pool.client("a").chat(follow_up, tools=[WEATHER])
    assert second.text == "Bergen: 7 °C."
    assert endpoint.requests[-1].json_body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking Bergen."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Bergen"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "7 °C"}]},
    ]


async def test_non_object_anthropic_tool_input_is_kept_as_text(endpoint: SimulatedEndpoint) -> None:
    body = {
        **ANTHROPIC_TOOL_REPLY,
        "content": [{"type": "tool_use", "id": "t", "name": "weather", "input": [1]}],
    }
    endpoint.script(ScriptedResponse(body=body))
    async with ModelPool([_anthropic(endpoint)]) as pool:
        result = await pool.client("a").chat([Message("user", "hi")], tools=[WEATHER])
    assert result.tool_calls == [ToolCall("t", "weather", {}, raw_arguments="[1]")]


async def test_a_tool_call_without_a_name_is_a_malformed_reply(endpoint: SimulatedEndpoint) -> None:
    body = {
        "choices": [
            {"message": {"content": None, "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}}
        ]
    }
    endpoint.script(ScriptedResponse(body=body))
    async with ModelPool([_openai(endpoint, max_retries=0)]) as pool:
        with pytest.raises(MalformedResponseError, match=r"function\.name"):
            await pool.client("o").chat([Message("user", "hi")], tools=[WEATHER])


async def test_audio_input_is_sent_to_openai_and_refused_for_anthropic(endpoint: SimulatedEndpoint) -> None:
    message = Message("user", [TextPart("Transcribe:"), AudioPart(data="UklGRg==", format="wav")])
    async with ModelPool([_openai(endpoint), _anthropic(endpoint)]) as pool:
        await pool.client("o").chat([message])
        with pytest.raises(ModelError, match="model 'a': provider 'anthropic' does not accept audio input"):
            await pool.client("a").chat([message])
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0].json_body["messages"][0]["content"][1] == {
        "type": "input_audio",
        "input_audio": {"data": "UklGRg==", "format": "wav"},
    }


async def test_anthropic_refuses_a_json_schema_response_format(endpoint: SimulatedEndpoint) -> None:
    async with ModelPool([_anthropic(endpoint)]) as pool:
        with pytest.raises(ModelError, match="no JSON-schema response format"):
            await pool.client("a").chat([Message("user", "hi")], response_format={"type": "json_object"})
    assert not endpoint.requests


async def test_tools_on_a_provider_without_tools_fail_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NeverStarted:
        def __init__(self, **kwargs: object) -> None:
            raise AssertionError("the local model must not start for a request it cannot send")

    monkeypatch.setattr(local_llamacpp, "LocalModelServer", NeverStarted)
    async with ModelPool([ModelConfig(alias="l", provider="local")]) as pool:
        with pytest.raises(ModelError, match="model 'l': provider 'local' does not support tools"):
            await pool.client("l").chat([Message("user", "hi")], tools=[WEATHER])
        with pytest.raises(ModelError, match="does not accept image input"):
            await pool.client("l").chat([Message("user", [ImagePart(url="https://example.com/x.png")])])


async def test_generate_text_still_takes_dicts_and_returns_a_dict_trace(endpoint: SimulatedEndpoint) -> None:
    messages = [{"role": "user", "content": "Name a colour."}]
    async with ModelPool([_openai(endpoint)]) as pool:
        result = await pool.client("o").generate_text(messages)
    assert result.messages == [*messages, {"role": "assistant", "content": result.text}]
    assert result.tool_calls == []
    assert as_messages(result.messages)[-1] == result.reply.to_message()
