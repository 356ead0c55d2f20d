"""`LeasedLimiter`: a worker's share of a budget held elsewhere, as the limiter its model pool uses.

    limiter = LeasedLimiter(32, name="qwen@http://gpu:8000/v1", worker="w1", channel=send_to_budget)
    pool = ModelPool(configs, limiter_factory=lambda key, ceiling, name: LeasedLimiter(...))

Requests acquire and release slots locally, exactly as with an `AdaptiveLimiter` (same wait queue, same
priority order), up to the worker's current *lease*; the level is not adapted here but set from the
budget's answers (`set_limit`). A background task renews the lease through `channel` (one call to the
budget's actor), reporting the outcomes since the last renewal; the budget runs the adaptive policy for
every worker at once (`lease_budget.py` explains shares, expiry and recovery).

When it renews: at once after a 429 (at most every `min_interval`); every `interval` the budget
names while it has outcomes to report or wants more than it holds; and every `ttl / 4` to keep an
unused lease alive. Before a renewal that wants less than it holds, it shrinks its own lease to what it
wants (a worker may always shrink unasked), so idle slots go back to busy workers within a renewal; at
its first 429 since it last renewed, it shrinks its lease by the limiter's factor at once, rather than
add to the overload until the budget's answer comes. A
budget that does not answer (its actor being recreated) is asked again; the lease stays good until
its `ttl` runs out, then the worker stops starting requests until a renewal succeeds (checked at every
grant, so a starved event loop cannot start one late); its next renewal reports what it still has in
flight, which is what the budget goes by.

The driver's limiter may start with an *opening* lease, taken before the budget existed (`opened_at`)
and valid for `ttl` from then (`lease_budget.py`, "The opening lease"): it starts requests at once, at
the limiter's starting level, and grows on the limiter's paced ramp as a local run's limiter would,
until the first reply or the first grant; it renews at its first request like any lease (telling the
budget it holds the ceiling while its ramp may still take it there), and hands the lease back when
closed even if it never renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from synthloom.executors.ray.lease_budget import LeaseGrant, LeaseRequest, Observation
from synthloom.models.adaptive_limiter import AdaptiveLimiter, LimiterStats, Outcome, Permit, Priority

__all__ = ["BudgetChannel", "LeasedLimiter"]

logger = logging.getLogger(__name__)

#: Sends one renewal to the budget and returns its answer.
BudgetChannel = Callable[[LeaseRequest], Awaitable[LeaseGrant]]

#: Outcomes kept for the budget while it cannot be reached (the oldest are dropped beyond this).
_MAX_PENDING = 20_000
#: Seconds a renewal waits for its answer when the worker holds no lease (a budget's actor starting).
_FIRST_ANSWER_WAIT = 60.0
#: What a worker's lease becomes at its first 429 since it last renewed (the limiter's own factor).
_SHRINK_ON_429 = 0.9


class LeasedLimiter(AdaptiveLimiter):
    """An `AdaptiveLimiter` whose level is this worker's lease of a shared budget (see module doc)."""

    def __init__(
        self,
        ceiling: int,
        *,
        name: str,
        worker: str,
        channel: BudgetChannel,
        ttl: float = 5.0,
        min_interval: float = 0.01,
        opened_at: float | None = None,
    ) -> None:
        super().__init__(ceiling, name=name)
        self._opening = opened_at is not None
        if not self._opening:
            self.set_limit(0)  # nothing may start before the first grant (this also ends the ramp)
        self.worker = worker
        self._channel = channel
        self._min_interval = min_interval
        self._lease = self.limit
        self._lease_epoch = 0
        self._lease_level = self._lease
        self._lease_ttl = ttl
        self._lease_interval = 0.1
        self._valid_until = opened_at + ttl if opened_at is not None else 0.0
        self._pause_until = 0.0
        self._last_sent = float("-inf")
        self._pending: list[Observation] = []
        #: The number of `_pending[0]` in this worker's running count of observations: a renewal whose
        #: answer timed out may still have reached the budget, which then skips what it already has.
        self._pending_first = 0
        self._urgent = False
        self._shrunk = False
        self._starved = False
        self._peak_demand = 0
        #: Requests waiting in `acquire` (counted here: `stats()` is too dear for every request).
        self._waiting = 0
        self._local_429 = 0
        self._renewals = 0
        self._failed_renewals = 0
        self._failure_streak = 0
        self._retry_at = 0.0
        self._wake_at = float("inf")
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- what the model pool calls -----------------------------------------------------------------

    async def acquire(self, priority: Priority = ()) -> Permit:
        self._waiting += 1
        self._note_demand()
        try:
            permit = await super().acquire(priority)
        finally:
            self._waiting -= 1
        return self._stamped(permit)

    def try_acquire(self) -> Permit | None:
        permit = super().try_acquire()
        if permit is None:
            self._starved = True
            self._note_demand(extra=1)
            return None
        self._note_demand()
        return self._stamped(permit)

    def has_room(self) -> bool:
        room = super().has_room()
        if not room:
            self._starved = True
            self._note_demand(extra=1)
        return room

    def release(
        self,
        permit: Permit,
        outcome: Outcome,
        *,
        latency: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        elapsed = latency if latency is not None else time.monotonic() - permit.started
        self._pending.append((outcome.value, permit.epoch, elapsed, retry_after))
        self._follow_ramp()
        if outcome is not Outcome.FAILURE and self._ramping:
            self.set_limit(self._lease)  # a reply ends the opening's ramp, as it ends a local limiter's
        if len(self._pending) > _MAX_PENDING:
            dropped = len(self._pending) - _MAX_PENDING
            del self._pending[:dropped]
            self._pending_first += dropped
        if outcome is Outcome.RATE_LIMITED:
            self._local_429 += 1
            self._urgent = True
            if not self._shrunk and self._lease > 1:
                # Do not wait for the budget's answer to stop adding to the overload: shrink now, once
                # per renewal (the budget's decrease follows with the next grant).
                self._shrunk = True
                self._lease = max(1, int(self._lease * _SHRINK_ON_429))
                if not self._pause_until:
                    self.set_limit(self._lease)
        # The slot is freed here; how the request went is the shared budget's to judge.
        super().release(permit, Outcome.FAILURE)
        self._poke()

    def stats(self) -> LimiterStats:
        stats = super().stats()
        stats.rate_limited = self._local_429
        return stats

    # -- the lease ---------------------------------------------------------------------------------

    @property
    def lease(self) -> int:
        """Slots this worker may have in flight now."""
        self._follow_ramp()
        return self._lease

    def lease_figures(self) -> dict[str, int]:
        return {
            "lease": self.lease,
            "level": self._lease_level,
            "in_flight": self.in_flight,
            "renewals": self._renewals,
            "failed_renewals": self._failed_renewals,
        }

    async def aclose(self) -> None:
        """Stop renewing and hand the lease back (call when nothing is in flight any more)."""
        self._closed = True
        if self._task is not None:
            # A renewal on its way finishes (its outcomes reach the budget); then the task ends.
            if self._wakeup is not None:
                self._wakeup.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._lease_ttl)
            except TimeoutError:
                self._task.cancel()
            self._task = None
        if self._renewals or self._opening:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel(self._request(held=0, demand=0)), self._lease_ttl / 2)
        self._lease = 0
        self.set_limit(0)

    # -- internals ---------------------------------------------------------------------------------

    @property
    def _ramping(self) -> bool:
        """The opening lease is still growing on the limiter's paced ramp."""
        return self._ramp_doubling is not None

    def _follow_ramp(self) -> None:
        if self._ramping:
            self._lease = self.limit

    def _can_grant(self) -> bool:
        # The clock is checked at every grant, not only by the renewal task: on a starved event loop
        # the task may run late, and a waiter woken by a release must not start under a void lease.
        return super()._can_grant() and time.monotonic() < self._valid_until

    def _stamped(self, permit: Permit) -> Permit:
        # The budget judges a 429 by the epoch of *its* level when the request started.
        return Permit(epoch=self._lease_epoch, level=permit.level, started=permit.started)

    def _demand(self) -> int:
        return self.in_flight + self._waiting

    def _note_demand(self, extra: int = 0) -> None:
        self._peak_demand = max(self._peak_demand, self._demand() + extra)
        self._poke()

    def _poke(self) -> None:
        if self._closed:
            return
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"lease-{self.name}")
            return
        now = time.monotonic()
        if self._wakeup is not None and now + self._wants_renewal(now) < self._wake_at:
            self._wakeup.set()  # due sooner than the renewal task planned to look again

    def _wants_renewal(self, now: float) -> float:
        """Seconds until the next renewal is due (0: now)."""
        since = now - self._last_sent
        demand = max(self._peak_demand, self._demand())
        if self._urgent or (demand > 0 and self._lease == 0 and now >= self._pause_until):
            due = self._min_interval - since
        elif self._pending or demand != self._lease:
            due = self._lease_interval - since
        elif self._lease > 0 or self.in_flight:
            due = self._lease_ttl / 4 - since
        else:
            return float("inf")
        return max(0.0, due, self._retry_at - now)

    async def _run(self) -> None:
        assert self._wakeup is not None
        while not self._closed:
            now = time.monotonic()
            due = self._wants_renewal(now)
            deadlines = [due]
            if self._lease and self._valid_until > now:
                deadlines.append(self._valid_until - now)
            if self._pause_until > now:
                deadlines.append(self._pause_until - now)
            wait = min(deadlines)
            if wait > 0:
                self._wakeup.clear()
                self._wake_at = now + wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), None if wait == float("inf") else wait)
                self._wake_at = float("-inf")
                now = time.monotonic()
            if self._closed:
                return
            self._apply_clock(now)
            if self._wants_renewal(now) == 0:
                await self._renew()

    def _apply_clock(self, now: float) -> None:
        if self._lease and now >= self._valid_until:
            logger.warning("limiter %s: lease expired without renewal; starting no requests", self.name)
            self._lease = 0
            self.set_limit(0)
        elif self._pause_until and now >= self._pause_until:
            self._pause_until = 0.0
            self.set_limit(self._lease)

    def _request(self, *, held: int, demand: int) -> LeaseRequest:
        observations, self._pending = tuple(self._pending), []
        first = self._pending_first
        self._pending_first += len(observations)
        return LeaseRequest(
            worker=self.worker,
            held=held,
            in_flight=self.in_flight,
            demand=demand,
            level=self._lease_level,
            observations=observations,
            first=first,
        )

    async def _renew(self) -> None:
        self._follow_ramp()
        demand = max(self._peak_demand, self._demand())
        if self._starved and self._waiting == 0:
            # A router asked and found no room (its waiters are not ours to count): ask for more.
            demand = max(demand, 2 * self._lease, self.in_flight + 1)
        if demand < self._lease:
            self._lease = demand  # shrink before asking, so the budget can count it at once
            if not self._pause_until:
                self.set_limit(demand)
        # Still ramping, the opening lease may reach the ceiling before the answer comes.
        request = self._request(held=self.ceiling if self._ramping else self._lease, demand=demand)
        self._urgent = self._starved = self._shrunk = False
        self._peak_demand = self._demand()
        sent = self._last_sent = time.monotonic()
        # Holding a lease, give up on the answer in time to let the lease expire when it must; holding
        # none, wait for a budget still starting.
        timeout = min(self._lease_ttl / 2, self._valid_until - sent) if self._lease else _FIRST_ANSWER_WAIT
        try:
            grant = await asyncio.wait_for(self._channel(request), max(0.01, timeout))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the budget's actor is gone or restarting: keep the lease, ask again
            self._failed_renewals += 1
            self._failure_streak += 1
            backoff = self._lease_interval * 2 ** min(self._failure_streak, 6)
            self._retry_at = time.monotonic() + min(backoff, self._lease_ttl / 4)
            if request.first is not None and self._pending_first == request.first + len(request.observations):
                # Still contiguous with what came since (nothing was dropped meanwhile): send again.
                self._pending[:0] = request.observations
                self._pending_first = request.first
            self._urgent = self._urgent or any(
                o[0] == Outcome.RATE_LIMITED.value for o in request.observations
            )
            logger.debug("limiter %s: renewal failed (%s: %s)", self.name, type(exc).__name__, exc)
            return
        self._renewals += 1
        self._failure_streak = 0
        self._retry_at = 0.0
        self._apply(grant, sent)

    def _apply(self, grant: LeaseGrant, sent: float) -> None:
        # A 429 that arrived during the round trip is not in this answer: keep the shrink it caused.
        self._lease = min(grant.lease, self._lease) if self._shrunk else grant.lease
        self._lease_epoch = grant.epoch
        self._lease_level = grant.level
        self._lease_ttl = grant.ttl
        self._lease_interval = grant.interval
        self._valid_until = sent + grant.ttl
        if grant.pause > 0:
            self._pause_until = time.monotonic() + grant.pause
            self.set_limit(0)
        elif not self._pause_until:
            self.set_limit(self._lease)
