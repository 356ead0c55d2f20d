"""Anthropic's Messages API: top-level system prompt, required max_tokens, content blocks.

Tool calls are `tool_use` blocks in the assistant turn; tool results are `tool_result` blocks at the
start of the next user turn (results of one assistant turn share one user turn). Images are `image`
blocks with a base64 or URL source. There is no audio input, no JSON-schema response format and no
embeddings endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from synthloom.config.model_config import ModelConfig
from synthloom.errors import MalformedResponseError, ModelError
from synthloom.models.messages import AudioPart, ContentPart, ImagePart, Message, TextPart, ToolCall, ToolSpec
from synthloom.models.providers.base import ChatRequest, Provider, ProviderCapabilities
from synthloom.models.providers.sampling import sample
from synthloom.models.reply import Reply

__all__ = ["ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS", "AnthropicProvider"]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider(Provider):
    """`POST {base_url}/v1/messages` with `x-api-key` and `anthropic-version` headers."""

    name = "anthropic"
    batch_protocol = "anthropic"
    capabilities = ProviderCapabilities(tools=True, vision=True)
    default_base_url = ANTHROPIC_BASE_URL

    def headers(self, config: ModelConfig) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION, **config.resolved_headers()}
        key = config.api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def chat_url(self, base_url: str) -> str:
        return f"{base_url}/v1/messages"

    def build_chat_request(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of `POST /v1/messages`: system turns joined into the top-level `system`."""
        params = request.params
        system, turns = _render_messages(request.messages)
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            body["system"] = "\n\n".join(system)
        optional = {
            "temperature": sample(params.temperature, request.rng, low=0.0, high=1.0),
            "top_p": sample(params.top_p, request.rng, low=0.0, high=1.0),
            "stop_sequences": params.stop,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if request.tools:
            body["tools"] = [_tool(spec) for spec in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
        body.update(params.extra_body)
        return body

    def parse_chat_reply(self, body: dict[str, Any]) -> Reply:
        """Text from `text` blocks, reasoning from `thinking` blocks, calls from `tool_use` blocks."""
        content = body.get("content")
        if not isinstance(content, list):
            raise MalformedResponseError("Messages reply without a content list")
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "thinking":
                thoughts.append(str(block.get("thinking", "")))
            elif kind == "tool_use":
                calls.append(_tool_call(block, len(calls)))
        usage = body.get("usage") or {}
        return Reply(
            text="".join(texts),
            reasoning="\n".join(thoughts) if thoughts else None,
            tool_calls=calls,
            finish_reason=body.get("stop_reason"),
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
        )


def _render_messages(messages: Sequence[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    """System texts, and the other turns as Messages API turns."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    results_turn: dict[str, Any] | None = None  # the user turn holding the latest tool results
    for message in messages:
        role = message.role
        if role == "system":
            if not isinstance(message.content, str) and any(
                not isinstance(part, TextPart) for part in message.content
            ):
                raise ModelError("provider 'anthropic' accepts only text in system messages")
            system.append(message.text)
            continue
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": _content(message)}
            if results_turn is None:
                results_turn = {"role": "user", "content": []}
                turns.append(results_turn)
            results_turn["content"].append(block)
            continue
        if role == "user" and results_turn is not None:
            # Text after tool results belongs in the same user turn, after the results.
            results_turn["content"].extend(_blocks(message.content))
            results_turn = None
            continue
        results_turn = None
        if role == "assistant" and message.tool_calls:
            blocks = _blocks(message.content) if message.content else []
            blocks += [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in message.tool_calls
            ]
            turns.append({"role": "assistant", "content": blocks})
        else:
            turns.append({"role": role, "content": _content(message)})
    return system, turns


def _content(message: Message) -> str | list[dict[str, Any]]:
    return message.content if isinstance(message.content, str) else _blocks(message.content)


def _blocks(content: str | list[ContentPart]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [_block(part) for part in content]


def _block(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        if part.data is not None:
            source = {"type": "base64", "media_type": part.media_type, "data": part.data}
        else:
            source = {"type": "url", "url": part.url}
        return {"type": "image", "source": source}
    if isinstance(part, AudioPart):
        raise ModelError("provider 'anthropic' does not accept audio input")
    raise TypeError(f"not a content part: {part!r}")


def _tool(spec: ToolSpec) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": spec.name}
    if spec.description:
        tool["description"] = spec.description
    tool["input_schema"] = spec.parameters
    return tool


def _tool_choice(choice: str) -> dict[str, Any]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    return {"type": "tool", "name": choice}


def _tool_call(block: dict[str, Any], index: int) -> ToolCall:
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedResponseError(f"tool_use block without a name: {block!r:.200}")
    call_id = str(block.get("id") or f"toolu_{index}")
    arguments = block.get("input")
    if isinstance(arguments, dict):
        return ToolCall(call_id, name, arguments)
    # The protocol promises an object; keep anything else as text rather than lose the call.
    return ToolCall(call_id, name, raw_arguments=orjson.dumps(arguments).decode())
