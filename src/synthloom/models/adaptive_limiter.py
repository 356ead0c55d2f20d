"""Adaptive concurrency for one (endpoint, model): how many requests may be in flight right now.

The level moves by AIMD with three refinements:

- **Fast start.** A fresh limiter starts at a level its ceiling justifies (a sixteenth of it, between
  8 and 32) and, until the first sign of overload, grows by one per success (it doubles every round
  trip) — or, for a success that took at least `fast_start_latency` (0.2 s), by `start_growth` (3):
  the level quadruples every round trip, so a slow, large server (thousands in flight, seconds per
  request) is reached in three round trips. The first replies justify it: past a refusing server's
  capacity the overshoot lasts only until its first 429 comes back, short against a round trip of
  seconds; a fast server is reached in a fraction of a second by doubling alone.
- **Paced ramp before the first reply.** Until anything comes back (a success or a 429), nothing says
  how large the server is, and waiting a whole round trip per step costs seconds per step on a slow
  one. While requests are held back by the level, it grows with time instead: it doubles every
  `ramp_doubling` seconds (0.1 s), in steps of at most ten requests, so the level never jumps. A
  refusing server's 429s come back in milliseconds, so the ramp stops within a few steps past its
  capacity (an overshoot under 1 % at a capacity of 2,000, answered once by the burst rule below);
  a large server is filled in about a second instead of in three round trips. The first success ends
  the ramp too: from there the level follows the replies.
- **Once per burst.** A 429 lowers the level only if the rejected request was started at the current
  level (its permit carries the level's *epoch*); the other in-flight requests rejected by the same
  overload are ignored. `Retry-After` pauses new acquisitions.
- **Remembered trouble.** After a 429 the level where it began is remembered: the level regrows
  quickly (one per success) to just below it, then probes past it rarely, each failed probe doubling
  the wait before the next and stepping back to just below the trouble, not by a tenth. A full window
  above it without a 429 means the capacity grew, and the memory is dropped.

Servers that queue instead of refusing (vLLM under overload) never send a 429; their latency rises
with concurrency while throughput stays flat. Each *window* (one success per permitted request, i.e.
about one round trip) the median latency is compared with the best recent window. When it exceeds
the best by more than `latency_tolerance`, the level is scaled by best/current — the concurrency the
server can actually serve — and growth resumes additively. It never falls below the level the best
window was measured at: a queue cannot slow replies more than concurrency grew, so a larger slowdown (a
busy client machine stalling the event loop, another tenant) says nothing about the level.

The level never exceeds `ceiling` (the configured `max_parallel_requests`) and never drops below 1.

A router spreading requests over several limiters (`EndpointSet`, one limiter per replica) does not
queue inside any one of them: it asks `try_acquire()` of the replica it picks and is told through
`add_listener` whenever a slot may have come free.

A budget shared by several processes (the Ray executor) splits the two halves: one limiter runs the
policy on outcomes reported from everywhere (`observe`), and each process gates its own requests with a
limiter whose level it is told (`set_limit`: its lease of the shared level) and which reports
outcomes instead of adapting.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import logging
import math
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from synthloom.errors import RateLimitError

__all__ = ["AdaptiveLimiter", "LimiterStats", "Outcome", "Permit", "Priority", "WaitQueue"]

logger = logging.getLogger(__name__)

#: The paced ramp raises the level at most this often (seconds): each step is one small burst.
_RAMP_TICK = 0.005
#: And by at most this many requests per step, however long the step took: a 429 is read some turns of
#: the event loop after its request was granted (connect, write, read), and every step taken meanwhile
#: is overshoot, so the bound is on requests per step, not on a factor (2 % of 2,000 per step overshot
#: a server of capacity 2,000 by 220 requests; 10 a step, by about 30).
_RAMP_MAX_STEP = 10

T = TypeVar("T")

#: The order waiting requests are served in, lower first (compared as tuples; `()` comes first).
Priority = tuple[int, ...]


class Outcome(enum.Enum):
    SUCCESS = "success"
    RATE_LIMITED = "rate_limited"
    #: Anything else (5xx, timeout, cancellation): says nothing about capacity.
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Permit:
    """One granted slot. `epoch` and `level` record the limiter state when it was granted."""

    epoch: int
    level: int
    started: float


@dataclass(slots=True)
class LimiterStats:
    """Counters for progress displays and usage reports."""

    limit: int
    ceiling: int
    in_flight: int
    waiting: int
    peak_in_flight: int
    rate_limited: int
    increases: int
    decreases: int
    latency_decreases: int

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


class WaitQueue(Generic[T]):
    """Waiting requests (futures) ordered by (priority, arrival)."""

    def __init__(self) -> None:
        self._heap: list[tuple[Priority, int, asyncio.Future[T]]] = []
        self._arrivals = itertools.count()

    def push(self, priority: Priority, future: asyncio.Future[T]) -> None:
        heapq.heappush(self._heap, (priority, next(self._arrivals), future))

    def pop(self) -> asyncio.Future[T]:
        return heapq.heappop(self._heap)[2]

    def peek(self) -> asyncio.Future[T]:
        """The next waiter, left in the queue."""
        return self._heap[0][2]

    def remove(self, future: asyncio.Future[T]) -> None:
        self._heap = [entry for entry in self._heap if entry[2] is not future]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return len(self._heap)


class AdaptiveLimiter:
    """Gate requests to one model: `async with limiter.slot(): ...` or `acquire()` / `release()`."""

    def __init__(
        self,
        ceiling: int,
        *,
        initial: int | None = None,
        start_growth: int = 3,
        fast_start_latency: float = 0.2,
        decrease_factor: float = 0.9,
        latency_tolerance: float = 0.3,
        max_probe_windows: int = 32,
        ramp_doubling: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        if not 0 < decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1")
        self.name = name
        self.ceiling = ceiling
        self.decrease_factor = decrease_factor
        self.latency_tolerance = latency_tolerance
        self.max_probe_windows = max_probe_windows
        self.start_growth = max(1, start_growth)
        self.fast_start_latency = fast_start_latency
        start = initial if initial is not None else max(8, min(32, ceiling // 16))
        self._limit = max(1, min(start, ceiling))
        self._clock = clock
        # The paced ramp: None once a reply ended it (or the level is decided elsewhere).
        self._ramp_doubling: float | None = ramp_doubling if ramp_doubling > 0 else None
        self._ramp_level = float(self._limit)
        self._ramp_start = self._limit
        self._ramp_at: float | None = None  # when the ramp level was last brought up to date
        self._in_flight = 0
        self._waiters: WaitQueue[Permit] = WaitQueue()
        self._paused_until = 0.0
        self._wake_handle: asyncio.TimerHandle | None = None
        self._epoch = 0
        self._slow_start = True
        # Level at which the last 429 began; None when no trouble is remembered.
        self._trouble_level: int | None = None
        self._probe_windows = 1
        self._successes = 0  # since the last level change
        self._window: list[float] = []  # latencies of this epoch's successes
        self._window_levels: list[int] = []  # and the requests in flight when each was sent
        self._window_size = 4
        self._first_window = True
        # (median latency, level) of the recent windows.
        self._window_medians: deque[tuple[float, int]] = deque(maxlen=20)
        self._peak = 0
        self._rate_limited = 0
        self._increases = 0
        self._decreases = 0
        self._latency_decreases = 0
        self._listeners: list[Callable[[], None]] = []

    # -- public state ------------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """How many requests may be in flight now."""
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def epoch(self) -> int:
        """Bumped by every decrease: a 429 on a request started in an older epoch is not counted again."""
        return self._epoch

    def set_limit(self, value: int) -> None:
        """Set the level from outside, between 0 (grant nothing) and the ceiling; for a limiter whose
        level another process decides (its releases then report `Outcome.FAILURE`, which adapts
        nothing)."""
        self._limit = max(0, min(value, self.ceiling))
        self._ramp_doubling = None
        self._wake()

    def observe(
        self,
        outcome: Outcome,
        *,
        epoch: int,
        in_flight: int,
        busy: bool,
        latency: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Apply the outcome of a request whose slot was held elsewhere, as `release` would: `epoch` is
        this limiter's epoch when the request started, `in_flight` the requests in flight (everywhere)
        when it ended, `busy` whether the level was what held requests back."""
        permit = Permit(epoch=epoch, level=in_flight, started=self._clock() - (latency or 0.0))
        if outcome is not Outcome.FAILURE:
            self._ramp_doubling = None
        if outcome is Outcome.SUCCESS:
            self._on_success(permit, latency or 0.0, busy)
        elif outcome is Outcome.RATE_LIMITED:
            self._on_rate_limited(permit, retry_after, in_flight)

    def has_room(self) -> bool:
        """Whether `try_acquire` would grant a slot now."""
        return not self._waiters and self._can_grant()

    def paused_for(self) -> float:
        """Seconds left of a Retry-After pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def stats(self) -> LimiterStats:
        return LimiterStats(
            limit=self._limit,
            ceiling=self.ceiling,
            in_flight=self._in_flight,
            waiting=len(self._waiters),
            peak_in_flight=self._peak,
            rate_limited=self._rate_limited,
            increases=self._increases,
            decreases=self._decreases,
            latency_decreases=self._latency_decreases,
        )

    # -- acquire / release -------------------------------------------------------------------------

    async def acquire(self, priority: Priority = ()) -> Permit:
        """Wait for a slot and return its permit. Waiters are served by `priority` (lower first: the
        engine passes the cell's row group, step and record, so row groups commit in order), then
        first come, first served."""
        if not self._waiters and self._can_grant():
            return self._grant()
        future: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        self._waiters.push(priority, future)
        self._schedule_wake()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Granted just as we were cancelled: hand the slot back.
                self.release(future.result(), Outcome.FAILURE)
            else:
                self._waiters.remove(future)
            raise

    def try_acquire(self) -> Permit | None:
        """A slot now, or None (no room, paused, or requests already waiting here). Never waits."""
        if self._waiters or not self._can_grant():
            return None
        return self._grant()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every release (once this limiter's own waiters are served): a router
        that uses `try_acquire` learns that a slot may be free."""
        self._listeners.append(listener)

    def release(
        self,
        permit: Permit,
        outcome: Outcome,
        *,
        latency: float | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Return a slot and tell the limiter how the request went."""
        busy = self._in_flight >= self._limit or bool(self._waiters)
        self._in_flight -= 1
        ramping = self._ramp_doubling is not None
        if outcome is not Outcome.FAILURE:
            self._ramp_doubling = None  # a reply: from here the level follows the replies
        if outcome is Outcome.SUCCESS:
            elapsed = latency if latency is not None else self._clock() - permit.started
            self._on_success(permit, elapsed, busy)
        elif outcome is Outcome.RATE_LIMITED:
            # The 429 that ends a ramp: the requests sent after this one were sent past the server's
            # capacity too, so the level at which this one was sent is what the server took.
            # (Never below the level the ramp started from: a 429 for another reason, a quota, is
            # answered as it would have been without the ramp.)
            refused_at = max(permit.level, self._ramp_start) if ramping else self._in_flight + 1
            self._on_rate_limited(permit, retry_after, refused_at, ramping=ramping)
        self._wake()

    @asynccontextmanager
    async def slot(self, priority: Priority = ()) -> AsyncIterator[Permit]:
        """Hold a slot for the body; a `RateLimitError` raised inside counts as a 429."""
        permit = await self.acquire(priority)
        try:
            yield permit
        except RateLimitError as exc:
            self.release(permit, Outcome.RATE_LIMITED, retry_after=exc.retry_after)
            raise
        except BaseException:
            self.release(permit, Outcome.FAILURE)
            raise
        else:
            self.release(permit, Outcome.SUCCESS)

    # -- the policy --------------------------------------------------------------------------------

    def _on_success(self, permit: Permit, latency: float, busy: bool) -> None:
        if permit.epoch == self._epoch:
            if not self._window:
                # Sized when it opens: in fast start the level grows several-fold before it closes.
                # The very first holds the earliest replies only (those sent at the starting level):
                # after a paced ramp they are the unqueued latency the later windows are judged by.
                opening = min(self._limit, permit.level) if self._first_window else self._limit
                self._window_size = max(opening, 4)
                self._first_window = False
            self._window.append(latency)
            self._window_levels.append(permit.level)
            if len(self._window) >= self._window_size and self._end_window():
                return
        if not busy or self._limit >= self.ceiling:
            return  # growth only counts when the level is actually the constraint
        self._successes += 1
        if self._slow_start:
            growth = self.start_growth if latency >= self.fast_start_latency else 1
            self._set_limit(self._limit + growth, "fast start")
        elif self._trouble_level is not None and self._limit < self._trouble_level - 1:
            # Regrow quickly (about doubling per round trip) to just below where the last 429 began.
            self._set_limit(min(self._limit + 1, self._trouble_level - 1), "recovery")
        elif self._successes >= self._limit * self._probe_windows:
            self._set_limit(self._limit + 1, "probe" if self._trouble_level else "additive increase")

    def _end_window(self) -> bool:
        """Close a latency window; return True when it lowered the level."""
        median = statistics.median(self._window)
        # The concurrency the window measured: what was in flight when its requests were sent (after a
        # paced ramp that is far below the level its replies arrive at).
        level = min(self._limit, round(statistics.median(self._window_levels)))
        self._window.clear()
        self._window_levels.clear()
        self._window_medians.append((median, level))
        best, best_level = min(self._window_medians)
        if self._trouble_level is not None and self._limit >= self._trouble_level:
            # A whole window above the remembered trouble without a 429: capacity grew.
            self._trouble_level = None
            self._probe_windows = 1
        # Queueing shows as latency that rose *with* concurrency: a slower window at a level no higher
        # than the best one is jitter (or a slower prompt mix), not a queue.
        queueing = level > best_level and median > best * (1 + self.latency_tolerance)
        if best > 0 and queueing and self._limit > 1:
            # What the server actually serves at once. Landing at (or just under) it also lets the
            # next windows re-measure the unqueued latency, so the baseline does not drift upwards.
            # Never below the best window's own level: a queue at the server cannot make latency grow
            # faster than concurrency, so a slowdown beyond that (a loaded client machine, a noisy
            # neighbour) is not ours to answer by giving up the level that was measured to be fine.
            target = max(math.floor(self._limit * best / median), best_level)
            if target < self._limit:
                self._latency_decreases += 1
                self._decrease(target, f"latency p50 {median:.3g}s vs best {best:.3g}s")
                return True
        return False

    def _on_rate_limited(
        self, permit: Permit, retry_after: float | None, in_flight: int, *, ramping: bool = False
    ) -> None:
        self._rate_limited += 1
        if retry_after:
            self._paused_until = max(self._paused_until, self._clock() + retry_after)
        if permit.epoch != self._epoch:
            return  # this overload was already answered by a decrease
        # The server refused at this concurrency (this request included).
        level = in_flight if ramping else max(permit.level, in_flight)
        # A probe: the level had climbed back to the remembered trouble (not a storm's later 429s,
        # which arrive while the level is still falling).
        probing = self._trouble_level is not None and self._limit >= self._trouble_level
        if probing:
            self._probe_windows = min(self._probe_windows * 2, self.max_probe_windows)
        self._trouble_level = level
        # A failed probe, or the 429 that ends a ramp, steps back to just below the trouble (the ramp's
        # level was ahead of what the server had seen); any other 429 backs off by a tenth.
        backed_off = level - 1 if probing or ramping else math.floor(self._limit * self.decrease_factor)
        target = min(backed_off, level - 1)
        self._decrease(target, f"429 at {level} in flight")

    def _decrease(self, target: int, reason: str) -> None:
        self._slow_start = False
        self._epoch += 1
        self._window.clear()
        self._window_levels.clear()
        self._decreases += 1
        self._set_limit(max(1, min(target, self._limit - 1)), reason)

    def _set_limit(self, value: int, reason: str) -> None:
        value = max(1, min(value, self.ceiling))
        if value == self._limit:
            return
        if value > self._limit:
            self._increases += 1
        logger.debug("limiter %s: %d -> %d (%s)", self.name, self._limit, value, reason)
        self._limit = value
        self._successes = 0

    # -- granting ----------------------------------------------------------------------------------

    def _can_grant(self) -> bool:
        now = self._clock()
        if self._ramp_doubling is not None:
            self._advance_ramp(now)
        return self._in_flight < self._limit and now >= self._paused_until

    def _advance_ramp(self, now: float) -> None:
        """Grow the level with the time that requests were held back by it (see the module doc)."""
        held = self._in_flight >= self._limit or bool(self._waiters)
        if self._ramp_at is not None and held and self._ramp_doubling is not None:
            # Capped per step: a loop too busy sending to look for a while must not come back to a level
            # many times higher before it has read the 429s that may already be waiting for it.
            growth = 2.0 ** ((now - self._ramp_at) / self._ramp_doubling)
            self._ramp_level = min(self._ramp_level * growth, self._ramp_level + _RAMP_MAX_STEP)
        self._ramp_at = now
        if int(self._ramp_level) > self._limit:
            self._set_limit(int(self._ramp_level), "paced ramp")

    def ramp_step_in(self) -> float | None:
        """Seconds until the paced ramp next raises the level, or None when it will not (no ramp, no
        request held back, or at the ceiling). Callers that gate with `try_acquire` ask again then."""
        if self._ramp_doubling is None or self._limit >= self.ceiling:
            return None
        if self._in_flight < self._limit and not self._waiters:
            return None
        # At least one more permit, and no sooner than a few milliseconds (one burst per step).
        step = self._ramp_doubling * math.log2((self._limit + 1) / max(self._ramp_level, 1.0))
        return max(step, _RAMP_TICK)

    def _grant(self) -> Permit:
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)
        if self._in_flight >= self._limit:
            self._schedule_wake()
        return Permit(epoch=self._epoch, level=self._in_flight, started=self._clock())

    def _wake(self) -> None:
        while self._waiters and self._can_grant():
            future = self._waiters.pop()
            if not future.done():
                future.set_result(self._grant())
        self._schedule_wake()
        for listener in self._listeners:
            listener()

    def _schedule_wake(self) -> None:
        # A Retry-After pause ends, and the paced ramp raises the level, with no release to trigger a
        # wake-up: set a timer for whichever comes first.
        if self._wake_handle is not None:
            return
        delays = []
        if self._waiters and self._paused_until > self._clock():
            delays.append(self._paused_until - self._clock())
        ramp = self.ramp_step_in()
        if ramp is not None:
            delays.append(ramp)
        if not delays:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # driven without an event loop (a virtual clock): the driver asks `ramp_step_in`

        def wake() -> None:
            self._wake_handle = None
            self._wake()

        self._wake_handle = loop.call_later(min(delays), wake)
