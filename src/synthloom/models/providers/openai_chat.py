"""The OpenAI-compatible protocol: chat completions and embeddings (vLLM, SGLang, llama.cpp, OpenAI, ...)."""

from __future__ import annotations

import re
from typing import Any

from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError, MalformedResponseError
from synthloom.models.messages import ToolCall, ToolSpec
from synthloom.models.providers.base import ChatRequest, Provider, ProviderCapabilities
from synthloom.models.providers.sampling import sample
from synthloom.models.reply import Reply

__all__ = ["OpenAIProvider", "split_think_tags"]

_TOOL_CHOICE_MODES = frozenset(("auto", "none", "required"))


class OpenAIProvider(Provider):
    """Any server speaking OpenAI's `/chat/completions` and `/embeddings` at `base_url`."""

    name = "openai"
    batch_protocol = "openai"
    capabilities = ProviderCapabilities(
        json_schema=True, tools=True, vision=True, audio=True, embeddings=True, images=True
    )

    def check_config(self, config: ModelConfig) -> None:
        if not (config.base_url or config.endpoints or config.serve):
            raise ConfigError(
                f"provider '{self.name}' needs 'base_url' (e.g. http://127.0.0.1:8000/v1) or 'endpoints'",
                model=config.alias,
                field="base_url",
            )
        super().check_config(config)

    def chat_url(self, base_url: str) -> str:
        return f"{base_url}/chat/completions"

    def build_chat_request(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of `POST {base_url}/chat/completions`. `extra_body` is merged last and wins."""
        params = request.params
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [message.to_openai() for message in request.messages],
        }
        optional = {
            "temperature": sample(params.temperature, request.rng, low=0.0, high=2.0),
            "top_p": sample(params.top_p, request.rng, low=0.0, high=1.0),
            "max_tokens": params.max_tokens,
            "stop": params.stop,
            "seed": params.seed,
            "response_format": request.response_format,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        if request.tools:
            body["tools"] = [_tool(spec) for spec in request.tools]
        if request.tool_choice is not None:
            choice = request.tool_choice
            body["tool_choice"] = (
                choice if choice in _TOOL_CHOICE_MODES else {"type": "function", "function": {"name": choice}}
            )
        body.update(params.extra_body)
        return body

    def parse_chat_reply(self, body: dict[str, Any]) -> Reply:
        """Text, reasoning, tool calls and token counts from a chat completion; malformed shapes raise."""
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
        raw_calls = message.get("tool_calls")
        usage = body.get("usage") or {}
        return Reply(
            text=text,
            reasoning=reasoning if isinstance(reasoning, str) else None,
            tool_calls=[_tool_call(call, index) for index, call in enumerate(raw_calls)] if raw_calls else [],
            finish_reason=choice.get("finish_reason"),
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )

    def embeddings_url(self, base_url: str) -> str:
        return f"{base_url}/embeddings"

    def build_embeddings_request(self, model: str, texts: list[str]) -> dict[str, Any]:
        """The JSON body of `POST {base_url}/embeddings`."""
        return {"model": model, "input": texts}

    def parse_embeddings_reply(self, body: dict[str, Any], expected: int) -> tuple[list[list[float]], int]:
        try:
            items = sorted(body["data"], key=lambda item: item.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponseError(f"embeddings reply without data[].embedding: {exc!r}") from exc
        if len(vectors) != expected:
            raise MalformedResponseError(f"asked for {expected} embeddings, got {len(vectors)}")
        usage = body.get("usage") or {}
        return vectors, int(usage.get("prompt_tokens") or 0)


def _tool(spec: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": spec.name}
    if spec.description:
        function["description"] = spec.description
    function["parameters"] = spec.parameters
    return {"type": "function", "function": function}


def _tool_call(call: Any, index: int) -> ToolCall:
    """One `message.tool_calls[]` entry. Argument text that is not a JSON object is kept as sent."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise MalformedResponseError(f"tool call without function.name: {call!r:.200}")
    name = function["name"]
    call_id = str(call.get("id") or f"call_{index}")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # some servers send the object itself
        return ToolCall(call_id, name, arguments)
    return ToolCall.from_json_text(call_id, name, arguments if isinstance(arguments, str) else "")


_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


def split_think_tags(text: str) -> tuple[str, str | None]:
    """Models served without a reasoning parser put their reasoning in `<think>` tags: move it out."""
    match = _THINK.match(text)
    if not match:
        return text, None
    return text[match.end() :], match.group(1).strip() or None
