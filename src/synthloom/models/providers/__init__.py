"""Request builders and reply parsers, one module per wire protocol. Pure functions: no I/O."""

from __future__ import annotations

from synthloom.models.providers.anthropic_messages import (
    build_messages_request,
    parse_messages_response,
)
from synthloom.models.providers.openai_chat import (
    build_chat_request,
    build_embeddings_request,
    parse_chat_response,
    parse_embeddings_response,
)
from synthloom.models.providers.reply import ParsedReply

__all__ = [
    "ParsedReply",
    "build_chat_request",
    "build_embeddings_request",
    "build_messages_request",
    "parse_chat_response",
    "parse_embeddings_response",
    "parse_messages_response",
]
