"""The conversation vocabulary: messages, their content parts, tool calls and tool definitions.

    Message(role, content, *, tool_calls, tool_call_id, name)
    ├── role         "system" | "user" | "assistant" | "tool"
    ├── content      str, or a list of parts: TextPart | ImagePart | AudioPart
    ├── tool_calls   the calls an assistant turn makes (ToolCall: id, name, arguments)
    └── tool_call_id on a "tool" turn: the call whose result `content` is

Every provider renders these into its own wire shape. Traces are kept in OpenAI's messages form:
`Message.to_openai()` writes it and `as_messages` reads it (so callers may keep passing plain
`{"role": ..., "content": ...}` dicts). Plain frozen dataclasses: a request builds a few of them and
the client's own CPU per request is a benchmarked budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, TypeAlias

import orjson

__all__ = [
    "AudioPart",
    "ContentPart",
    "ImagePart",
    "Message",
    "Role",
    "TextPart",
    "ToolCall",
    "ToolSpec",
    "as_messages",
    "to_openai_messages",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
_ROLES = frozenset(("system", "user", "assistant", "tool"))


@dataclass(frozen=True, slots=True)
class TextPart:
    """Plain text inside a multi-part message."""

    text: str

    def to_openai(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePart:
    """An image, by `url` or as base64 `data` with its `media_type` (e.g. "image/png").

    `detail` is OpenAI's resolution hint ("low", "high", "auto"); other providers ignore it.
    """

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("an image part needs exactly one of 'url' or 'data'")
        if self.data is not None and not self.media_type:
            raise ValueError("an image part with base64 'data' needs its 'media_type' (e.g. image/png)")

    def to_openai(self) -> dict[str, Any]:
        url = self.url if self.url is not None else f"data:{self.media_type};base64,{self.data}"
        image: dict[str, Any] = {"url": url}
        if self.detail is not None:
            image["detail"] = self.detail
        return {"type": "image_url", "image_url": image}


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioPart:
    """Audio as base64 `data` in `format` ("wav", "mp3", ...)."""

    data: str
    format: str

    def to_openai(self) -> dict[str, Any]:
        return {"type": "input_audio", "input_audio": {"data": self.data, "format": self.format}}


ContentPart: TypeAlias = TextPart | ImagePart | AudioPart


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of tool `name` that an assistant turn makes.

    `arguments` is the parsed JSON object. When the model's argument text is not a JSON object,
    `arguments` is empty and `raw_arguments` keeps the text as sent, so the reply is not lost and the
    error can be sent back to the model.
    """

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None

    @classmethod
    def from_json_text(cls, id: str, name: str, text: str) -> ToolCall:
        """A call from argument text as OpenAI sends it (a JSON object, or something malformed)."""
        if not text.strip():
            return cls(id, name)
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return cls(id, name, raw_arguments=text)
        if not isinstance(parsed, dict):
            return cls(id, name, raw_arguments=text)
        return cls(id, name, parsed)

    def arguments_text(self) -> str:
        """The arguments as JSON text: the model's own text when it did not parse."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return orjson.dumps(self.arguments).decode()

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments_text()},
        }


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and its parameters as a JSON Schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation.

    `Message("user", "Hi")`, `Message("user", [TextPart("What is this?"), ImagePart(url=...)])`,
    `Message("assistant", "", tool_calls=[ToolCall(...)])`, `Message("tool", "42", tool_call_id="c1")`.
    """

    role: Role
    content: str | list[ContentPart] = ""
    _: KW_ONLY
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"unknown message role {self.role!r} (one of: system, user, assistant, tool)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError(f"a {self.role} message cannot carry tool calls; only an assistant message can")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a tool message, and only a tool message, needs 'tool_call_id'")

    @property
    def text(self) -> str:
        """The message's text: its content, or its text parts joined."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    def to_openai(self) -> dict[str, Any]:
        """This turn in OpenAI's chat-messages form (the form traces are stored in)."""
        content = self.content
        out: dict[str, Any] = {
            "role": self.role,
            "content": content if isinstance(content, str) else [part.to_openai() for part in content],
        }
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [call.to_openai() for call in self.tool_calls]
            if content == "":
                out["content"] = None  # what OpenAI itself sends for a turn that only calls tools
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_openai(cls, data: Mapping[str, Any]) -> Message:
        """A turn from OpenAI's chat-messages form; raises ValueError on a shape it cannot read."""
        role = data.get("role")
        content = data.get("content")
        if type(content) is str and len(data) == 2:  # the common case: {"role": ..., "content": "..."}
            return cls(role, content)  # type: ignore[arg-type]
        if not isinstance(role, str):
            raise ValueError(f"a message needs a 'role' string, got {data!r:.200}")
        return cls(
            role,  # type: ignore[arg-type]
            _content_from_openai(content),
            tool_calls=[_tool_call_from_openai(call) for call in data.get("tool_calls") or ()],
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
        )


def as_messages(messages: Iterable[Message | Mapping[str, Any]]) -> list[Message]:
    """Typed messages from `Message` objects and/or OpenAI-style dicts, in order."""
    out: list[Message] = []
    for message in messages:
        if type(message) is dict:  # the common case first: an ABC check costs more than the rest
            out.append(Message.from_openai(message))
        elif isinstance(message, Message):
            out.append(message)
        elif isinstance(message, Mapping):
            out.append(Message.from_openai(message))
        else:
            raise TypeError(f"a message is a Message or a dict, not {type(message).__name__}")
    return out


def to_openai_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Messages in OpenAI's chat-messages form."""
    return [message.to_openai() for message in messages]


# -- reading OpenAI's form -------------------------------------------------------------------------


def _content_from_openai(content: Any) -> str | list[ContentPart]:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ValueError(f"message content must be a string or a list of parts, not {type(content).__name__}")
    return [_part_from_openai(part) for part in content]


def _part_from_openai(part: Any) -> ContentPart:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind == "text":
        return TextPart(str(part.get("text", "")))
    if kind == "image_url":
        image = part.get("image_url")
        image = image if isinstance(image, Mapping) else {"url": image}
        url = image.get("url")
        if not isinstance(url, str):
            raise ValueError("an image_url part needs image_url.url")
        detail = image.get("detail")
        media_type, data = _split_data_url(url)
        if data is not None:
            return ImagePart(data=data, media_type=media_type, detail=detail)
        return ImagePart(url=url, detail=detail)
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        return AudioPart(data=str(audio.get("data", "")), format=str(audio.get("format", "")))
    raise ValueError(f"unknown content part {part!r:.200} (text, image_url or input_audio)")


def _split_data_url(url: str) -> tuple[str | None, str | None]:
    """(media type, base64 data) of a `data:<type>;base64,<data>` URL; (None, None) for any other URL."""
    if not url.startswith("data:"):
        return None, None
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not media_type:
        return None, None
    return media_type, data


def _tool_call_from_openai(call: Any) -> ToolCall:
    if not isinstance(call, Mapping):
        raise ValueError(f"a tool call must be an object, got {call!r:.200}")
    function = call.get("function") or {}
    name = function.get("name")
    if not isinstance(name, str):
        raise ValueError(f"a tool call needs function.name, got {call!r:.200}")
    call_id = str(call.get("id") or "")
    arguments = function.get("arguments")
    if isinstance(arguments, Mapping):
        return ToolCall(call_id, name, dict(arguments))
    return ToolCall.from_json_text(call_id, name, arguments if isinstance(arguments, str) else "")
