"""`ProviderRegistry`: provider names to provider objects. Built-ins and plugins register the same way.

A plugin package exposes, in its `pyproject.toml`:

    [project.entry-points."synthloom.providers"]
    my-server = "my_package.provider:MyProvider"

where `MyProvider` is a `Provider` subclass (instantiated with no arguments) or a `Provider` instance.
synthloom publishes `openai`, `anthropic` and `local` the same way. Entry points are read on a
registry's first lookup, never on import; a plugin that fails to load is logged and skipped. When
synthloom's own entry points are not installed (a source checkout), the built-ins are registered
directly.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError
from synthloom.models.providers.anthropic_messages import AnthropicProvider
from synthloom.models.providers.base import Provider
from synthloom.models.providers.local_llamacpp import LocalProvider
from synthloom.models.providers.openai_chat import OpenAIProvider

__all__ = [
    "ENTRY_POINT_GROUP",
    "ProviderRegistry",
    "check_models",
    "provider_registry",
    "resolve_provider",
]

ENTRY_POINT_GROUP = "synthloom.providers"
_BUILTINS: tuple[type[Provider], ...] = (OpenAIProvider, AnthropicProvider, LocalProvider)

log = logging.getLogger(__name__)


class ProviderRegistry:
    """Providers by name. `discover=False` gives an empty registry (no entry points, no built-ins)."""

    def __init__(self, *, discover: bool = True) -> None:
        self._providers: dict[str, Provider] = {}
        self._discovered = not discover

    def register(self, provider: Provider, *, replace: bool = False) -> None:
        """Add `provider` under `provider.name`; a second provider of the same name needs `replace`."""
        if not isinstance(provider, Provider):
            raise TypeError(f"{provider!r} is not a synthloom Provider")
        current = self._providers.get(provider.name)
        if current is not None and current is not provider and not replace:
            raise ValueError(f"a provider named '{provider.name}' is already registered: {current!r}")
        self._providers[provider.name] = provider

    def get(self, name: str, *, model: str | None = None) -> Provider:
        """The provider called `name`; a `ConfigError` on field `provider` (of model alias `model`)
        with the closest known name when there is none."""
        provider = self._providers.get(name)
        if provider is None and not self._discovered:
            self.discover()
            provider = self._providers.get(name)
        if provider is None:
            known = self.names()
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            if close:
                hint = f"did you mean '{close[0]}'?"
            else:
                hint = "known: " + (", ".join(f"'{known_name}'" for known_name in known) or "none")
            raise ConfigError(f"unknown provider '{name}' ({hint})", model=model, field="provider")
        return provider

    def names(self) -> list[str]:
        if not self._discovered:
            self.discover()
        return sorted(self._providers)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def discover(self) -> None:
        """Register the providers of the `synthloom.providers` entry-point group, then any built-in
        still missing. Runs once; names registered before keep their provider."""
        if self._discovered:
            return
        self._discovered = True
        for ep in _entry_points():
            provider = _load(ep)
            if provider is None:
                continue
            if provider.name != ep.name:
                log.warning(
                    "provider plugin %r is published as '%s' but is named '%s'; using '%s'",
                    ep.value,
                    ep.name,
                    provider.name,
                    provider.name,
                )
            current = self._providers.get(provider.name)
            if current is None:
                self._providers[provider.name] = provider
            elif type(current) is not type(provider):
                log.warning(
                    "provider plugin %r ignored: '%s' is already %r", ep.value, provider.name, current
                )
        for builtin in _BUILTINS:
            if builtin.name not in self._providers:
                self._providers[builtin.name] = builtin()


def _entry_points() -> Iterable[EntryPoint]:
    try:
        return entry_points(group=ENTRY_POINT_GROUP)
    except Exception as exc:  # broken package metadata must not take the built-ins down with it
        log.warning("could not read the %s entry points: %s", ENTRY_POINT_GROUP, exc)
        return ()


def _load(ep: EntryPoint) -> Provider | None:
    try:
        target = ep.load()
        provider = target() if isinstance(target, type) and issubclass(target, Provider) else target
    except Exception as exc:  # a broken plugin must not break every other provider
        log.warning("could not load provider plugin %r: %s: %s", ep.value, type(exc).__name__, exc)
        return None
    if not isinstance(provider, Provider):
        log.warning("provider plugin %r is not a synthloom Provider; ignored", ep.value)
        return None
    return provider


#: The registry `ModelPool` uses unless given another.
provider_registry = ProviderRegistry()


def resolve_provider(
    name: str, *, model: str | None = None, registry: ProviderRegistry | None = None
) -> Provider:
    """The provider called `name` (in the default registry unless `registry` is given); raises
    `ConfigError` naming field `provider` (and model alias `model`) with a suggestion if unknown."""
    return (registry or provider_registry).get(name, model=model)


def check_models(
    configs: Iterable[ModelConfig], *, registry: ProviderRegistry | None = None
) -> dict[str, Provider]:
    """Resolve and check every model config; their providers by alias. The first problem raises a
    `ConfigError` naming the model alias and the field."""
    providers: dict[str, Provider] = {}
    for config in configs:
        provider = resolve_provider(config.provider, model=config.alias, registry=registry)
        provider.check_config(config)
        for replica in config.replicas():
            # `${NAME}` in the URL or headers must be set before the first request, not fail it.
            replica.resolved_base_url()
            replica.resolved_headers()
        providers[config.alias] = provider
    return providers
