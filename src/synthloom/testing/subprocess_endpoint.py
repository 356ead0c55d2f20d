"""Running the simulated endpoint until interrupted, or in a separate process for benchmarks
(so that server and client do not share one event loop or one GIL)."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from synthloom.testing.simulated_endpoint import SimulatedEndpoint, SimulatedEndpointConfig

__all__ = ["serve", "subprocess_endpoint"]


async def _serve_async(
    config: SimulatedEndpointConfig, host: str, port: int, ready: Callable[[SimulatedEndpoint], None]
) -> None:
    async with SimulatedEndpoint(config, host=host, port=port) as endpoint:
        ready(endpoint)
        await asyncio.Event().wait()


def serve(
    config: SimulatedEndpointConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[SimulatedEndpoint], None] | None = None,
) -> None:
    """Serve until KeyboardInterrupt; `ready` is called with the running endpoint."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_async(config, host, port, ready or (lambda _: None)))


def _child(config_json: str, host: str, port: int, conn: Connection) -> None:
    config = SimulatedEndpointConfig.model_validate_json(config_json)
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    serve(config, host=host, port=port, ready=lambda endpoint: conn.send(endpoint.base_url))


@contextlib.contextmanager
def subprocess_endpoint(
    config: SimulatedEndpointConfig, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run the simulated endpoint in a child process; yields its base URL, stops it on exit."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(config.model_dump_json(), host, port, child), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the simulated endpoint did not start within 30 s")
        base_url: Any = parent.recv()
        yield str(base_url)
    finally:
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
