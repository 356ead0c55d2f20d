"""The model layer: everything between a conversation and a parsed, accounted-for reply.

    async with ModelPool(configs) as pool:
        client = pool.client("writer")
        result = await client.generate_text(messages, tag="story")
        result = await client.chat([Message("user", "Weather in Oslo?")], tools=[ToolSpec("weather", ...)])
        result.tool_calls
    pool.usage.summary()

Messages are `Message` objects (or OpenAI-style dicts); a provider (`openai`, `anthropic`, `local`, or
a plugin from the `synthloom.providers` entry-point group) renders them in its wire protocol.
"""

from __future__ import annotations

from synthloom.models.adaptive_limiter import AdaptiveLimiter, LimiterStats, Outcome, Permit
from synthloom.models.calls import CallScope, FunctionHandler, Handler, ModelRequest, ModelResponse, Wrapper
from synthloom.models.code_extraction import extract_code
from synthloom.models.local_server import LocalModelServer, find_bundled_model
from synthloom.models.messages import (
    AudioPart,
    ContentPart,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolSpec,
    as_messages,
    to_openai_messages,
)
from synthloom.models.model_client import ModelClient
from synthloom.models.model_pool import ModelPool
from synthloom.models.providers import (
    ChatRequest,
    Provider,
    ProviderCapabilities,
    ProviderRegistry,
    check_models,
    provider_registry,
    resolve_provider,
)
from synthloom.models.reply import Reply
from synthloom.models.results import CallUsage, ChatResult, CodeResult, EmbeddingResult, StructuredResult
from synthloom.models.retry_policy import RetryPolicy
from synthloom.models.scoped_client import ScopedClient
from synthloom.models.structured_output import extract_json
from synthloom.models.usage import UsageTracker

__all__ = [
    "AdaptiveLimiter",
    "AudioPart",
    "CallScope",
    "CallUsage",
    "ChatRequest",
    "ChatResult",
    "CodeResult",
    "ContentPart",
    "EmbeddingResult",
    "FunctionHandler",
    "Handler",
    "ImagePart",
    "LimiterStats",
    "LocalModelServer",
    "Message",
    "ModelClient",
    "ModelPool",
    "ModelRequest",
    "ModelResponse",
    "Outcome",
    "Permit",
    "Provider",
    "ProviderCapabilities",
    "ProviderRegistry",
    "Reply",
    "RetryPolicy",
    "ScopedClient",
    "StructuredResult",
    "TextPart",
    "ToolCall",
    "ToolSpec",
    "UsageTracker",
    "Wrapper",
    "as_messages",
    "check_models",
    "extract_code",
    "extract_json",
    "find_bundled_model",
    "provider_registry",
    "resolve_provider",
    "to_openai_messages",
]
