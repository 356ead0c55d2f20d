"""Anthropic's Messages API: top-level system prompt, required max_tokens, thinking blocks."""

from __future__ import annotations

import random
from typing import Any

from synthloom.config.model_config import InferenceParams
from synthloom.errors import MalformedResponseError
from synthloom.models.providers.reply import ParsedReply, sample

__all__ = [
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "build_messages_request",
    "messages_headers",
    "messages_url",
    "parse_messages_response",
]

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


def messages_url(base_url: str | None) -> str:
    return f"{(base_url or ANTHROPIC_BASE_URL).rstrip('/')}/v1/messages"


def messages_headers(api_key: str | None, extra: dict[str, str]) -> dict[str, str]:
    headers = {"anthropic-version": ANTHROPIC_VERSION, **extra}
    if api_key:
        headers["x-api-key"] = api_key
    return headers


def build_messages_request(
    model: str,
    messages: list[dict[str, Any]],
    params: InferenceParams,
    *,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """The JSON body of `POST /v1/messages`: system turns joined into the top-level `system`."""
    rng = rng or random.Random()
    system = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    turns = [m for m in messages if m.get("role") != "system"]
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if system:
        body["system"] = "\n\n".join(system)
    optional = {
        "temperature": sample(params.temperature, rng, low=0.0, high=1.0),
        "top_p": sample(params.top_p, rng, low=0.0, high=1.0),
        "stop_sequences": params.stop,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    body.update(params.extra_body)
    return body


def parse_messages_response(body: dict[str, Any]) -> ParsedReply:
    """Text from `text` blocks, reasoning from `thinking` blocks, tokens from `usage`."""
    content = body.get("content")
    if not isinstance(content, list):
        raise MalformedResponseError("Messages reply without a content list")
    texts: list[str] = []
    thoughts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "thinking":
            thoughts.append(str(block.get("thinking", "")))
    usage = body.get("usage") or {}
    return ParsedReply(
        text="".join(texts),
        reasoning="\n".join(thoughts) if thoughts else None,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        finish_reason=body.get("stop_reason"),
    )
