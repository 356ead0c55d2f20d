"""The OpenAI-compatible protocol: chat completions and embeddings (vLLM, llama.cpp, OpenAI, ...)."""

from __future__ import annotations

import random
from typing import Any

from synthloom.config.model_config import InferenceParams
from synthloom.errors import MalformedResponseError
from synthloom.models.providers.reply import ParsedReply, sample, split_think_tags

__all__ = [
    "build_chat_request",
    "build_embeddings_request",
    "chat_headers",
    "json_schema_response_format",
    "parse_chat_response",
    "parse_embeddings_response",
]


def chat_headers(api_key: str | None, extra: dict[str, str]) -> dict[str, str]:
    headers = dict(extra)
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def build_chat_request(
    model: str,
    messages: list[dict[str, Any]],
    params: InferenceParams,
    *,
    response_format: dict[str, Any] | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """The JSON body of `POST {base_url}/chat/completions`. `extra_body` is merged last and wins."""
    rng = rng or random.Random()
    body: dict[str, Any] = {"model": model, "messages": messages}
    temperature = sample(params.temperature, rng, low=0.0, high=2.0)
    top_p = sample(params.top_p, rng, low=0.0, high=1.0)
    optional = {
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": params.max_tokens,
        "stop": params.stop,
        "seed": params.seed,
        "response_format": response_format,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    body.update(params.extra_body)
    return body


def json_schema_response_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def parse_chat_response(body: dict[str, Any]) -> ParsedReply:
    """Text, reasoning and token counts from a chat completion; malformed shapes raise."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedResponseError(f"chat completion without choices[0].message: {exc!r}") from exc
    content = message.get("content")
    if isinstance(content, list):  # some servers send content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    text = content if isinstance(content, str) else ""
    reasoning = message.get("reasoning_content") or message.get("reasoning") or None
    if reasoning is None:
        text, reasoning = split_think_tags(text)
    usage = body.get("usage") or {}
    return ParsedReply(
        text=text,
        reasoning=reasoning if isinstance(reasoning, str) else None,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choice.get("finish_reason"),
    )


def build_embeddings_request(model: str, texts: list[str]) -> dict[str, Any]:
    """The JSON body of `POST {base_url}/embeddings`."""
    return {"model": model, "input": texts}


def parse_embeddings_response(body: dict[str, Any], expected: int) -> tuple[list[list[float]], int]:
    """Vectors in input order, and the input token count."""
    try:
        items = sorted(body["data"], key=lambda item: item.get("index", 0))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"embeddings reply without data[].embedding: {exc!r}") from exc
    if len(vectors) != expected:
        raise MalformedResponseError(f"asked for {expected} embeddings, got {len(vectors)}")
    usage = body.get("usage") or {}
    return vectors, int(usage.get("prompt_tokens") or 0)
