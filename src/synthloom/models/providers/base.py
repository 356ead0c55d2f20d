"""`Provider`: how to reach one kind of model server. The seam a plugin implements.

A provider is a small object with no I/O of its own: it says what it can do (`capabilities`), checks
a model config, names the URLs and headers, turns a `ChatRequest` into a JSON body and a JSON answer
into a `Reply`. `ModelClient` does the sending (limiter, retries, accounting) the same way for all.

    class MyProvider(Provider):
        name = "my-server"
        capabilities = ProviderCapabilities(tools=True)

        def chat_url(self, base_url): ...
        def build_chat_request(self, request): ...
        def parse_chat_reply(self, body): ...

Publish it under the `synthloom.providers` entry-point group (see `providers/registry.py`).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.errors import ConfigError, ModelError
from synthloom.models.messages import AudioPart, ImagePart, Message, ToolSpec
from synthloom.models.reply import Reply

__all__ = ["ChatRequest", "LocalServer", "Provider", "ProviderCapabilities"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCapabilities:
    """What a provider's wire protocol supports; the client refuses what it does not."""

    #: A server-side JSON-schema response format (else structured output is asked for in the prompt).
    json_schema: bool = False
    #: Tool definitions in the request and tool calls in the reply.
    tools: bool = False
    #: Image parts in messages.
    vision: bool = False
    #: Audio parts in messages.
    audio: bool = False
    #: An embeddings endpoint.
    embeddings: bool = False
    #: An images endpoint (`/images/generations`, `/images/edits`).
    images: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """Everything one chat request says, before a provider renders it into its wire shape.

    `tool_choice` is "auto", "none", "required", or the name of the one tool to call.
    `response_format` is OpenAI's form (`{"type": "json_schema", "json_schema": {...}}`).
    Parameters given as distributions are drawn with `rng`, once per request.
    """

    model: str
    messages: Sequence[Message]
    params: InferenceParams
    rng: random.Random
    tools: Sequence[ToolSpec] = ()
    tool_choice: str | None = None
    response_format: Mapping[str, Any] | None = None


class LocalServer(Protocol):
    """A model server the pool starts on first use and stops when it closes."""

    @property
    def base_url(self) -> str: ...
    @property
    def running(self) -> bool: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Provider(ABC):
    """One kind of model server. Subclass it, set `name` and `capabilities`, implement the three
    abstract methods; override the others where the defaults (an OpenAI-like server at `base_url`,
    reached with a bearer key) do not fit."""

    #: The name a model config's `provider` field uses.
    name: str
    capabilities: ProviderCapabilities = ProviderCapabilities()
    #: Used when a model config sets no `base_url`; None means `base_url` is required.
    default_base_url: str | None = None
    #: True when the endpoint is a server the pool must start itself (see `local_server`).
    starts_locally: bool = False
    #: The batch API the provider's server offers (`openai`: `/files` + `/batches`; `anthropic`:
    #: Message Batches), None: none, and a model with `batch:` is refused.
    batch_protocol: str | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- configuration -----------------------------------------------------------------------------

    def check_config(self, config: ModelConfig) -> None:
        """Raise `ConfigError(..., model=alias, field=...)` for what this provider cannot work with."""
        # `serve`: synthloom starts the servers; their URLs and the model id are filled in then.
        served = config.base_url or config.endpoints or config.serve
        if not self.starts_locally and not (served or self.default_base_url):
            raise ConfigError(
                f"provider '{self.name}' needs 'base_url'", model=config.alias, field="base_url"
            )
        if not self.starts_locally and not config.model and config.serve is None:
            raise ConfigError(
                f"provider '{self.name}' needs 'model' (the model id the server serves)",
                model=config.alias,
                field="model",
            )
        if config.endpoints and self.starts_locally:
            raise ConfigError(
                f"provider '{self.name}' serves a local model: 'endpoints' does not apply",
                model=config.alias,
                field="endpoints",
            )
        if config.batch is not None and self.batch_protocol is None:
            raise ConfigError(
                f"provider '{self.name}' has no batch API: remove 'batch' (or use openai or anthropic)",
                model=config.alias,
                field="batch",
            )
        if config.model_path and not self.starts_locally:
            raise ConfigError(
                f"'model_path' is only for a provider that serves a local file, not '{self.name}'",
                model=config.alias,
                field="model_path",
            )

    def base_url(self, config: ModelConfig) -> str:
        """The endpoint's base URL, without a trailing slash."""
        return (config.resolved_base_url() or self.default_base_url or "").rstrip("/")

    def model_id(self, config: ModelConfig) -> str:
        """The model name sent in requests."""
        return config.model or ""

    def limiter_key(self, config: ModelConfig) -> tuple[str, str]:
        """Aliases with the same key share one concurrency budget: by default, the same model on the
        same server."""
        return (self.base_url(config), self.model_id(config))

    def local_server(self, config: ModelConfig) -> LocalServer:
        """The server to start for `config` (only asked when `starts_locally`)."""
        raise NotImplementedError(f"provider '{self.name}' does not start a local server")

    def headers(self, config: ModelConfig) -> dict[str, str]:
        """Request headers: the config's own, and the API key as a bearer token when one is set."""
        headers = config.resolved_headers()
        key = config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    # -- chat --------------------------------------------------------------------------------------

    def unsupported(self, request: ChatRequest) -> str | None:
        """Why this provider cannot send `request` (from its declared capabilities), or None."""
        caps = self.capabilities
        if request.tools and not caps.tools:
            return f"provider '{self.name}' does not support tools"
        if request.response_format is not None and not caps.json_schema:
            return f"provider '{self.name}' has no JSON-schema response format"
        if caps.vision and caps.audio:
            return None
        for message in request.messages:
            if isinstance(message.content, str):
                continue
            for part in message.content:
                if isinstance(part, ImagePart) and not caps.vision:
                    return f"provider '{self.name}' does not accept image input"
                if isinstance(part, AudioPart) and not caps.audio:
                    return f"provider '{self.name}' does not accept audio input"
        return None

    @abstractmethod
    def chat_url(self, base_url: str) -> str:
        """Where chat requests are POSTed."""

    @abstractmethod
    def build_chat_request(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of one chat request."""

    @abstractmethod
    def parse_chat_reply(self, body: dict[str, Any]) -> Reply:
        """The reply in a JSON answer; raise `MalformedResponseError` when the shape is wrong."""

    # -- embeddings (only where `capabilities.embeddings`) -----------------------------------------

    def embeddings_url(self, base_url: str) -> str:
        raise self._no_embeddings()

    def build_embeddings_request(self, model: str, texts: list[str]) -> dict[str, Any]:
        raise self._no_embeddings()

    def parse_embeddings_reply(self, body: dict[str, Any], expected: int) -> tuple[list[list[float]], int]:
        """Vectors in input order, and the input token count."""
        raise self._no_embeddings()

    def _no_embeddings(self) -> ModelError:
        return ModelError(f"provider '{self.name}' has no embeddings endpoint")
