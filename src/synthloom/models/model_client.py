"""`ModelClient`: one model alias, from messages to a parsed, accounted-for reply.

`chat` is the one primitive: typed messages (or OpenAI-style dicts) and optional tools in, a
`ChatResult` out. `generate_text`, `generate_structured` and `generate_code` are built on it; what a
request looks like on the wire is the provider's business (`providers/`). `embed` and `generate_image`
use the provider's other endpoints. Every request goes through the alias's `EndpointSet`: the
replica with the most room, its limiter, and its health.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.errors import ModelError, ParseError, RateLimitError, RequestRejectedError
from synthloom.models.adaptive_limiter import AdaptiveLimiter
from synthloom.models.call_log import call_log, log_exchange, log_failure
from synthloom.models.code_extraction import extract_code
from synthloom.models.endpoint_set import Endpoint, EndpointSet, Lease
from synthloom.models.http_session import HttpSession
from synthloom.models.image_generation import (
    ImageRequest,
    ImageResult,
    edit_form,
    generation_body,
    parse_images_reply,
)
from synthloom.models.messages import Message, TextPart, ToolSpec, as_messages
from synthloom.models.providers.base import ChatRequest, Provider
from synthloom.models.providers.openai_chat import OpenAIProvider
from synthloom.models.providers.registry import resolve_provider
from synthloom.models.reply import Reply
from synthloom.models.results import CallUsage, ChatResult, CodeResult, EmbeddingResult, StructuredResult
from synthloom.models.retry_policy import RetryPolicy
from synthloom.models.structured_formats import StructuredFormat, format_instruction
from synthloom.models.structured_output import (
    correction_message,
    extract_json,
    extract_structured,
    json_prompt_instruction,
    json_schema_response_format,
    schema_name,
)
from synthloom.models.usage import UsageTracker

__all__ = ["Endpoint", "ModelClient"]  # `Endpoint` lives in endpoint_set; kept here for its importers

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: What the public calls accept as messages: typed ones, OpenAI-style dicts, or a mix.
MessagesIn = Iterable[Message | Mapping[str, Any]]

#: Sends one request on a lease: the JSON answered.
_Send = Callable[[HttpSession, str, Mapping[str, str]], Awaitable[dict[str, Any]]]


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
        endpoints: EndpointSet,
        usage: UsageTracker,
        provider: Provider | None = None,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.provider = provider or resolve_provider(config.provider, model=config.alias)
        self.endpoints = endpoints
        #: The limiter of the first (usually the only) endpoint.
        self.limiter: AdaptiveLimiter = endpoints.limiter
        self._usage = usage
        self._retry = retry_policy or RetryPolicy()
        self._rng = rng or random.Random()
        self._model = self.provider.model_id(config)
        self._json_schema_rejected = False

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
        tag: str | None = None,
    ) -> ChatResult:
        """One chat exchange. `tools` are offered to the model (its calls are in `result.tool_calls`);
        `tool_choice` is "auto", "none", "required" or the name of the tool to call;
        `response_format` is OpenAI's form and needs a provider with a JSON-schema mode."""
        return await self._chat(
            as_messages(messages),
            self.config.inference.merged(inference),
            tag,
            tools=tools or (),
            tool_choice=tool_choice,
            response_format=response_format,
        )

    async def generate_text(
        self,
        messages: MessagesIn,
        *,
        inference: InferenceParams | None = None,
        tag: str | None = None,
    ) -> ChatResult:
        """One chat exchange; the reply's text as is."""
        return await self._chat(as_messages(messages), self.config.inference.merged(inference), tag)

    async def generate_structured(
        self,
        messages: MessagesIn,
        schema: dict[str, Any],
        *,
        inference: InferenceParams | None = None,
        tag: str | None = None,
        output_format: StructuredFormat = "json",
    ) -> StructuredResult:
        """A JSON value valid against `schema`, using the server's JSON-schema mode where it has one.
        With `output_format` yaml or xml the model writes that format (asked in the prompt) and the
        reply is read back into the JSON value."""
        conversation = as_messages(messages)
        params = self.config.inference.merged(inference)
        if output_format != "json":
            prompted = _append_to_last_user(conversation, format_instruction(output_format, schema))
            what = f"a {output_format.upper()} document whose value matches the schema"
            found, chat, usage, attempts = await self._until_parsed(
                prompted, params, tag, lambda text: extract_structured(text, schema, output_format), what
            )
            return StructuredResult(value=found.value, chat=chat, usage=usage, attempts=attempts)
        mode = self.config.structured_output.mode
        use_schema_mode = self.provider.capabilities.json_schema and (
            mode == "json_schema" or (mode == "auto" and not self._json_schema_rejected)
        )

        def extract(text: str) -> Any:
            return extract_json(text, schema)

        if use_schema_mode:
            response_format = json_schema_response_format(schema_name(schema, tag), schema)
            try:
                value, chat, usage, attempts = await self._until_parsed(
                    conversation, params, tag, extract, "a JSON value matching the schema", response_format
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
            prompted, params, tag, extract, "a JSON value matching the schema"
        )
        return StructuredResult(value=value.value, chat=chat, usage=usage, attempts=attempts)

    async def generate_code(
        self,
        messages: MessagesIn,
        language: str,
        *,
        inference: InferenceParams | None = None,
        tag: str | None = None,
    ) -> CodeResult:
        """Source code in `language`, extracted from the reply's fenced block."""
        params = self.config.inference.merged(inference)
        what = f"the {language} code in one fenced block (```{language} ... ```)"
        found, chat, usage, attempts = await self._until_parsed(
            as_messages(messages), params, tag, lambda text: extract_code(text, language), what
        )
        return CodeResult(code=found.code, language=language, chat=chat, usage=usage, attempts=attempts)

    async def embed(self, texts: list[str], *, tag: str | None = None) -> EmbeddingResult:
        """One vector per text, from the provider's embeddings endpoint."""
        provider = self.provider
        if not provider.capabilities.embeddings:
            raise ModelError(f"model '{self.alias}': provider '{provider.name}' has no embeddings endpoint")
        payload = provider.build_embeddings_request(self.model, texts)

        def parse(body: dict[str, Any]) -> tuple[list[list[float]], int, int]:
            vectors, tokens = provider.parse_embeddings_reply(body, len(texts))
            return vectors, tokens, 0

        vectors, usage = await self._exchange(self._post_json(provider.embeddings_url, payload), tag, parse)
        return EmbeddingResult(vectors=vectors, usage=usage)

    async def generate_image(
        self,
        prompt: str,
        *,
        size: str | None = None,
        image: bytes | None = None,
        image_media_type: str = "image/png",
        n: int = 1,
        extra_body: Mapping[str, Any] | None = None,
        tag: str | None = None,
    ) -> ImageResult:
        """`n` images from an OpenAI-compatible images endpoint: generated from `prompt`, or, when
        `image` is given, an edit of it (`/images/edits`, a multipart upload)."""
        provider = self.provider
        if not isinstance(provider, OpenAIProvider) or provider.starts_locally:
            raise ModelError(
                f"model '{self.alias}': provider '{provider.name}' has no images endpoint "
                "(an image column needs an OpenAI-compatible server with /images/generations)"
            )
        request = ImageRequest(
            model=self.model,
            prompt=prompt,
            size=size,
            n=n,
            image=image,
            image_media_type=image_media_type,
            extra_body=extra_body or {},
        )

        def parse(body: dict[str, Any]) -> tuple[tuple[list[bytes], str | None], int, int]:
            images, revised, tokens_in, tokens_out = parse_images_reply(body, n)
            return (images, revised), tokens_in, tokens_out

        send: _Send
        if request.is_edit:
            fields, files = edit_form(request)

            async def send(session: HttpSession, base_url: str, headers: Mapping[str, str]) -> dict[str, Any]:
                return await session.post_form(
                    f"{base_url}/images/edits", fields, files, headers=headers, timeout=self.config.timeout
                )
        else:
            send = self._post_json(
                lambda base_url: f"{base_url}/images/generations", generation_body(request)
            )
        (images, revised), usage = await self._exchange(send, tag, parse)
        return ImageResult(images=images, usage=usage, revised_prompt=revised)

    # -- the correction loop -----------------------------------------------------------------------

    async def _until_parsed(
        self,
        messages: list[Message],
        params: InferenceParams,
        tag: str | None,
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
                chat = await self._chat(conversation, run_params, tag, response_format=response_format)
                total = total.add(chat.usage)
                found = extract(chat.text)
                if found.ok:
                    return found, chat, total, attempts
                last_text, last_error = chat.text, found.error
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
        tag: str | None,
        *,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | None = None,
        response_format: Mapping[str, Any] | None = None,
    ) -> ChatResult:
        provider = self.provider
        request = ChatRequest(
            model=self._model,
            messages=messages,
            params=params,
            rng=self._rng,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
        )
        problem = provider.unsupported(request)
        if problem is not None:
            raise ModelError(f"model '{self.alias}': {problem}")
        payload = provider.build_chat_request(request)

        def parse(body: dict[str, Any]) -> tuple[Reply, int, int]:
            reply = provider.parse_chat_reply(body)
            return reply, reply.input_tokens, reply.output_tokens

        try:
            reply, usage = await self._exchange(self._post_json(provider.chat_url, payload), tag, parse)
        except ModelError as exc:
            log_failure(self.alias, tag, exc)
            raise
        result = ChatResult(reply=reply, sent=messages, usage=usage)
        if call_log.get() is not None:
            log_exchange(
                self.alias,
                tag,
                {
                    "messages": result.messages,
                    "reasoning": reply.reasoning,
                    "finish_reason": reply.finish_reason,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "latency_s": round(usage.latency_s, 4),
                    "http_attempts": usage.attempts,
                },
            )
        return result

    def _post_json(self, url_for: Callable[[str], str], payload: dict[str, Any]) -> _Send:
        """A sender POSTing `payload` as JSON to `url_for(base_url)` of whichever endpoint is chosen."""
        timeout = self.config.timeout

        def send(
            session: HttpSession, base_url: str, headers: Mapping[str, str]
        ) -> Awaitable[dict[str, Any]]:
            return session.post_json(url_for(base_url), payload, headers=headers, timeout=timeout)

        return send

    async def _exchange(
        self,
        send: _Send,
        tag: str | None,
        parse: Callable[[dict[str, Any]], tuple[T, int, int]],
    ) -> tuple[T, CallUsage]:
        """Send through the alias's endpoints (one chosen per attempt, its limiter held) with retries;
        record the exchange in the usage tracker.

        `latency_s` sums the time spent waiting on the server, not time queued in the limiter or
        sleeping between attempts.
        """
        usage = CallUsage()
        retries = rate_limited = 0
        while True:
            usage.attempts += 1
            started = time.monotonic()
            try:
                async with self.endpoints.slot() as lease:
                    started = lease.started
                    body = await send(_session(lease), lease.base_url, lease.headers)
                    result, usage.input_tokens, usage.output_tokens = parse(body)
                    lease.input_tokens, lease.output_tokens = usage.input_tokens, usage.output_tokens
            except ModelError as exc:
                usage.latency_s += time.monotonic() - started
                usage.status_codes.append(getattr(exc, "status_code", None))
                if isinstance(exc, RateLimitError):
                    rate_limited += 1
                else:
                    retries += 1
                if not self._retry.should_retry(
                    exc, retries=retries, rate_limited=rate_limited, max_retries=self.config.max_retries
                ):
                    self._usage.record(self.alias, tag, usage, ok=False)
                    raise
                await _sleep(self._retry.delay(exc, retries=retries, rate_limited=rate_limited))
                continue
            except BaseException:
                usage.latency_s += time.monotonic() - started
                usage.status_codes.append(None)
                self._usage.record(self.alias, tag, usage, ok=False)
                raise
            usage.latency_s += time.monotonic() - started
            usage.status_codes.append(200)
            self._usage.record(self.alias, tag, usage, ok=True)
            return result, usage


def _session(lease: Lease) -> HttpSession:
    assert lease.session is not None  # set by the endpoint set before the lease is handed out
    return lease.session


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


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
