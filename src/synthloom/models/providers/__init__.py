"""Providers: one object per kind of model server, rendering requests and reading replies in its own
wire protocol (no I/O), and the registry that finds them by name.

| module | holds |
|---|---|
| `base.py` | `Provider` (the protocol a plugin implements), `ProviderCapabilities`, `ChatRequest` |
| `openai_chat.py` | `openai`: any OpenAI-compatible server (vLLM, SGLang, TGI, Ollama, OpenAI, ...) |
| `anthropic_messages.py` | `anthropic`: the Messages API |
| `local_llamacpp.py` | `local`: the embedded llama.cpp server (OpenAI wire protocol, started on first use) |
| `registry.py` | `ProviderRegistry`, `resolve_provider`, `check_models`; plugins: `synthloom.providers` |
"""

from __future__ import annotations

from synthloom.models.providers.anthropic_messages import AnthropicProvider
from synthloom.models.providers.base import ChatRequest, LocalServer, Provider, ProviderCapabilities
from synthloom.models.providers.local_llamacpp import LocalProvider
from synthloom.models.providers.openai_chat import OpenAIProvider
from synthloom.models.providers.registry import (
    ENTRY_POINT_GROUP,
    ProviderRegistry,
    check_models,
    provider_registry,
    resolve_provider,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnthropicProvider",
    "ChatRequest",
    "LocalProvider",
    "LocalServer",
    "OpenAIProvider",
    "Provider",
    "ProviderCapabilities",
    "ProviderRegistry",
    "check_models",
    "provider_registry",
    "resolve_provider",
]
