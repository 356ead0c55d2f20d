"""`ModelPool`: every model of a run, with shared sessions, limiters, endpoints, usage and the
embedded model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError
from synthloom.models.adaptive_limiter import AdaptiveLimiter
from synthloom.models.calls import HandlerWrapper, RequestSink, Routing, build_chain
from synthloom.models.endpoint_set import Endpoint, EndpointSet, HealthPolicy, Replica
from synthloom.models.http_session import HttpSession
from synthloom.models.model_client import ModelClient
from synthloom.models.providers.base import LocalServer, Provider
from synthloom.models.providers.registry import ProviderRegistry, check_models
from synthloom.models.retry_policy import RetryPolicy
from synthloom.models.spend_journal import SpendJournal
from synthloom.models.usage import UsageTracker

__all__ = ["LimiterFactory", "ModelPool"]

logger = logging.getLogger(__name__)

#: Makes the limiter of one limiter key: `(key, ceiling, name) -> limiter`.
LimiterFactory = Callable[[tuple[str, str], int, str], AdaptiveLimiter]


class ModelPool:
    """`async with ModelPool(configs) as pool: client = pool.client("judge")`.

    One pooled HTTP session per endpoint and one adaptive limiter per limiter key (by default the
    same model on the same server; the provider decides). A model with `endpoints:` gets one limiter
    per endpoint, and its client spreads requests over them (`EndpointSet`: least-loaded healthy
    endpoint; per-endpoint figures in `usage.summary()["endpoints"]`). A provider that
    `starts_locally` (the embedded model) has its server started on the first request (once, however
    many ask at once) and stopped when the pool closes. Providers come from `providers` (the default
    registry unless given); an unknown provider or a config its provider refuses is a `ConfigError`.

    Each alias's client sends through one handler chain (`models/calls/`), built here once: accounting,
    the `wrappers` given (a cache, a budget, …), retries, and routing over the alias's endpoints, whose
    every attempt is told to the `request_sinks` (the run's metrics).
    """

    def __init__(
        self,
        configs: list[ModelConfig],
        *,
        retry_policy: RetryPolicy | None = None,
        limiter_options: dict[str, Any] | None = None,
        providers: ProviderRegistry | None = None,
        health: HealthPolicy | None = None,
        limiter_factory: LimiterFactory | None = None,
        wrappers: Sequence[HandlerWrapper] = (),
        request_sinks: Sequence[RequestSink] = (),
        spend_journal: SpendJournal | None = None,
    ) -> None:
        self._configs: dict[str, ModelConfig] = {}
        for config in configs:
            if config.alias in self._configs:
                raise ConfigError(f"model alias '{config.alias}' is declared twice", field="models")
            self._configs[config.alias] = config
        self._providers: dict[str, Provider] = check_models(configs, registry=providers)
        self._retry = retry_policy or RetryPolicy()
        self.usage = UsageTracker({c.alias: c.pricing for c in configs}, journal=spend_journal)
        self._routings: dict[str, Routing] = {}
        if spend_journal is not None:
            spend_journal.in_flight = self._in_flight
        self._health = health
        ceilings: dict[tuple[str, str], int] = {}
        for config in configs:
            for replica in config.replicas():
                key = self._limiter_key(replica)
                limit = replica.max_parallel_requests
                ceilings[key] = min(ceilings.get(key, limit), limit)
        # A supplied factory (a Ray worker's leased share of a budget held elsewhere) replaces
        # `limiter_options`.
        make = limiter_factory
        self._wrappers = list(wrappers)
        self._sinks = list(request_sinks)
        self._limiters = {
            key: make(key, ceiling, f"{key[1]}@{key[0]}")
            if make is not None
            else AdaptiveLimiter(ceiling, name=f"{key[1]}@{key[0]}", **(limiter_options or {}))
            for key, ceiling in ceilings.items()
        }
        self._endpoint_sets: dict[str, EndpointSet] = {}
        self._sessions: dict[str, HttpSession] = {}
        self._local: dict[str, LocalServer] = {}
        self._local_lock = asyncio.Lock()
        self._clients: dict[str, ModelClient] = {}
        self._closed = False

    @property
    def aliases(self) -> list[str]:
        return list(self._configs)

    def config(self, alias: str) -> ModelConfig:
        try:
            return self._configs[alias]
        except KeyError:
            known = ", ".join(sorted(self._configs)) or "none"
            raise ConfigError(f"unknown model alias '{alias}' (declared: {known})", field="model") from None

    def client(self, alias: str) -> ModelClient:
        """The client for `alias` (created once; cheap to call per request)."""
        client = self._clients.get(alias)
        if client is None:
            config = self.config(alias)
            endpoints = self.endpoint_set(alias)
            journal = self.usage.journal
            routing = Routing(
                endpoints,
                timeout=config.timeout,
                sinks=self._sinks,
                on_send=journal.request_sent if journal is not None else None,
            )
            self._routings[alias] = routing
            handler = build_chain(
                config, routing, usage=self.usage, retry_policy=self._retry, extra=self._wrappers
            )
            client = ModelClient(
                config, handler=handler, endpoints=endpoints, provider=self._providers[alias]
            )
            self._clients[alias] = client
        return client

    def _in_flight(self) -> dict[str, int]:
        """Requests at a server now, per model alias (for the spend journal)."""
        return {alias: routing.in_flight for alias, routing in self._routings.items()}

    def endpoint_set(self, alias: str) -> EndpointSet:
        """The endpoints `alias`'s requests are spread over (one, unless it declares `endpoints`)."""
        endpoints = self._endpoint_sets.get(alias)
        if endpoints is None:
            config = self.config(alias)
            replicas = [
                Replica(
                    replica.base_url or alias,
                    self._limiters[self._limiter_key(replica)],
                    self._resolver(replica),
                )
                for replica in config.replicas()
            ]
            endpoints = EndpointSet(alias, replicas, health=self._health)
            self._endpoint_sets[alias] = endpoints
            if config.endpoints:
                self.usage.add_report("endpoints", alias, endpoints.report)
        return endpoints

    def _resolver(self, config: ModelConfig) -> Callable[[], Awaitable[Endpoint]]:
        if self._providers[config.alias].starts_locally:

            async def resolve() -> Endpoint:
                return await self._endpoint(config)  # a local server may have been restarted

            return resolve
        # A remote endpoint's URL, headers and key come from the config and the environment: resolved
        # once, on the first request, not on every one.
        resolved: list[Endpoint] = []

        async def resolve_once() -> Endpoint:
            if self._closed:
                raise RuntimeError("the model pool is closed")
            if not resolved:
                resolved.append(await self._endpoint(config))
            return resolved[0]

        return resolve_once

    def provider(self, alias: str) -> Provider:
        """The provider `alias` is reached through."""
        return self._providers[self.config(alias).alias]

    def limiter(self, alias: str) -> AdaptiveLimiter:
        """The limiter of `alias`'s (first) endpoint."""
        return self.endpoint_set(alias).limiter

    def limiter_stats(self) -> dict[str, dict[str, int]]:
        """Per alias: current limit, ceiling, in flight, 429s, level changes (added up over the
        endpoints of an alias with several)."""
        return {alias: self.endpoint_set(alias).limiter_stats().as_dict() for alias in self._configs}

    def _limiter_key(self, config: ModelConfig) -> tuple[str, str]:
        return self._providers[config.alias].limiter_key(config)

    async def _endpoint(self, config: ModelConfig) -> Endpoint:
        if self._closed:
            raise RuntimeError("the model pool is closed")
        provider = self._providers[config.alias]
        if provider.starts_locally:
            base_url = await self._local_base_url(config, provider)
        else:
            base_url = provider.base_url(config)
        session = self._sessions.get(base_url)
        if session is None:
            session = self._sessions[base_url] = HttpSession()
        session.add_secret(config.api_key())
        return Endpoint(base_url=base_url, session=session, headers=provider.headers(config))

    async def _local_base_url(self, config: ModelConfig, provider: Provider) -> str:
        # Aliases with the same limiter endpoint share one server.
        key = provider.limiter_key(config)[0]
        server = self._local.get(key)
        if server is not None and server.running:
            return server.base_url
        async with self._local_lock:
            server = self._local.get(key)
            if server is None or not server.running:
                server = provider.local_server(config)
                await server.start()
                self._local[key] = server
        return server.base_url

    async def aclose(self) -> None:
        """Close every session and stop the embedded model."""
        self._closed = True
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        for server in self._local.values():
            await server.stop()
        self._local.clear()

    async def __aenter__(self) -> ModelPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
