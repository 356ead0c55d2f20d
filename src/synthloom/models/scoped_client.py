"""`ScopedClient`: a model client bound to the scope of the cell that holds it.

What a generator gets from `ctx.client(alias)`: the same calls as `ModelClient`, each made under the
cell's `CallScope` (usage tag, record, row group, seed, lineage), so no call can forget it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.models.calls import CallScope
from synthloom.models.image_generation import ImageResult
from synthloom.models.messages import ToolSpec
from synthloom.models.model_client import MessagesIn, ModelClient
from synthloom.models.providers.base import Provider
from synthloom.models.results import ChatResult, CodeResult, EmbeddingResult, StructuredResult
from synthloom.models.structured_formats import StructuredFormat

__all__ = ["ScopedClient"]


class ScopedClient:
    """`client`'s calls under `scope`; a `tag=` given to a call renames the usage tag for that call."""

    __slots__ = ("client", "scope")

    def __init__(self, client: ModelClient, scope: CallScope) -> None:
        self.client = client
        self.scope = scope

    def __repr__(self) -> str:
        return f"ScopedClient({self.client!r}, tag={self.scope.tag!r})"

    @property
    def alias(self) -> str:
        return self.client.alias

    @property
    def model(self) -> str:
        return self.client.model

    @property
    def config(self) -> ModelConfig:
        return self.client.config

    @property
    def provider(self) -> Provider:
        return self.client.provider

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
        return await self.client.chat(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            inference=inference,
            scope=self.scope,
            tag=tag,
        )

    async def generate_text(
        self, messages: MessagesIn, *, inference: InferenceParams | None = None, tag: str | None = None
    ) -> ChatResult:
        return await self.client.generate_text(messages, inference=inference, scope=self.scope, tag=tag)

    async def generate_structured(
        self,
        messages: MessagesIn,
        schema: dict[str, Any],
        *,
        inference: InferenceParams | None = None,
        tag: str | None = None,
        output_format: StructuredFormat = "json",
    ) -> StructuredResult:
        return await self.client.generate_structured(
            messages, schema, inference=inference, scope=self.scope, tag=tag, output_format=output_format
        )

    async def generate_code(
        self,
        messages: MessagesIn,
        language: str,
        *,
        inference: InferenceParams | None = None,
        tag: str | None = None,
    ) -> CodeResult:
        return await self.client.generate_code(
            messages, language, inference=inference, scope=self.scope, tag=tag
        )

    async def embed(self, texts: list[str], *, tag: str | None = None) -> EmbeddingResult:
        return await self.client.embed(texts, scope=self.scope, tag=tag)

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
        return await self.client.generate_image(
            prompt,
            size=size,
            image=image,
            image_media_type=image_media_type,
            n=n,
            extra_body=extra_body,
            scope=self.scope,
            tag=tag,
        )

    async def post(
        self,
        path: str,
        payload: dict[str, Any],
        *,
        under_base_url: bool = False,
        input_tokens: int = 0,
        tag: str | None = None,
    ) -> dict[str, Any]:
        return await self.client.post(
            path, payload, under_base_url=under_base_url, input_tokens=input_tokens, scope=self.scope, tag=tag
        )
