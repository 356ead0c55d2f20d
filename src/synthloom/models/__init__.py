"""The model layer: everything between a rendered prompt and a parsed, accounted-for reply.

async with ModelPool(configs) as pool:
    result = await pool.client("writer").generate_text(messages, tag="story")
    pool.usage.summary()
"""

from __future__ import annotations

from synthloom.models.adaptive_limiter import AdaptiveLimiter, LimiterStats, Outcome, Permit, request_priority
from synthloom.models.code_extraction import extract_code
from synthloom.models.local_server import LocalModelServer, find_bundled_model
from synthloom.models.model_client import ModelClient
from synthloom.models.model_pool import ModelPool
from synthloom.models.results import CallUsage, ChatResult, CodeResult, EmbeddingResult, StructuredResult
from synthloom.models.retry_policy import RetryPolicy
from synthloom.models.structured_output import extract_json
from synthloom.models.usage import UsageTracker

__all__ = [
    "AdaptiveLimiter",
    "CallUsage",
    "ChatResult",
    "CodeResult",
    "EmbeddingResult",
    "LimiterStats",
    "LocalModelServer",
    "ModelClient",
    "ModelPool",
    "Outcome",
    "Permit",
    "RetryPolicy",
    "StructuredResult",
    "UsageTracker",
    "extract_code",
    "extract_json",
    "find_bundled_model",
    "request_priority",
]
