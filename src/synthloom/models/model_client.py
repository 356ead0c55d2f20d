"""`ModelClient`: one model alias, from messages to a parsed, accounted-for reply.

`chat` is the one primitive: typed messages (or OpenAI-style dicts) and optional tools in, a
`ChatResult` out. `generate_text`, `generate_structured` and `generate_code` are built on it; what a
request looks like on the wire is the provider's business (`providers/`). `embed`, `generate_image` and
`post` (a server's own routes: tokenize, logprobs, reward) use the provider's other endpoints.

The client only *builds* requests: each becomes a `ModelRequest` value carrying the caller's
`CallScope`, handed to the alias's handler chain (`models/calls/`: accounting, retries, routing over
the endpoint set), which is where every request of a run passes.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.errors import ModelError, ParseError, RequestRejectedError
from synthloom.models.adaptive_limiter import AdaptiveLimiter
from synthloom.models.calls import NO_SCOPE, CallScope, Handler, ModelRequest, Parsed, UploadFile
from synthloom.models.code_extraction import extract_code
from synthloom.models.endpoint_set import Endpoint, EndpointSet
from synthloom.models.image_generation import (
    ImageRequest,
    ImageResult,
    edit_form,
    generation_body,
    parse_images_reply,
)
from synthloom.models.messages import Message, TextPart, ToolSpec, as_messages
from synthloom.models.providers.base import ChatRequest, Provider
from synthloom.models.providers.registry import resolve_provider
from synthloom.models.reply import Reply
from synthloom.models.results import CallUsage, ChatResult, CodeResult, EmbeddingResult, StructuredResult
from synthloom.models.structured_formats import StructuredFormat, format_instruction
from synthloom.models.structured_output import (
    correction_message,
    extract_json,
    extract_structured,
    json_prompt_instruction,
    json_schema_response_format,
    schema_name,
)
from synthloom.row_groups import stable_hash

__all__ = [
    "Endpoint",
    "ModelClient",
    "server_root",
]  # `Endpoint` lives in endpoint_set; kept for its importers

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: What the public calls accept as messages: typed ones, OpenAI-style dicts, or a mix.
MessagesIn = Iterable[Message | Mapping[str, Any]]


class _Extraction(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str: ...


E = TypeVar("E", bound=_Extraction)


class ModelClient:
    """Sends one alias's requests through its endpoints (sessions, limiters) and retry policy."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        handler: Handler,
        endpoints: EndpointSet | None = None,
        provider: Provider | None = None,
    ) -> None:
        self.config = config
        self.provider = provider or resolve_provider(config.provider, model=config.alias)
        #: The chain every request of this alias goes through.
        self.handler = handler
        self.endpoints = endpoints
        self._model = self.provider.model_id(config)
        self._json_schema_rejected = False

    @property
    def limiter(self) -> AdaptiveLimiter:
        """The limiter of the first (usually the only) endpoint."""
        assert self.endpoints is not None, "a client built on a bare handler has no endpoints"
        return self.endpoints.limiter

    def __repr__(self) -> str:
        return f"ModelClient(alias={self.config.alias!r}, provider={self.config.provider!r})"

    @property
    def alias(self) -> str:
        return self.config.alias

    @property
    def model(self) -> str:
        return self._model

    # -- public calls ------------------------------------------------------------------------------

    async def chat(
        self,
        messages: MessagesIn,
        *,
        tools: Sequence[ToolSpec] | None = None,
        tool_choice: str | None = None,
        response_format: Mapping[str, Any] | None = None,
        inference: InferenceParams | None = None,
        scope: CallScope | None = None,
        tag: str | None = None,
    ) -> ChatResult:
        """One chat exchange. `tools` are offered to the model (its calls are in `result.tool_calls`);
        `tool_choice` is "auto", "none", "required" or the name of the tool to call;
        `response_format` is OpenAI's form and needs a provider with a JSON-schema mode. `scope` is the
        calling cell's (usage tag, record, row group, seed, lineage); `tag` overrides its usage tag."""
        return await self._chat(
            as_messages(messages),
            self.config.inference.merged(inference),
            _scoped(scope, tag),
            tools=tools or (),
            tool_choice=tool_choice,
            response_format=response_format,
        )

    async def generate_text(
        self,
        messages: MessagesIn,
        *,
        inference: InferenceParams | None = None,
        scope: CallScope | None = None,
        tag: str | None = None,
    ) -> ChatResult:
        """One chat exchange; the reply's text as is."""
        return await self._chat(
            as_messages(messages), self.config.inference.merged(inference), _scoped(scope, tag)
        )

    async def generate_structured(
        self,
        messages: MessagesIn,
        schema: dict[str, Any],
        *,
        inference: InferenceParams | None = None,
        scope: CallScope | None = None,
        tag: str | None = None,
        output_format: StructuredFormat = "json",
    ) -> StructuredResult:
        """A JSON value valid against `schema`, using the server's JSON-schema mode where it has one.
        With `output_format` yaml or xml the model writes that format (asked in the prompt) and the
        reply is read back into the JSON value."""
        conversation = as_messages(messages)
        params = self.config.inference.merged(inference)
        scope = _scoped(scope, tag)
        if output_format != "json":
            prompted = _append_to_last_user(conversation, format_instruction(output_format, schema))
            what = f"a {output_format.upper()} document whose value matches the schema"
            found, chat, usage, attempts = await self._until_parsed(
                prompted, params, scope, lambda text: extract_structured(text, schema, output_format), what
            )
            return StructuredResult(value=found.value, chat=chat, usage=usage, attempts=attempts)
        mode = self.config.structured_output.mode
        use_schema_mode = self.provider.capabilities.json_schema and (
            mode == "json_schema" or (mode == "auto" and not self._json_schema_rejected)
        )

        def extract(text: str) -> Any:
            return extract_json(text, schema)

        if use_schema_mode:
            response_format = json_schema_response_format(schema_name(schema, scope.tag), schema)
            try:
                value, chat, usage, attempts = await self._until_parsed(
                    conversation, params, scope, extract, "a JSON value matching the schema", response_format
                )
                return StructuredResult(value=value.value, chat=chat, usage=usage, attempts=attempts)
            except RequestRejectedError:
                if mode != "auto":
                    raise
                # The server has no json_schema mode: fall back to instructions in the prompt, for good.
                logger.info("%s rejected response_format json_schema; using prompt mode", self.alias)
                self._json_schema_rejected = True
        prompted = _append_to_last_user(conversation, json_prompt_instruction(schema))
        value, chat, usage, attempts = await self._until_parsed(
            prompted, params, scope, extract, "a JSON value matching the schema"
        )
        return StructuredResult(value=value.value, chat=chat, usage=usage, attempts=attempts)

    async def generate_code(
        self,
        messages: MessagesIn,
        language: str,
        *,
        inference: InferenceParams | None = None,
        scope: CallScope | None = None,
        tag: str | None = None,
    ) -> CodeResult:
        """Source code in `language`, extracted from the reply's fenced block."""
        params = self.config.inference.merged(inference)
        what = f"the {language} code in one fenced block (```{language} ... ```)"
        found, chat, usage, attempts = await self._until_parsed(
            as_messages(messages),
            params,
            _scoped(scope, tag),
            lambda text: extract_code(text, language),
            what,
        )
        return CodeResult(code=found.code, language=language, chat=chat, usage=usage, attempts=attempts)

    async def embed(
        self, texts: list[str], *, scope: CallScope | None = None, tag: str | None = None
    ) -> EmbeddingResult:
        """One vector per text, from the provider's embeddings endpoint."""
        provider = self.provider
        if not provider.capabilities.embeddings:
            raise ModelError(f"model '{self.alias}': provider '{provider.name}' has no embeddings endpoint")

        def parse(body: dict[str, Any]) -> Parsed:
            vectors, tokens = provider.parse_embeddings_reply(body, len(texts))
            return Parsed(vectors, tokens, 0)

        request = ModelRequest(
            alias=self.alias,
            route="embeddings",
            body=provider.build_embeddings_request(self.model, texts),
            url=provider.embeddings_url,
            parse=parse,
            scope=_scoped(scope, tag),
        )
        response = await self.handler.handle(request)
        return EmbeddingResult(vectors=response.value, usage=response.usage)

    async def generate_image(
        self,
        prompt: str,
        *,
        size: str | None = None,
        image: bytes | None = None,
        image_media_type: str = "image/png",
        n: int = 1,
        extra_body: Mapping[str, Any] | None = None,
        scope: CallScope | None = None,
        tag: str | None = None,
    ) -> ImageResult:
        """`n` images from the provider's images endpoint: generated from `prompt`, or, when `image` is
        given, an edit of it (`/images/edits`, a multipart upload)."""
        provider = self.provider
        if not provider.capabilities.images:
            raise ModelError(
                f"model '{self.alias}': provider '{provider.name}' has no images endpoint "
                "(an image column needs an OpenAI-compatible server with /images/generations)"
            )
        image_request = ImageRequest(
            model=self.model,
            prompt=prompt,
            size=size,
            n=n,
            image=image,
            image_media_type=image_media_type,
            extra_body=extra_body or {},
        )

        def parse(body: dict[str, Any]) -> Parsed:
            images, revised, tokens_in, tokens_out = parse_images_reply(body, n)
            return Parsed((images, revised), tokens_in, tokens_out)

        if image_request.is_edit:
            fields, files = edit_form(image_request)
            route = "images/edits"
            body: Mapping[str, Any] = fields
            uploads = tuple(UploadFile(name, *spec) for name, spec in files.items())
        else:
            route, body, uploads = "images/generations", generation_body(image_request), ()
        request = ModelRequest(
            alias=self.alias,
            route=route,
            body=body,
            url=lambda base_url: f"{base_url}/{route}",
            parse=parse,
            scope=_scoped(scope, tag),
            files=uploads,
        )
        response = await self.handler.handle(request)
        images, revised = response.value
        return ImageResult(images=images, usage=response.usage, revised_prompt=revised)

    async def post(
        self,
        path: str,
        payload: dict[str, Any],
        *,
        under_base_url: bool = False,
        input_tokens: int = 0,
        scope: CallScope | None = None,
        tag: str | None = None,
    ) -> dict[str, Any]:
        """POST `payload` to `path` on the model's server — its root (the base URL without `/v1`), or
        its base URL when `under_base_url` — and return the JSON answered: llama.cpp's `/tokenize` and
        `/completion`, vLLM's `/pooling`, a reward server. Retried, accounted and logged like a chat."""

        def url(base_url: str) -> str:
            return (base_url.rstrip("/") if under_base_url else server_root(base_url)) + path

        request = ModelRequest(
            alias=self.alias,
            route=path,
            body=payload,
            url=url,
            parse=lambda body: Parsed(body, input_tokens, 0),
            scope=_scoped(scope, tag),
            describe=lambda body: {
                "request": {"path": path, **_shortened(payload)},
                "reply": _shortened(body),
            },
        )
        response = await self.handler.handle(request)
        return response.body

    # -- the correction loop -----------------------------------------------------------------------

    async def _until_parsed(
        self,
        messages: list[Message],
        params: InferenceParams,
        scope: CallScope,
        extract: Callable[[str], E],
        what: str,
        response_format: dict[str, Any] | None = None,
    ) -> tuple[E, ChatResult, CallUsage, int]:
        """Ask until `extract` accepts a reply: correction turns within a conversation, then restarts
        from the original messages (with the seed moved on, so a seeded model can answer differently)."""
        policy = self.config.structured_output
        total = CallUsage()
        attempts = 0
        last_text: str | None = None
        last_error = ""
        for restart in range(policy.restarts + 1):
            run_params = params
            if restart and params.seed is not None:
                run_params = params.merged(InferenceParams(seed=params.seed + restart))
            conversation = messages
            for _ in range(policy.correction_turns + 1):
                attempts += 1
                chat = await self._chat(conversation, run_params, scope, response_format=response_format)
                total = total.add(chat.usage)
                found = extract(chat.text)
                if found.ok:
                    return found, chat, total, attempts
                last_text, last_error = chat.text, found.error
                if chat.finish_reason in _CUT_BY_LENGTH:
                    last_error = _cut_by_max_tokens(chat.finish_reason, run_params, found.error)
                conversation = [*chat.conversation, Message("user", correction_message(found.error, what))]
        raise ParseError(
            f"model '{self.alias}': no usable reply after {attempts} attempts: {last_error}",
            reply=last_text,
            attempts=attempts,
        )

    # -- one chat exchange -------------------------------------------------------------------------

    async def _chat(
        self,
        messages: list[Message],
        params: InferenceParams,
        scope: CallScope,
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        provider = self.provider
        chat_request = ChatRequest(
            model=self._model,
            messages=messages,
            params=params,
            rng=self._draws(scope),
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
        )
        problem = provider.unsupported(chat_request)
        if problem is not None:
            raise ModelError(f"model '{self.alias}': {problem}")

        def parse(body: dict[str, Any]) -> Parsed:
            reply = provider.parse_chat_reply(body)
            return Parsed(reply, reply.input_tokens, reply.output_tokens)

        def describe(reply: Reply) -> dict[str, Any]:
            return {
                "messages": ChatResult(reply=reply, sent=messages, usage=CallUsage()).messages,
                "reasoning": reply.reasoning,
                "finish_reason": reply.finish_reason,
            }

        request = ModelRequest(
            alias=self.alias,
            route="chat",
            body=provider.build_chat_request(chat_request),
            url=provider.chat_url,
            parse=parse,
            scope=scope,
            describe=describe,
        )
        response = await self.handler.handle(request)
        return ChatResult(reply=response.value, sent=messages, usage=response.usage)

    def _draws(self, scope: CallScope) -> random.Random:
        """Where distributed inference parameters are drawn from: fixed by the cell's seed and attempt
        (so a resumed run draws the same values), fresh per request outside a cell. Seeded on first
        use: most requests draw nothing, and seeding costs more than the request's own bookkeeping."""
        if scope.seed is None:
            return _UNSEEDED
        return _CellDraws(f"{scope.seed}:{scope.attempt}:{self.alias}:inference")


class _CellDraws(random.Random):
    """A `random.Random` seeded from `key` when first drawn from."""

    def __init__(self, key: str) -> None:  # deliberately not seeding yet
        self._key: str | None = key
        self.gauss_next = None

    def _seeded(self) -> None:
        if self._key is not None:
            key, self._key = self._key, None
            super().__init__(stable_hash(key))

    def random(self) -> float:
        self._seeded()
        return super().random()

    def getrandbits(self, k: int, /) -> int:
        self._seeded()
        return super().getrandbits(k)


_UNSEEDED = random.Random()


def _scoped(scope: CallScope | None, tag: str | None) -> CallScope:
    return (scope or NO_SCOPE).tagged(tag)


def server_root(base_url: str) -> str:
    """The server's root: its OpenAI base URL without the trailing `/v1`."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def _shortened(value: Any, limit: int = 4000) -> Any:
    """`value` for the lineage, long lists and strings cut (a token list, log-probabilities)."""
    if isinstance(value, dict):
        return {k: _shortened(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v, limit) for v in value[:64]] + (
            [f"... {len(value) - 64} more"] if len(value) > 64 else []
        )
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value)} characters)"
    return value


def _append_to_last_user(messages: list[Message], text: str) -> list[Message]:
    """A copy of `messages` with `text` added to the last user turn (or as a new user turn)."""
    out = list(messages)
    for index in range(len(out) - 1, -1, -1):
        message = out[index]
        if message.role == "user":
            content = message.content
            if isinstance(content, str):
                out[index] = dataclasses.replace(message, content=content + text)
            else:
                out[index] = dataclasses.replace(message, content=[*content, TextPart(text.lstrip())])
            return out
    out.append(Message("user", text.lstrip()))
    return out


#: Finish reasons meaning the reply stopped at the token limit (OpenAI: length; Anthropic: max_tokens).
_CUT_BY_LENGTH = frozenset({"length", "max_tokens"})


def _cut_by_max_tokens(reason: str | None, params: InferenceParams, error: str) -> str:
    """Why an unusable reply failed when the server cut it at the token limit: the limit, not the
    model's JSON or code, is what to change."""
    limit = f"max_tokens {params.max_tokens}" if params.max_tokens else "the server's default max_tokens"
    return (
        f"the reply was cut by {limit} (finish_reason '{reason}') before it was complete, so it "
        f"could not be used ({error}): raise inference.max_tokens, or ask for a shorter value"
    )
