"""Conversations as training formats need them: read from any common shape, written in each format's.

A conversation column may hold OpenAI messages (`[{role, content}, ...]`, with `tool_calls`,
`tool_call_id` and `name` kept), ShareGPT turns (`[{from, value}, ...]`) or OASST-style roles
(`prompter`); JSON text of either is parsed. Everything is read into OpenAI messages first:

    user      <- user, human, prompter          assistant <- assistant, gpt, bot, model
    system    <- system                         tool      <- tool, observation, function (a tool result)

ShareGPT is written with `human`, `gpt`, `system`, `observation` (a tool result) and `function_call`
(an assistant's tool calls, as JSON `[{name, arguments}]`), the roles LLaMA-Factory reads.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import orjson

from synthloom.outputs.value_sources import RecordFiltered

__all__ = ["as_text", "content_text", "normalize_conversation", "to_sharegpt"]

_ROLES = {
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
    "observation": "tool",
    "function": "tool",
}
_KEPT_KEYS = ("tool_calls", "tool_call_id", "name")
_SHAREGPT_ROLES = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}


def as_text(value: Any, where: str, *, required: bool = True) -> str | None:
    """A role's text: strings as they are, other values as JSON. A missing value filters the record
    when the part is required."""
    if value is None:
        if required:
            raise RecordFiltered(where, "no value (the source is null or missing)")
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=_text_default, option=orjson.OPT_NON_STR_KEYS).decode()


def _text_default(value: Any) -> Any:
    """Bytes in a role's value as base64 text, never their Python repr."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)


def normalize_conversation(value: Any, where: str) -> list[dict[str, Any]]:
    """`value` as OpenAI messages; a record whose value is not a conversation is filtered."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RecordFiltered(where, "not a conversation (text that is not a JSON list)") from None
    if not isinstance(value, list) or not value:
        what = "empty" if isinstance(value, list) else ("null" if value is None else type(value).__name__)
        raise RecordFiltered(where, f"not a conversation (expected a list of messages, got {what})")
    out: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise RecordFiltered(where, f"message {index} is not an object")
        raw_role = item.get("role", item.get("from"))
        role = _ROLES.get(str(raw_role).lower()) if raw_role is not None else None
        if raw_role == "function_call":
            out.append(_from_function_call(item.get("value"), where, index))
            continue
        if role is None:
            raise RecordFiltered(where, f"message {index} has an unknown role {raw_role!r}")
        content = item["content"] if "content" in item else item.get("value")
        message: dict[str, Any] = {"role": role, "content": content}
        for key in _KEPT_KEYS:
            if item.get(key) is not None:
                message[key] = item[key]
        out.append(message)
    return out


def _from_function_call(value: Any, where: str, index: int) -> dict[str, Any]:
    """A ShareGPT `function_call` turn back into an assistant message with tool calls."""
    try:
        calls = orjson.loads(value) if isinstance(value, str) else value
    except orjson.JSONDecodeError:
        calls = None
    if isinstance(calls, dict):
        calls = [calls]
    if not isinstance(calls, list) or not all(isinstance(c, dict) and "name" in c for c in calls):
        raise RecordFiltered(where, f"message {index}: a function_call must be JSON with a 'name'")
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "type": "function",
                "function": {"name": c["name"], "arguments": _arguments_text(c.get("arguments"))},
            }
            for c in calls
        ],
    }


def _arguments_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return orjson.dumps(arguments if arguments is not None else {}).decode()


def content_text(content: Any, where: str) -> str:
    """A message's content as plain text; formats that hold only text refuse images and audio."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RecordFiltered(
                    where, f"a message holds a non-text part ({kind}); this format holds text"
                )
        return "\n".join(texts)
    return as_text(content, where) or ""


def to_sharegpt(messages: list[dict[str, Any]], where: str) -> list[dict[str, str]]:
    """OpenAI messages as ShareGPT turns."""
    turns: list[dict[str, str]] = []
    for message in messages:
        role = message["role"]
        calls = message.get("tool_calls")
        text = content_text(message.get("content"), where)
        if role == "assistant" and calls:
            if text:
                turns.append({"from": "gpt", "value": text})
            turns.append({"from": "function_call", "value": _calls_json(calls)})
            continue
        turns.append({"from": _SHAREGPT_ROLES[role], "value": text})
    return turns


def _calls_json(calls: list[Any]) -> str:
    simple = []
    for call in calls:
        function = call.get("function", call) if isinstance(call, dict) else {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                arguments = orjson.loads(arguments)
        simple.append({"name": function.get("name"), "arguments": arguments})
    return orjson.dumps(simple[0] if len(simple) == 1 else simple).decode()
