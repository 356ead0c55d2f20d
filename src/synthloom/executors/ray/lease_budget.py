"""`LeaseBudget`: one endpoint's concurrency budget, shared by many workers through leases.

    budget = LeaseBudget(ceiling=32, name="qwen@http://gpu:8000/v1")
    grant = budget.renew(LeaseRequest("worker-1", held=0, in_flight=0, demand=40))
    grant.lease        # slots worker-1 may have in flight until it renews again

The budget runs the adaptive limiter's policy (`AdaptiveLimiter.observe`) on the outcomes every worker
reports, so a 429 or a latency rise seen anywhere lowers the one shared level. It never hands out a
slot per request: each worker holds a *lease* of k slots, gates its own requests against it without a
round trip (`LeasedLimiter`), and renews it now and then, reporting what happened since.

**Shares.** The level is split by max-min fairness over what each worker could use now (its
*demand*: requests in flight plus waiting): no worker gets more than it asks, the rest is split evenly.
A worker joining, going idle or leaving changes the demands, so the next renewals rebalance.

**Never over the ceiling.** For each worker the budget counts the slots it may be using, `committed =
max(held, granted, in_flight)`: `held` is the lease the worker applies while its renewal is on the way
(a worker may shrink its own lease before asking, never grow it), `in_flight` covers requests started
under a larger lease that is being taken back. A grant never exceeds the level minus what the other
workers have committed, so the sum over workers never exceeds the level, and the level never exceeds
the ceiling: K workers together never have more than the ceiling in flight. Shrinking is two-phase —
a worker's slots count until it renews under its smaller lease — so a level that drops is honoured
within one renewal of every worker.

**Expiry and recovery.** A lease not renewed within `ttl` is void: the worker stops starting requests
(it counts from when it *sent* its last renewal, the budget from when it received it, so the worker
always gives up first). The requests it started before may still be at the server, though — a worker
whose event loop is starved or whose renewals are stuck in a queue cannot say — so the budget keeps
counting its slots as committed until it *knows* they are free: the worker reports its in-flight count
(its next renewal, however late), its death is confirmed (`gone`), or `ttl + request_timeout` has
passed since it was last heard of (by then every request it started has ended or timed out). An
expired worker asks for nothing (its demand is dropped from the shares), but its slots are not handed
to anyone else before then.

A budget that starts again after its actor was lost does not know what the workers hold, so it only
renews leases, never grows one, until every lease it has not heard of has expired and every request
started under one has ended (`ttl + request_timeout`), or until all `holders` workers of the run have
reported to it. It takes the level from the first worker that tells it one.

**The opening lease.** The driver runs the first row groups itself while the worker processes start,
and cannot wait for the budget's actor (itself a process starting) to answer: it takes an opening
lease before creating the actor, starting at the limiter's starting level and growing on its paced
ramp up to the ceiling at most (`LeasedLimiter`), and the budget is created knowing it (`opening`:
the ceiling, committed to the driver, as if it had renewed at once). So no worker is granted a slot
before the driver's first renewal says what it holds; the driver counts its lease from before the
budget existed, so it gives it up first; and its renewals replace it like any lease.

**Messages.** A busy worker renews every `interval` seconds (more often only to report a 429), a
satisfied one every `ttl / 4`: a budget's message rate is bounded by its workers, not by requests. With
many workers the budget stretches the interval so that it answers at most `max_rate` renewals a second.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synthloom.models.adaptive_limiter import AdaptiveLimiter, Outcome

__all__ = ["LeaseBudget", "LeaseGrant", "LeaseRequest", "Observation", "fair_shares"]

#: One finished request as a worker reports it: (outcome value, budget epoch when it started,
#: latency in seconds, Retry-After seconds or None).
Observation = tuple[str, int, float, float | None]


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    """A worker's renewal: what it holds and needs, and what happened since it last renewed."""

    worker: str
    #: The lease the worker applies until the answer arrives (at most the last one granted).
    held: int
    in_flight: int
    #: Requests it could have in flight now (in flight plus waiting).
    demand: int
    #: The shared level it last heard of (0: none); a recreated budget starts from it.
    level: int = 0
    observations: tuple[Observation, ...] = ()
    #: The number of the first observation in the worker's running count (None: not numbered). A
    #: renewal the worker gave up waiting for may still have arrived; sent again, the budget applies
    #: only the observations it has not seen.
    first: int | None = None


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """The budget's answer: the new lease and what the worker needs to stamp and time its requests."""

    lease: int
    epoch: int
    level: int
    #: Seconds the lease stays valid, counted from when the renewal was sent.
    ttl: float
    #: Seconds between renewals while the worker has outcomes to report or wants more.
    interval: float
    #: Seconds of a Retry-After pause still to run (0: none).
    pause: float = 0.0


@dataclass(slots=True)
class _Worker:
    committed: int = 0
    in_flight: int = 0
    demand: int = 0
    seen: float = 0.0
    #: Its lease is void (not renewed within the ttl); its committed slots still count.
    expired: bool = False


@dataclass(slots=True)
class _Figures:
    requests: int = 0
    rate_limited: int = 0
    renewals: int = 0
    expired: int = 0
    #: Expired workers whose slots were freed after `ttl + request_timeout` without a word from them.
    reclaimed: int = 0
    gone: int = 0
    #: Outcomes since the last `drain_samples()` (outcome value, latency), for metrics.
    samples: deque[tuple[str, float]] = field(default_factory=lambda: deque(maxlen=100_000))


def fair_shares(level: int, demands: Mapping[str, int]) -> dict[str, int]:
    """Split `level` slots by max-min fairness: nobody gets more than its demand, the rest is split
    evenly; when fewer slots than askers remain, those asking most get one each."""
    shares = dict.fromkeys(demands, 0)
    wanting = sorted((w for w, d in demands.items() if d > 0), key=lambda w: (demands[w], w))
    left = level
    while wanting and left > 0:
        each = left // len(wanting)
        if each == 0:
            for w in wanting[-left:]:
                shares[w] += 1
            break
        still = []
        for w in wanting:
            give = min(each, demands[w] - shares[w])
            shares[w] += give
            left -= give
            if shares[w] < demands[w]:
                still.append(w)
        wanting = still
    return shares


class LeaseBudget:
    """One endpoint's shared level and the leases cut from it (see the module doc)."""

    def __init__(
        self,
        ceiling: int,
        *,
        name: str = "",
        ttl: float = 5.0,
        interval: float = 0.1,
        max_rate: float = 500.0,
        request_timeout: float = 120.0,
        holders: int | None = None,
        recovering: bool = False,
        clock: Callable[[], float] = time.monotonic,
        limiter_options: Mapping[str, Any] | None = None,
        opening: Mapping[str, int] | None = None,
    ) -> None:
        if ttl <= 0 or interval <= 0 or max_rate <= 0 or request_timeout <= 0:
            raise ValueError("ttl, interval, max_rate and request_timeout must be positive")
        self.name = name
        self.ttl = ttl
        #: The longest a request may take (the models' timeout): how long an expired worker's requests
        #: may still be in flight after its lease ran out.
        self.request_timeout = request_timeout
        #: How many workers the run has (None: unknown); a recovering budget that has heard from all of
        #: them knows every lease there is.
        self.holders = holders
        self.interval = interval
        self.max_rate = max_rate
        self._clock = clock
        self._limiter = AdaptiveLimiter(ceiling, name=name, **dict(limiter_options or {}))
        self._workers: dict[str, _Worker] = {}
        self._grace_until = clock() + ttl + request_timeout if recovering else float("-inf")
        self._heard: set[str] = set()
        #: Per worker, how many of its numbered observations have been applied.
        self._applied: dict[str, int] = {}
        self._level_known = not recovering
        self._figures = _Figures()
        if not recovering:
            # Leases taken before this budget existed (see the module doc). A recovering budget
            # ignores them: it grows nothing until every lease it has not heard of has run out.
            for holder, slots in (opening or {}).items():
                self._workers[holder] = _Worker(committed=slots, demand=slots, seen=clock())

    @property
    def ceiling(self) -> int:
        return self._limiter.ceiling

    @property
    def level(self) -> int:
        return self._limiter.limit

    def committed(self) -> dict[str, int]:
        """Per worker, the slots it may be using."""
        return {w: s.committed for w, s in self._workers.items()}

    def renew(self, request: LeaseRequest) -> LeaseGrant:
        """Take a worker's report and answer with its new lease."""
        now = self._clock()
        self._expire(now)
        self._figures.renewals += 1
        worker = self._workers.setdefault(request.worker, _Worker())
        # The worker's own word: from when it sent this, it uses at most max(held, in_flight) until it
        # hears back, so whatever it held before (expired or not) may be replaced by that.
        worker.in_flight = request.in_flight
        worker.demand = request.demand
        worker.seen = now
        worker.expired = False
        if now < self._grace_until:
            self._heard.add(request.worker)
            if self.holders is not None and len(self._heard) >= self.holders:
                self._grace_until = float("-inf")  # every holder has told what it holds
        if not self._level_known and request.level > 0:
            self._limiter.set_limit(request.level)
            self._level_known = True
        self._observe(self._unseen(request))
        level = self._limiter.limit
        share = fair_shares(level, {w: s.demand for w, s in self._workers.items()})[request.worker]
        others = sum(s.committed for w, s in self._workers.items() if w != request.worker)
        lease = max(0, min(share, level - others))
        if now < self._grace_until:
            lease = min(lease, request.held)  # unknown leases may still be out: only shrink
        worker.committed = max(request.held, lease, request.in_flight)
        interval = max(self.interval, len(self._workers) / self.max_rate)
        return LeaseGrant(
            lease=lease,
            epoch=self._limiter.epoch,
            level=level,
            ttl=self.ttl,
            interval=interval,
            pause=self._limiter.paused_for(),
        )

    def leave(self, worker: str) -> None:
        """A worker is done (nothing of its in flight): its slots are free now."""
        self._workers.pop(worker, None)

    def gone(self, worker: str) -> None:
        """A worker's process is confirmed dead (its connections closed with it): its slots are free."""
        if self._workers.pop(worker, None) is not None:
            self._figures.gone += 1

    def figures(self) -> dict[str, Any]:
        """Level, ceiling, in flight and leased over all workers, and the counts, for displays and
        metrics."""
        stats = self._limiter.stats()
        return {
            "name": self.name,
            "limit": stats.limit,
            "ceiling": stats.ceiling,
            "in_flight": sum(s.in_flight for s in self._workers.values()),
            "leased": sum(s.committed for s in self._workers.values()),
            "workers": len(self._workers),
            "requests": self._figures.requests,
            "rate_limited": self._figures.rate_limited,
            "increases": stats.increases,
            "decreases": stats.decreases,
            "latency_decreases": stats.latency_decreases,
            "renewals": self._figures.renewals,
            "expired": self._figures.expired,
            "reclaimed": self._figures.reclaimed,
            "gone": self._figures.gone,
        }

    def drain_samples(self) -> list[tuple[str, float]]:
        """The (outcome, latency) of every request reported since the last call (the most recent
        100,000 at most)."""
        samples = list(self._figures.samples)
        self._figures.samples.clear()
        return samples

    # -- internals ---------------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        # A silent worker's lease is void after the ttl, but its slots stay committed: what it started
        # may still be at the server. Only after the longest a request can take are they free.
        for name, state in list(self._workers.items()):
            if state.seen >= now - self.ttl:
                continue
            if state.seen < now - self.ttl - self.request_timeout:
                del self._workers[name]
                self._figures.reclaimed += 1
            elif not state.expired:
                state.expired = True
                state.demand = 0  # it starts nothing more: its share goes to the others
                self._figures.expired += 1

    def _unseen(self, request: LeaseRequest) -> tuple[Observation, ...]:
        if request.first is None:
            return request.observations
        applied = self._applied.get(request.worker, 0)
        self._applied[request.worker] = max(applied, request.first + len(request.observations))
        return request.observations[max(0, applied - request.first) :]

    def _observe(self, observations: tuple[Observation, ...]) -> None:
        if not observations:
            return
        in_flight = sum(s.in_flight for s in self._workers.values())
        demand = sum(s.demand for s in self._workers.values())
        figures = self._figures
        for value, epoch, latency, retry_after in observations:
            outcome = Outcome(value)
            figures.requests += 1
            figures.samples.append((value, latency))
            if outcome is Outcome.RATE_LIMITED:
                figures.rate_limited += 1
            self._limiter.observe(
                outcome,
                epoch=epoch,
                in_flight=in_flight,
                busy=demand >= self._limiter.limit,
                latency=latency,
                retry_after=retry_after,
            )
