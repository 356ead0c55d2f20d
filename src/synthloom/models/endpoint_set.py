"""`EndpointSet`: the servers (replicas) behind one model alias, and which one each request goes to.

    endpoints = EndpointSet("judge", [Replica(url_a, limiter_a, resolve_a), Replica(url_b, ...)])
    async with endpoints.slot() as lease:       # a replica chosen, a slot of its limiter held
        body = await lease.session.post_json(f"{lease.base_url}/chat/completions", ...)

**Routing.** Each replica has its own `AdaptiveLimiter` (429s and queueing on one server say nothing
about another). A request goes to the usable replica with the most room: the lowest share of its
limiter's current level in flight, then the higher level, then in turn (a replica due for a probe,
below, goes first). When every usable replica is
full, requests wait here (earlier records first, as in a limiter) and are handed to the first replica
that frees a slot; no request ever queues inside one replica's limiter, so none waits on a slow or
dying server while another has room.

**Health.** A replica that fails — its connection refused, or `failure_streak` failures in a row
(5xx, timeouts, dropped connections) — is taken out for a backoff (`first_backoff`, doubling up to
`max_backoff`). When the backoff ends, the next request to it is a *probe* (one at a time): an answer
(any HTTP status below 500, 429 included) brings it back in, a failure takes it out again for twice as
long. Requests in flight when a replica is taken out finish where they are; their failures do not
lengthen its backoff. When every replica is out, a request fails at once with `ModelConnectionError`,
which the retry policy and the engine's outage handling (`run.endpoint_deadline`) treat like a
single unreachable server.

One replica (a model with a plain `base_url`) is the common case: the set is then a thin wrapper over
its limiter (its own wait queue, no health tracking), so a single endpoint behaves exactly as before.

Per replica, the set keeps what it sent and how that went (`report()`: requests, answers, failures,
429s, ejections, probes, tokens, latency), which the pool adds to `usage.json` under `endpoints`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from synthloom.errors import (
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
from synthloom.models.adaptive_limiter import (
    AdaptiveLimiter,
    LimiterStats,
    Outcome,
    Permit,
    Priority,
    WaitQueue,
)
from synthloom.models.http_session import HttpSession
from synthloom.models.usage import LatencyHistogram

__all__ = ["Endpoint", "EndpointSet", "HealthPolicy", "Lease", "Replica"]

logger = logging.getLogger(__name__)

ReplicaState = Literal["healthy", "out"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one replica's requests go and the headers they carry (its API key), resolved per request
    (a local model starts on the first)."""

    base_url: str
    session: HttpSession
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """When a replica is taken out of rotation, and when it is tried again."""

    #: Failures in a row (5xx, timeouts, dropped connections) that take a replica out. A refused
    #: connection takes it out at once.
    failure_streak: int = 3
    #: Seconds out before the first probe; doubled after each failed probe, up to `max_backoff`.
    first_backoff: float = 1.0
    max_backoff: float = 60.0

    def __post_init__(self) -> None:
        if self.failure_streak < 1:
            raise ValueError("failure_streak must be at least 1")
        if not 0 < self.first_backoff <= self.max_backoff:
            raise ValueError("need 0 < first_backoff <= max_backoff")


class Replica:
    """One server behind an alias: its limiter, how to reach it, its health and its figures."""

    def __init__(
        self,
        name: str,
        limiter: AdaptiveLimiter,
        resolve: Callable[[], Awaitable[Endpoint]],
    ) -> None:
        #: How reports name it: the URL as configured.
        self.name = name
        self.limiter = limiter
        self._resolve = resolve
        self.state: ReplicaState = "healthy"
        self.streak = 0
        self.backoff = 0.0
        #: When an out replica may be probed (monotonic seconds).
        self.retry_at = 0.0
        self.probing = False
        # figures
        self.requests = 0
        self.answered = 0
        self.failures = 0
        self.rate_limited = 0
        self.ejections = 0
        self.probes = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.latency = LatencyHistogram()

    def __repr__(self) -> str:
        return f"Replica({self.name!r}, state={self.state!r})"

    async def resolve(self) -> Endpoint:
        return await self._resolve()

    def report(self) -> dict[str, Any]:
        """This replica's figures, JSON-serialisable."""

        def pct(q: float) -> float | None:
            value = self.latency.percentile(q)
            return None if value is None else round(value, 4)

        stats = self.limiter.stats()
        return {
            "state": self.state,
            "requests": self.requests,
            "answered": self.answered,
            "failures": self.failures,
            "rate_limited": self.rate_limited,
            "ejections": self.ejections,
            "probes": self.probes,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_p50": pct(0.50),
            "latency_p95": pct(0.95),
            "limit": stats.limit,
            "ceiling": stats.ceiling,
            "peak_in_flight": stats.peak_in_flight,
        }


@dataclass(slots=True)
class Lease:
    """One request's hold on one replica. The sender fills in the tokens the answer reported."""

    replica: Replica
    permit: Permit
    probe: bool = False
    base_url: str = ""
    session: HttpSession | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def started(self) -> float:
        return self.permit.started


class EndpointSet:
    """The replicas of one alias: `async with endpoints.slot() as lease: ...` (see the module doc)."""

    def __init__(
        self,
        alias: str,
        replicas: Sequence[Replica],
        *,
        health: HealthPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not replicas:
            raise ValueError("an endpoint set needs at least one replica")
        self.alias = alias
        self.replicas: tuple[Replica, ...] = tuple(replicas)
        self.health = health or HealthPolicy()
        self._clock = clock
        self._single = self.replicas[0] if len(self.replicas) == 1 else None
        self._waiters: WaitQueue[tuple[Replica, Permit, bool]] = WaitQueue()
        self._turn = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        if self._single is None:
            for replica in self.replicas:
                replica.limiter.add_listener(self._dispatch)

    def __repr__(self) -> str:
        return f"EndpointSet({self.alias!r}, {[r.name for r in self.replicas]})"

    @property
    def limiter(self) -> AdaptiveLimiter:
        """The first replica's limiter (the only one for a single endpoint)."""
        return self.replicas[0].limiter

    def limiter_stats(self) -> LimiterStats:
        """The replicas' limiter figures added up (levels, ceilings, in flight, 429s)."""
        if self._single is not None:
            return self._single.limiter.stats()
        total = self.replicas[0].limiter.stats()
        for replica in self.replicas[1:]:
            stats = replica.limiter.stats()
            for name in total.__slots__:  # type: ignore[attr-defined]
                setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.waiting += len(self._waiters)
        return total

    def report(self) -> dict[str, dict[str, Any]]:
        """Per replica (by URL): state, requests, answers, failures, 429s, ejections, probes, tokens,
        latency and its limiter's level."""
        return {replica.name: replica.report() for replica in self.replicas}

    # -- a request's slot --------------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, priority: Priority = ()) -> AsyncIterator[Lease]:
        """Hold a slot on the chosen replica for the body. What the body raises tells the replica's
        limiter (429) and its health (refused connections, 5xx, timeouts)."""
        if self._single is not None:
            lease = Lease(self._single, await self._single.limiter.acquire(priority))
        else:
            lease = Lease(*await self._acquire(priority))
        try:
            endpoint = await lease.replica.resolve()
            lease.base_url = endpoint.base_url
            lease.session = endpoint.session
            lease.headers = endpoint.headers
            yield lease
        except RateLimitError as exc:
            self._finish(lease, Outcome.RATE_LIMITED, exc)
            raise
        except BaseException as exc:
            self._finish(lease, Outcome.FAILURE, exc)
            raise
        else:
            self._finish(lease, Outcome.SUCCESS, None)

    async def _acquire(self, priority: Priority) -> tuple[Replica, Permit, bool]:
        if not self._waiters:
            granted = self._grant(self._clock())
            if granted is not None:
                return granted
        future: asyncio.Future[tuple[Replica, Permit, bool]] = asyncio.get_running_loop().create_future()
        self._waiters.push(priority, future)
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                replica, permit, probe = future.result()
                self._finish(Lease(replica, permit, probe), Outcome.FAILURE, None, sent=False)
            else:
                self._waiters.remove(future)
            raise

    def _finish(
        self, lease: Lease, outcome: Outcome, error: BaseException | None, *, sent: bool = True
    ) -> None:
        replica = lease.replica
        now = self._clock()
        replica.requests += sent
        if outcome is Outcome.SUCCESS:
            replica.answered += 1
            replica.input_tokens += lease.input_tokens
            replica.output_tokens += lease.output_tokens
            replica.latency.add(now - lease.started)
        elif outcome is Outcome.RATE_LIMITED:
            replica.rate_limited += 1
        elif isinstance(error, Exception):  # not a cancellation: the request's work was abandoned
            replica.failures += 1
        if self._single is None:
            self._update_health(lease, outcome, error, now)
        retry_after = error.retry_after if isinstance(error, RateLimitError) else None
        # Releasing wakes the limiter's listeners, this set's `_dispatch` among them.
        replica.limiter.release(lease.permit, outcome, retry_after=retry_after)

    # -- health ------------------------------------------------------------------------------------

    def _update_health(self, lease: Lease, outcome: Outcome, error: BaseException | None, now: float) -> None:
        replica = lease.replica
        if lease.probe:
            replica.probing = False
        verdict = _verdict(outcome, error)
        if verdict == "alive":
            replica.streak = 0
            if replica.state == "out":
                logger.info(
                    "model '%s': endpoint %s answers again; back in rotation", self.alias, replica.name
                )
                replica.state = "healthy"
                replica.backoff = 0.0
        elif verdict in ("down", "failing"):
            if replica.state == "out" and not lease.probe:
                return  # sent before it was taken out: its backoff is already running
            replica.streak += 1
            if lease.probe or verdict == "down" or replica.streak >= self.health.failure_streak:
                self._eject(replica, now, error)

    def _eject(self, replica: Replica, now: float, error: BaseException | None) -> None:
        policy = self.health
        backoff = policy.first_backoff if replica.backoff == 0 else replica.backoff * 2
        replica.backoff = min(backoff, policy.max_backoff)
        replica.retry_at = now + replica.backoff
        replica.state = "out"
        replica.ejections += 1
        logger.warning(
            "model '%s': endpoint %s taken out of rotation for %.3gs after %s",
            self.alias,
            replica.name,
            replica.backoff,
            f"{type(error).__name__}: {error}" if error is not None else "failures",
        )

    def _usable(self, replica: Replica, now: float) -> bool:
        if replica.state == "healthy":
            return True
        return not replica.probing and now >= replica.retry_at

    # -- choosing a replica ------------------------------------------------------------------------

    def _grant(self, now: float) -> tuple[Replica, Permit, bool] | None:
        """A slot on the usable replica with the most room, or None when all are full. Raises
        `ModelConnectionError` when every replica is out of rotation."""
        best: Replica | None = None
        best_key: tuple[bool, float, int, int] | None = None
        usable = False
        count = len(self.replicas)
        for index, replica in enumerate(self.replicas):
            if not self._usable(replica, now):
                continue
            usable = True
            limiter = replica.limiter
            if not limiter.has_room():
                continue
            # A replica due for its probe goes first: one request tells whether it is back.
            key = (
                replica.state == "healthy",
                limiter.in_flight / limiter.limit,
                -limiter.limit,
                (index - self._turn) % count,
            )
            if best_key is None or key < best_key:
                best, best_key = replica, key
        if best is None:
            if not usable:
                raise self._all_out(now)
            return None
        permit = best.limiter.try_acquire()
        if permit is None:  # pragma: no cover - has_room() said yes on this same tick
            return None
        self._turn = (self.replicas.index(best) + 1) % count
        probe = best.state == "out"
        if probe:
            best.probing = True
            best.probes += 1
        return best, permit, probe

    def _all_out(self, now: float) -> ModelConnectionError:
        waits = [r.retry_at - now for r in self.replicas if not r.probing]
        when = f"; the next is tried in {max(0.0, min(waits)):.1f}s" if waits else "; a probe is in flight"
        return ModelConnectionError(
            f"model '{self.alias}': every endpoint is out of rotation after failing "
            f"({', '.join(r.name for r in self.replicas)}){when}"
        )

    def _dispatch(self) -> None:
        """Hand free slots to waiting requests, in priority order."""
        if self._single is not None:
            return
        now = self._clock()
        while self._waiters:
            head = self._waiters.peek()
            if head.done():  # cancelled while waiting; its own handler removes it too
                self._waiters.pop()
                continue
            try:
                granted = self._grant(now)
            except ModelConnectionError as exc:
                while self._waiters:
                    future = self._waiters.pop()
                    if not future.done():
                        future.set_exception(exc)
                return
            if granted is None:
                break
            self._waiters.pop().set_result(granted)
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        """With requests still waiting, wake up when a replica's backoff or Retry-After pause ends:
        no release would announce either."""
        if not self._waiters:
            return
        moments = [r.retry_at for r in self.replicas if r.state == "out" and not r.probing]
        moments += [now + r.limiter.paused_for() for r in self.replicas if r.limiter.paused_for() > 0]
        moments = [m for m in moments if m > now]
        if not moments:
            return
        at = min(moments)
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()

        def wake() -> None:
            self._timer = None
            self._dispatch()

        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(at - now, wake)


def _verdict(outcome: Outcome, error: BaseException | None) -> str:
    """What an exchange says about its replica: "alive" (it answered), "down" (connection refused),
    "failing" (5xx, timeout, dropped connection) or "neutral"."""
    if outcome is not Outcome.FAILURE:
        return "alive"  # an answer, or a 429: the server is there
    if isinstance(error, ModelConnectionError):
        return "down" if isinstance(error.__cause__, aiohttp.ClientConnectorError) else "failing"
    if isinstance(error, ServerError | ModelTimeoutError):
        return "failing"
    if isinstance(error, ModelHTTPError):
        return "alive"  # a 4xx: the request's fault, not the server's
    return "neutral"
