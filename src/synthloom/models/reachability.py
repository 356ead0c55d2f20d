"""Before a run: can every model endpoint be reached at all?

A refused connection, an unknown host or a port that never answers looks, to a running pipeline, like
a slow server: requests are retried and the run waits up to `run.endpoint_deadline` before it stops.
A TCP connection to each endpoint first tells the two apart in seconds. It sends no request (no
tokens, no cost); `synthloom models check` is the deeper probe.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from synthloom.config.model_config import ModelConfig
from synthloom.models.providers.base import Provider

__all__ = ["UnreachableEndpoint", "unreachable_endpoints"]

#: Seconds a connection may take before the endpoint counts as unreachable.
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class UnreachableEndpoint:
    alias: str
    url: str
    reason: str

    def describe(self) -> str:
        return f"model '{self.alias}': {self.url} is unreachable ({self.reason})"


async def unreachable_endpoints(
    configs: Iterable[ModelConfig], providers: Mapping[str, Provider], *, timeout: float = CONNECT_TIMEOUT
) -> list[UnreachableEndpoint]:
    """Every endpoint of `configs` (replicas included) that refuses or does not accept a connection
    within `timeout`. Models served by a local server synthloom starts are not checked."""
    targets: list[tuple[str, str]] = []
    for config in configs:
        provider = providers.get(config.alias)
        if provider is None or provider.starts_locally:
            continue
        for replica in config.replicas():
            url = provider.base_url(replica)
            if url:
                targets.append((config.alias, url))
    found = await asyncio.gather(*(_probe(alias, url, timeout) for alias, url in targets))
    return [problem for problem in found if problem is not None]


async def _probe(alias: str, url: str, timeout: float) -> UnreachableEndpoint | None:
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return UnreachableEndpoint(alias, url, "no host in the URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return UnreachableEndpoint(alias, url, f"no answer to a connection within {timeout:g} s")
    except ConnectionRefusedError:
        return UnreachableEndpoint(alias, url, "connection refused: is the server running?")
    except OSError as exc:
        return UnreachableEndpoint(alias, url, exc.strerror or type(exc).__name__)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None
