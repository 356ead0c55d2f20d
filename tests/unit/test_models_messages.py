"""The typed message model: OpenAI-form dicts in and out, content parts, tool calls."""

from __future__ import annotations

import re
from typing import Any

import pytest

from synthloom.models import (
    AudioPart,
    ImagePart,
    Message,
    Reply,
    TextPart,
    ToolCall,
    as_messages,
    to_openai_messages,
)

ROUND_TRIPS: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi", "name": "ada"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in these?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        ],
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":1,"b":2}'}},
            {"id": "c2", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b'}},
        ],
    },
    {"role": "tool", "content": "3", "tool_call_id": "c1"},
    {"role": "assistant", "content": "The sum is 3."},
]


def test_openai_dicts_round_trip_exactly() -> None:
    assert to_openai_messages(as_messages(ROUND_TRIPS)) == ROUND_TRIPS


def test_dicts_become_typed_messages() -> None:
    user, assistant, tool = as_messages(ROUND_TRIPS[2:5])
    assert user.content == [
        TextPart("What is in these?"),
        ImagePart(url="https://example.com/cat.png", detail="low"),
        ImagePart(data="/9j/4AAQ", media_type="image/jpeg"),
        AudioPart(data="UklGRg==", format="wav"),
    ]
    assert assistant.content == ""
    assert assistant.tool_calls == [
        ToolCall("c1", "add", {"a": 1, "b": 2}),
        ToolCall("c2", "add", {}, raw_arguments='{"a": 1, "b'),
    ]
    assert (tool.role, tool.content, tool.tool_call_id) == ("tool", "3", "c1")


def test_typed_messages_and_dicts_mix() -> None:
    typed = Message("user", "Hi")
    assert as_messages([{"role": "system", "content": "S"}, typed]) == [Message("system", "S"), typed]


def test_malformed_tool_arguments_are_kept_as_text_and_sent_back_as_they_were() -> None:
    for text in ['{"a": 1,', "[1, 2]", '"just a string"']:
        call = ToolCall.from_json_text("c", "f", text)
        assert (call.arguments, call.raw_arguments) == ({}, text)
        assert call.to_openai()["function"]["arguments"] == text
    assert ToolCall.from_json_text("c", "f", "  ") == ToolCall("c", "f")


def test_arguments_given_as_an_object_are_accepted() -> None:
    [message] = as_messages(
        [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {"x": 1}}}]}]
    )
    assert message.tool_calls == [ToolCall("c", "f", {"x": 1})]


def test_message_text_joins_text_parts() -> None:
    message = Message("user", [TextPart("a"), ImagePart(url="u"), TextPart("b")])
    assert message.text == "ab"


def test_reply_becomes_the_assistant_turn() -> None:
    call = ToolCall("c", "f", {"x": 1})
    reply = Reply(text="", reasoning="hidden", tool_calls=[call])
    assert reply.to_message() == Message("assistant", "", tool_calls=[call])
    assert reply.to_message().to_openai() == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}],
    }


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"role": "robot", "content": "hi"}, "unknown message role 'robot'"),
        ({"content": "hi"}, "needs a 'role' string"),
        ({"role": "tool", "content": "3"}, "needs 'tool_call_id'"),
        ({"role": "user", "content": "x", "tool_call_id": "c"}, "needs 'tool_call_id'"),
        (
            {"role": "user", "content": "", "tool_calls": [{"id": "c", "function": {"name": "f"}}]},
            "only an assistant message",
        ),
        ({"role": "user", "content": [{"type": "video", "url": "v"}]}, "unknown content part"),
        ({"role": "user", "content": 42}, "string or a list of parts"),
        ({"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}, "function.name"),
    ],
)
def test_unreadable_messages_say_what_is_wrong(data: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        as_messages([data])


def test_a_message_must_be_a_message_or_a_dict() -> None:
    with pytest.raises(TypeError, match="not str"):
        as_messages(["hello"])  # type: ignore[list-item]


def test_an_image_needs_exactly_one_source_and_data_needs_a_media_type() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ImagePart()
    with pytest.raises(ValueError, match="exactly one"):
        ImagePart(url="u", data="d", media_type="image/png")
    with pytest.raises(ValueError, match="media_type"):
        ImagePart(data="d")


def test_a_non_base64_data_url_stays_a_url() -> None:
    [message] = as_messages(
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,hello"}}]}]
    )
    assert message.content == [ImagePart(url="data:,hello")]
