"""`serve:` on the Ray cluster: each replica a server process run by an actor, with the resources asked.

    factory = ray_replica_factory(ray, placement_timeout=60)
    served = ServedModels(config=config, factory=factory, check_machine=False)
    urls = await served.start(models)          # every replica placed, started and healthy

The supervisor (`models/serving/supervisor.py`) is the local one: it starts, watches, restarts and
stops replicas through the `Replica` protocol, and rewrites the config to `endpoints:` at their URLs,
so the workers' endpoint sets route to them (one limiter — one shared budget — per replica). Only
where a replica runs differs:

- **`ReplicaActor`** (on the cluster) asks Ray for `serve.resources` (`num_cpus`, `num_gpus`; Ray
  gives a GPU actor its own `CUDA_VISIBLE_DEVICES`) and runs the server as a `ReplicaProcess` there,
  on 127.0.0.1: under the guard of `guard.py`, which watches the *actor's* process. An actor ends when
  the run stops it, when its driver dies (Ray kills the actors a driver owns) or with the cluster; its
  guard then stops the server, so a killed driver leaves nothing listening.
- **`RayReplica`** (on the driver) is the supervisor's handle to one actor. A server that exits is
  started again by the same actor on the same port; an actor that dies is replaced by a new one on
  that port (the URL the workers hold stays valid).

Placement is bounded: an actor that Ray cannot place within `placement_timeout` seconds (the cluster
is busy or lacks what it asks for) is a `ServingError` naming the model and `serve.resources`, never a
hang; what no node of the cluster could ever give is a `ConfigError` before any actor starts
(`check_cluster_resources`).

Replicas listen on loopback, so the workers that reach them share their machine: a cluster of one
machine (what this executor starts), or the machine of the replica on a larger one.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError, ServingError
from synthloom.models.serving.engines import HOST, replica_launch
from synthloom.models.serving.replica import ReplicaProcess
from synthloom.models.serving.supervisor import Replica, ReplicaFactory

__all__ = ["RayReplica", "ReplicaActor", "check_cluster_resources", "ray_replica_factory", "served_cpus"]

#: Seconds an actor may wait for Ray to place it before the run gives up on it.
DEFAULT_PLACEMENT_TIMEOUT = 60.0
#: Seconds a stop may take before the actor is killed (its guard then stops the server).
_STOP_TIMEOUT = 20.0

#: Ray's names for the resources `serve.resources` may ask.
_RAY_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU"}


class ReplicaActor:
    """Runs one replica's server on its node (a Ray actor; see the module doc)."""

    def __init__(self, model: ModelConfig, index: int, base_dir: str | None, port: int | None) -> None:
        serve = model.serve
        assert serve is not None
        self.port = port if port is not None else _free_port()
        launch = replica_launch(
            model, port=self.port, index=index, base_dir=Path(base_dir) if base_dir else None
        )
        launch.env.pop("CUDA_VISIBLE_DEVICES", None)  # Ray gives this actor its own GPUs
        self.replica = ReplicaProcess(
            model.alias,
            index,
            launch,
            port=self.port,
            health=serve.health,
            startup_timeout=serve.startup_timeout,
        )

    def placed(self) -> int:
        """The port (answered once Ray has placed and built this actor)."""
        return self.port

    async def start(self) -> int:
        """Start the server and wait until it is healthy (`ServingError` otherwise); its pid."""
        await self.replica.start()
        return self.replica.pid or 0

    async def wait(self) -> int:
        return await self.replica.wait()

    async def stop(self) -> None:
        await self.replica.stop()
        self.replica.discard_log()

    def log_tail(self) -> str:
        return self.replica.log_tail()

    def running(self) -> bool:
        return self.replica.running


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait(ref: Any) -> asyncio.Future[Any]:
    return asyncio.wrap_future(ref.future())


class RayReplica:
    """The driver's handle to one replica actor (the supervisor's `Replica`)."""

    def __init__(
        self, ray: Any, model: ModelConfig, index: int, base_dir: Path | None, *, placement_timeout: float
    ) -> None:
        serve = model.serve
        assert serve is not None
        self.alias = model.alias
        self.index = index
        self._ray = ray
        self._model = model
        self._base_dir = str(base_dir) if base_dir is not None else None
        self._placement_timeout = placement_timeout
        self._port: int | None = serve.port + index if serve.port is not None else None
        self._options: dict[str, Any] = {
            "num_cpus": serve.resources.get("num_cpus", 0),
            "num_gpus": serve.resources.get("num_gpus", 0),
            "max_restarts": 0,  # a dead actor is replaced by the supervisor, on the same port
            "max_concurrency": 8,  # `wait` is outstanding while `stop` and `log_tail` are called
        }
        self._actor: Any = None
        self._placing: Any = None
        self._pid: int | None = None
        self._running = False
        self._last_log = ""

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._port}/v1"

    @property
    def pid(self) -> int | None:
        """The pid of the server's guard on its node."""
        return self._pid

    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        if self._actor is None:
            await self._place()
        try:
            self._pid = await _wait(self._actor.start.remote())
        except self._ray.exceptions.RayTaskError as exc:
            self._forget()
            cause = getattr(exc, "cause", None)
            raise cause if isinstance(cause, ServingError) else ServingError(str(exc)) from None
        except self._ray.exceptions.RayActorError as exc:
            self._forget()
            raise ServingError(
                f"model '{self.alias}': the Ray actor of replica {self.index} died while it started: {exc}"
            ) from None
        self._running = True

    async def _place(self) -> None:
        actor_class = self._ray.remote(ReplicaActor)
        actor = actor_class.options(**self._options).remote(
            self._model, self.index, self._base_dir, self._port
        )
        self._placing = actor  # a stop while it waits for a place kills it
        try:
            self._port = await asyncio.wait_for(_wait(actor.placed.remote()), self._placement_timeout)
        except TimeoutError:
            self._ray.kill(actor, no_restart=True)
            raise ServingError(
                f"model '{self.alias}': replica {self.index} was not placed on the Ray cluster within "
                f"{self._placement_timeout:g} s: no node has free what it asks (serve.resources: "
                f"{dict(self._model.serve.resources) if self._model.serve else {}}, cluster free: "
                f"{_free_resources(self._ray)})"
            ) from None
        except BaseException:
            self._ray.kill(actor, no_restart=True)
            raise
        finally:
            self._placing = None
        self._actor = actor

    async def wait(self) -> int:
        try:
            code = int(await _wait(self._actor.wait.remote()))
            with contextlib.suppress(Exception):  # kept for the supervisor's message, read without waiting
                self._last_log = str(await _wait(self._actor.log_tail.remote()))
        except self._ray.exceptions.RayActorError:
            # The actor died (its process killed): its guard stops the server. A new actor takes over.
            self._forget()
            code = -9
        self._running = False
        return code

    def _forget(self) -> None:
        actor, self._actor, self._running = self._actor, None, False
        if actor is not None:
            with contextlib.suppress(Exception):
                self._ray.kill(actor, no_restart=True)

    async def stop(self) -> None:
        if self._placing is not None:
            with contextlib.suppress(Exception):
                self._ray.kill(self._placing, no_restart=True)
        actor = self._actor
        if actor is None:
            return
        with contextlib.suppress(Exception):
            self._last_log = await asyncio.wait_for(_wait(actor.log_tail.remote()), _STOP_TIMEOUT)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(_wait(actor.stop.remote()), _STOP_TIMEOUT)
        self._forget()

    def log_tail(self) -> str:
        """The end of the server's output as of its last exit or stop."""
        return self._last_log

    def discard_log(self) -> None:
        """The actor discards its log when it stops."""


def _free_resources(ray: Any) -> dict[str, float]:
    free = ray.available_resources()
    return {name: float(free.get(name, 0.0)) for name in ("CPU", "GPU")}


def ray_replica_factory(ray: Any, *, placement_timeout: float = DEFAULT_PLACEMENT_TIMEOUT) -> ReplicaFactory:
    """A `ReplicaFactory` running each replica in an actor of the connected cluster."""

    def factory(model: ModelConfig, index: int, base_dir: Path | None) -> Replica:
        return RayReplica(ray, model, index, base_dir, placement_timeout=placement_timeout)

    return factory


def check_cluster_resources(ray: Any, models: Iterable[ModelConfig]) -> None:
    """`ConfigError(model, 'serve.resources')` when the cluster could never place every replica: no node
    has what one replica asks, or all replicas of the run ask more than the cluster has."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    total = {name: sum(float(n.get(name, 0.0)) for n in nodes) for name in _RAY_NAMES.values()}
    asked = dict.fromkeys(_RAY_NAMES.values(), 0.0)
    for model in models:
        serve = model.serve
        if serve is None:
            continue
        for field, name in _RAY_NAMES.items():
            amount = float(serve.resources.get(field, 0.0))
            if not amount:
                continue
            largest = max((float(n.get(name, 0.0)) for n in nodes), default=0.0)
            if amount > largest:
                raise ConfigError(
                    f"each replica asks {field}: {amount:g}, and no node of the Ray cluster has that many "
                    f"(the largest has {largest:g}; the cluster {total[name]:g})",
                    model=model.alias,
                    field="serve.resources",
                )
            asked[name] += amount * serve.replicas
            if asked[name] > total[name]:
                raise ConfigError(
                    f"{serve.replicas} replica(s) x {field}: {amount:g} (with the other served models: "
                    f"{asked[name]:g}) asked, the Ray cluster has {total[name]:g}",
                    model=model.alias,
                    field="serve.resources",
                )


def served_cpus(models: Iterable[ModelConfig]) -> float:
    """The CPUs the replicas of `models` take on the cluster (what is left is the workers')."""
    serves = [m.serve for m in models if m.serve is not None]
    return sum(float(s.resources.get("num_cpus", 0.0)) * s.replicas for s in serves)
