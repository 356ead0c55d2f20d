"""`ServedModels`: the replicas of every `serve:` model of a run — started, watched, restarted, stopped.

    async with serve_models(config) as served:     # every replica healthy, or a clear error
        config = served.config                     # `serve:` replaced by `endpoints:` (their URLs)
        ...                                        # the run routes through the endpoint set
    # every process it started is stopped here, whether the run ended, failed or was cancelled

The hook into a run is this one rewrite: a served model becomes a model with `endpoints`, one per
replica, so the model pool routes to them as to any replicas (its own limiter per replica, a replica
that refuses connections taken out and its requests retried on the others). A replica that exits
is started again on the same port (so its endpoint URL stays valid), up to `serve.max_restarts`
times.

Where a replica runs is the `ReplicaFactory`'s business: by default a process of this machine
(`ReplicaProcess`); the Ray executor passes one that runs each replica in an actor of the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from synthloom.config.dataset import DatasetConfig
from synthloom.config.model_config import EndpointConfig, ModelConfig
from synthloom.models.serving.engines import HOST, check_serve, replica_launch, served_model_id
from synthloom.models.serving.replica import ReplicaProcess

__all__ = ["Replica", "ReplicaFactory", "ServedModels", "local_replica", "serve_models", "served_config"]

logger = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Replica(Protocol):
    """One replica as the supervisor sees it, wherever it runs (`ReplicaProcess` is the local one)."""

    alias: str
    index: int

    @property
    def base_url(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    @property
    def running(self) -> bool: ...

    async def start(self) -> None:
        """Start it (again, on the same port) and wait until it is healthy, or raise `ServingError`."""

    async def wait(self) -> int:
        """Its exit code, once it has exited."""
        ...

    async def stop(self) -> None:
        """Stop it and everything it started; idempotent."""

    def log_tail(self) -> str: ...

    def discard_log(self) -> None: ...


#: Builds replica `index` of a served model (`base_dir`: the config's folder, for relative paths).
ReplicaFactory = Callable[[ModelConfig, int, "Path | None"], Replica]


def local_replica(model: ModelConfig, index: int, base_dir: Path | None) -> Replica:
    """Replica `index` of `model` as a process of this machine, on its `serve.port` or a free port."""
    serve = model.serve
    assert serve is not None
    port = serve.port + index if serve.port is not None else _free_port()
    launch = replica_launch(model, port=port, index=index, base_dir=base_dir)
    return ReplicaProcess(
        model.alias, index, launch, port=port, health=serve.health, startup_timeout=serve.startup_timeout
    )


@dataclass
class _Watched:
    replica: Replica
    max_restarts: int
    restarts: int = 0
    task: asyncio.Task[None] | None = None
    given_up: bool = False


@dataclass
class ServedModels:
    """The replicas started for a run (see the module doc)."""

    #: The config the run uses: served models rewritten to `endpoints:` once started.
    config: DatasetConfig
    base_dir: Path | None = None
    replicas: dict[str, list[_Watched]] = field(default_factory=dict)
    #: Where replicas run: processes of this machine unless told otherwise.
    factory: ReplicaFactory = local_replica
    #: Check `serve.resources` against this machine (off where a cluster gives them).
    check_machine: bool = True
    _stopping: bool = False

    async def start(self, models: Iterable[ModelConfig]) -> dict[str, list[str]]:
        """Check, start and health-check every replica of the `serve:` models; their base URLs by alias.
        Any failure stops what was started and raises."""
        served = [m for m in models if m.serve is not None]
        for model in served:
            check_serve(model, base_dir=self.base_dir, machine=self.check_machine)
        try:
            for model in served:
                await self._start_model(model)
        except BaseException:
            await self.stop()
            raise
        return {alias: [w.replica.base_url for w in watched] for alias, watched in self.replicas.items()}

    async def _start_model(self, model: ModelConfig) -> None:
        serve = model.serve
        assert serve is not None
        watched: list[_Watched] = []
        self.replicas[model.alias] = watched
        for index in range(serve.replicas):
            watched.append(_Watched(self.factory(model, index, self.base_dir), serve.max_restarts))
        # Replicas load at once (a GPU server takes minutes); the first failure is the one reported.
        await asyncio.gather(*(w.replica.start() for w in watched))
        for entry in watched:
            entry.task = asyncio.create_task(
                self._watch(entry), name=f"serve-{model.alias}-{entry.replica.index}"
            )
        logger.info("model %s: %d replica(s) healthy", model.alias, len(watched))

    async def _watch(self, entry: _Watched) -> None:
        replica = entry.replica
        while True:
            code = await replica.wait()
            if self._stopping:
                return
            if entry.restarts >= entry.max_restarts:
                entry.given_up = True
                logger.error(
                    "model %s: replica %d exited (code %s) and was restarted %d times: given up; the others "
                    "carry on. Its output ends:\n%s",
                    replica.alias,
                    replica.index,
                    code,
                    entry.restarts,
                    replica.log_tail(),
                )
                return
            entry.restarts += 1
            logger.warning(
                "model %s: replica %d exited (code %s); starting it again (%d of %d)",
                replica.alias,
                replica.index,
                code,
                entry.restarts,
                entry.max_restarts,
            )
            try:
                await replica.start()
            except Exception as exc:  # its next exit (or the give-up) is handled by the loop
                logger.warning(
                    "model %s: replica %d did not come back: %s", replica.alias, replica.index, exc
                )

    def report(self) -> dict[str, Any]:
        """Per served alias: replicas, their URLs and pids, restarts, and those given up."""
        return {
            alias: [
                {
                    "url": w.replica.base_url,
                    "pid": w.replica.pid,
                    "running": w.replica.running,
                    "restarts": w.restarts,
                    "given_up": w.given_up,
                }
                for w in watched
            ]
            for alias, watched in self.replicas.items()
        }

    async def stop(self) -> None:
        """Stop every replica started (and its watcher)."""
        self._stopping = True
        entries = [w for watched in self.replicas.values() for w in watched]
        for entry in entries:
            if entry.task is not None:
                entry.task.cancel()
        await asyncio.gather(*(w.replica.stop() for w in entries), return_exceptions=True)
        for entry in entries:
            if entry.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await entry.task
            entry.replica.discard_log()


def served_config(config: DatasetConfig, urls: dict[str, list[str]]) -> DatasetConfig:
    """`config` with each served model's `serve:` replaced by `endpoints:` at its replicas' URLs."""
    models = []
    for model in config.models:
        if model.serve is None or model.alias not in urls:
            models.append(model)
            continue
        endpoints = [EndpointConfig(url=url) for url in urls[model.alias]]
        models.append(
            model.model_copy(update={"serve": None, "endpoints": endpoints, "model": served_model_id(model)})
        )
    return config.model_copy(update={"models": models})  # private attributes (folder, source) kept


@contextlib.asynccontextmanager
async def serve_models(
    config: DatasetConfig, aliases: Iterable[str] | None = None
) -> AsyncIterator[ServedModels]:
    """Start the replicas of `config`'s served models (those in `aliases`, default all) for the block;
    `served.config` is the config the run uses. Everything started is stopped on the way out."""
    wanted = set(aliases) if aliases is not None else None
    models = [m for m in config.models if m.serve is not None and (wanted is None or m.alias in wanted)]
    served = ServedModels(base_dir=config.source_dir, config=config)
    if not models:
        yield served
        return
    urls = await served.start(models)
    try:
        served.config = served_config(config, urls)
        yield served
    finally:
        await served.stop()
