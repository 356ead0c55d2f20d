"""The adaptive limiter, alone and against the simulated endpoint (small latencies, short runs)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import statistics
from typing import Any

from synthloom.config.model_config import ModelConfig
from synthloom.models import AdaptiveLimiter, ModelPool, Outcome, RetryPolicy
from synthloom.models.calls import CallScope
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

FAST = RetryPolicy(base_delay=0.001, max_delay=0.01, rate_limit_base_delay=0.001, max_rate_limited=1000)
MESSAGES = [{"role": "user", "content": "hi"}]


async def test_starts_modestly_and_never_above_the_ceiling() -> None:
    assert AdaptiveLimiter(128).limit == 8
    assert AdaptiveLimiter(1024).limit == 32
    assert AdaptiveLimiter(100_000).limit == 32
    assert AdaptiveLimiter(3).limit == 3


async def test_a_burst_of_429s_decreases_once() -> None:
    limiter = AdaptiveLimiter(64, initial=20)
    permits = [await limiter.acquire() for _ in range(20)]
    for permit in permits:
        limiter.release(permit, Outcome.RATE_LIMITED)
    stats = limiter.stats()
    assert (stats.decreases, stats.rate_limited) == (1, 20)
    # Just below the 20 it started at: the first 429 ends the paced ramp, which had not gone higher.
    assert limiter.limit == 19


async def test_429_after_a_decrease_from_a_newer_request_decreases_again() -> None:
    limiter = AdaptiveLimiter(64, initial=10)
    old = [await limiter.acquire() for _ in range(10)]
    limiter.release(old[0], Outcome.RATE_LIMITED)
    assert limiter.limit == 9
    limiter.release(old[1], Outcome.FAILURE)
    newer = await limiter.acquire()
    limiter.release(old[2], Outcome.RATE_LIMITED)  # started before the decrease: ignored
    assert limiter.stats().decreases == 1
    limiter.release(newer, Outcome.RATE_LIMITED)
    assert limiter.stats().decreases == 2


async def test_level_never_drops_below_one() -> None:
    limiter = AdaptiveLimiter(4, initial=1)
    for _ in range(5):
        limiter.release(await limiter.acquire(), Outcome.RATE_LIMITED)
    assert limiter.limit == 1


async def test_slow_start_grows_only_while_the_level_is_the_constraint() -> None:
    limiter = AdaptiveLimiter(100, initial=4)
    for _ in range(20):  # one request at a time: the level is never the constraint
        limiter.release(await limiter.acquire(), Outcome.SUCCESS, latency=0.01)
    assert limiter.limit == 4
    permits = [await limiter.acquire() for _ in range(4)]
    for permit in permits:
        limiter.release(permit, Outcome.SUCCESS, latency=0.01)
    assert limiter.limit > 4


async def test_waiters_are_served_first_come_first_served() -> None:
    limiter = AdaptiveLimiter(1, initial=1)
    held = await limiter.acquire()
    order: list[int] = []

    async def take(i: int) -> None:
        permit = await limiter.acquire()
        order.append(i)
        limiter.release(permit, Outcome.FAILURE)

    tasks = [asyncio.ensure_future(take(i)) for i in range(5)]
    await asyncio.sleep(0)
    limiter.release(held, Outcome.FAILURE)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert limiter.in_flight == 0


async def test_waiters_are_served_by_row_group_then_flow_step_then_record() -> None:
    limiter = AdaptiveLimiter(1, initial=1)
    held = await limiter.acquire()
    scopes = [
        CallScope(row_group=1, step=0, record=150),
        CallScope(row_group=0, step=2, record=5),
        CallScope(row_group=0, step=1, record=90),
        CallScope(row_group=0, step=1, record=10),
        CallScope(row_group=0, step=0, record=99),
    ]
    order: list[CallScope] = []

    async def take(scope: CallScope) -> None:
        permit = await limiter.acquire(scope.priority)
        order.append(scope)
        limiter.release(permit, Outcome.FAILURE)

    tasks = [asyncio.ensure_future(take(scope)) for scope in scopes]
    await asyncio.sleep(0)
    limiter.release(held, Outcome.FAILURE)
    await asyncio.gather(*tasks)
    # A group's records take their turns together (breadth first); a later group waits.
    assert [(s.row_group, s.step, s.record) for s in order] == [
        (0, 0, 99),
        (0, 1, 10),
        (0, 1, 90),
        (0, 2, 5),
        (1, 0, 150),
    ]


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    limiter = AdaptiveLimiter(1, initial=1)
    held = await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    limiter.release(held, Outcome.FAILURE)
    await asyncio.gather(waiter, return_exceptions=True)
    assert limiter.in_flight == 0
    assert limiter.stats().waiting == 0


def _config(endpoint: SimulatedEndpoint, ceiling: int) -> ModelConfig:
    return ModelConfig(alias="m", base_url=endpoint.base_url, model="sim", max_parallel_requests=ceiling)


async def _run(pool: ModelPool, n: int) -> None:
    client = pool.client("m")
    await asyncio.gather(*(client.generate_text(MESSAGES) for _ in range(n)))


async def test_never_exceeds_the_ceiling_against_an_unlimited_server() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(latency=0.005)) as endpoint:
        async with ModelPool([_config(endpoint, 6)], retry_policy=FAST) as pool:
            await _run(pool, 200)
            assert pool.limiter("m").stats().peak_in_flight <= 6
        assert endpoint.stats()["peak_in_flight"] <= 6


def test_decreases_far_less_often_than_it_sees_429s() -> None:
    server = VirtualServer(capacity=8, latency=0.01, jitter=0.2)
    limiter = AdaptiveLimiter(64, clock=server.clock)
    server.run(limiter, 400)
    stats = limiter.stats()
    assert server.rate_limited == stats.rate_limited > 0
    assert stats.decreases < stats.rate_limited
    assert server.rate_limited < 0.2 * 400
    assert stats.limit <= 10


def test_follows_capacity_down_and_back_up() -> None:
    server = VirtualServer(capacity=16, latency=0.01)
    limiter = AdaptiveLimiter(64, clock=server.clock)
    server.run(limiter, 600)
    assert 12 <= limiter.limit <= 18
    server.capacity = 4
    server.run(limiter, 300)
    assert limiter.limit <= 5
    server.capacity = 16
    server.run(limiter, 1500)
    assert limiter.limit >= 12


def test_stops_growing_when_a_queueing_server_only_gets_slower() -> None:
    server = VirtualServer(capacity=8, latency=0.02, queueing=True)
    limiter = AdaptiveLimiter(64, clock=server.clock)
    server.run(limiter, 800)
    stats = limiter.stats()
    assert server.rate_limited == 0
    assert stats.latency_decreases >= 1
    assert stats.limit <= 3 * 8
    assert server.median_in_flight() <= 3 * 8


def test_a_stalled_client_machine_is_not_read_as_a_queue_at_the_server() -> None:
    # Early in the run, for half a second, every reply takes four times as long whatever the
    # concurrency: the machine running the client is busy elsewhere. A queue cannot slow replies more
    # than concurrency grew, so the level keeps what the best window was measured at (it fell to 1).
    server = VirtualServer(capacity=64, latency=0.015, jitter=0.3, stall=(0.02, 0.5, 4.0))
    limiter = AdaptiveLimiter(64, clock=server.clock)
    server.run(limiter, 20_000)
    during = [level for when, level in server.levels if 0.02 <= when < 0.6]
    assert min(during) >= 4, sorted(during)[:5]
    assert server.now > 2.0 and server.levels[-1][1] == 64  # it grew back after the stall


def test_a_fresh_limiter_fills_a_large_slow_server_before_its_first_reply_without_a_429_storm() -> None:
    server = VirtualServer(capacity=2000, latency=4.0, jitter=0.1)
    limiter = AdaptiveLimiter(4000, clock=server.clock)
    server.run(limiter, 8000)
    reached = server.first_time_in_flight(2000)
    assert reached is not None and reached < 4.0 * 0.9  # before the first reply can come back
    assert server.rate_limited <= 0.01 * 8000
    # Four waves of 4 s (+10 % jitter on the last): the ramp and the overshoot's retries cost little.
    assert server.now <= 8000 / 2000 * 4.0 / 0.85


def test_a_paced_ramp_into_a_queueing_server_comes_back_to_its_capacity() -> None:
    # Everything up to the ceiling is sent before the first reply; the first replies (those sent at
    # the starting level) give the unqueued latency, and the level comes down to what is served.
    server = VirtualServer(capacity=32, latency=0.5, jitter=0.3, queueing=True)
    limiter = AdaptiveLimiter(128, clock=server.clock)
    server.run(limiter, 3000)
    assert limiter.stats().peak_in_flight == 128
    assert limiter.stats().latency_decreases >= 1
    assert server.median_in_flight() <= 1.5 * 32


def test_the_ramp_grows_only_while_requests_are_held_back_and_stops_at_the_first_reply() -> None:
    now = [0.0]
    limiter = AdaptiveLimiter(1000, initial=8, clock=lambda: now[0])
    now[0] = 5.0  # idle time: nobody asked for more
    assert limiter.try_acquire() is not None and limiter.limit == 8
    permits = [limiter.try_acquire() for _ in range(7)]
    assert limiter.try_acquire() is None  # held back from here
    step = limiter.ramp_step_in()
    assert step is not None and step > 0
    now[0] += 1.0  # one long step (a loop busy elsewhere): the level rises by ten requests, not 2**10-fold
    assert limiter.try_acquire() is not None and limiter.limit == 18
    permits += [limiter.try_acquire() for _ in range(9)]
    assert limiter.try_acquire() is None
    started = now[0]
    while limiter.limit < 32:  # ticks as often as the limiter asks: doubling about every 0.1 s
        step = limiter.ramp_step_in()
        assert step is not None
        now[0] += step
        while limiter.try_acquire() is not None:
            pass
    assert now[0] - started < 0.5
    now[0] += 0.05
    first = permits[0]
    assert first is not None
    limiter.release(first, Outcome.SUCCESS, latency=0.25)
    level = limiter.limit
    now[0] += 10.0
    for _ in range(level):
        limiter.try_acquire()
    assert limiter.limit == level and limiter.ramp_step_in() is None


async def test_waiters_are_granted_as_the_ramp_rises_with_no_reply_to_wake_them() -> None:
    now = [0.0]
    limiter = AdaptiveLimiter(64, initial=2, clock=lambda: now[0])
    held = [await limiter.acquire() for _ in range(2)]
    waiters = [asyncio.ensure_future(limiter.acquire()) for _ in range(6)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)

    async def time_passes() -> None:  # the fake clock moves 10 ms per real tick; the limiter's own timer
        while True:  # notices the level rising, with no reply to wake anything
            await asyncio.sleep(0.005)
            now[0] += 0.01

    clock = asyncio.ensure_future(time_passes())
    try:
        await asyncio.wait_for(asyncio.gather(*waiters), timeout=60)
    finally:
        clock.cancel()
    assert limiter.in_flight == 8 and len(held) == 2


def test_a_large_ceiling_does_not_storm_a_small_fast_server() -> None:
    server = VirtualServer(capacity=8, latency=0.01, jitter=0.2)
    limiter = AdaptiveLimiter(4000, clock=server.clock)
    server.run(limiter, 2000)
    assert limiter.limit <= 16
    assert server.rate_limited <= 0.1 * 2000


class VirtualServer:
    """A server on a virtual clock, driving a limiter through `try_acquire`/`release` with the
    latencies it chose: the bad timings are forced, not hoped for, and a loaded machine changes nothing.
    Beyond `capacity` it answers 429 at once, or (`queueing`) serves everything ever slower."""

    def __init__(
        self,
        *,
        capacity: int,
        latency: float,
        jitter: float = 0.2,
        queueing: bool = False,
        stall: tuple[float, float, float] | None = None,
    ) -> None:
        self.capacity = capacity
        #: (start, end, factor): replies sent in that span take `factor` times as long, whatever the
        #: concurrency (a client machine so loaded that its event loop stalls).
        self.stall = stall
        self.levels: list[tuple[float, int]] = []
        self.latency = latency
        self.jitter = jitter
        self.queueing = queueing
        self.rate_limited = 0
        self.now = 0.0
        self._in_flight_samples: list[int] = []
        self._reached: dict[int, float] = {}
        self._rng = random.Random(7)

    def run(self, limiter: AdaptiveLimiter, requests: int) -> None:
        pending = requests
        in_flight = 0
        events: list[tuple[float, int, Any, Outcome, float]] = []
        order = itertools.count()
        while pending or events:
            while pending:
                permit = limiter.try_acquire()
                if permit is None:
                    # Before the first reply the level grows with time: step the clock to its next rise.
                    step = limiter.ramp_step_in()
                    if step is not None and (not events or self.now + step < events[0][0]):
                        self.now += step
                        continue
                    break
                pending -= 1
                in_flight += 1
                self._in_flight_samples.append(in_flight)
                for level in (2000,):
                    if in_flight >= level and level not in self._reached:
                        self._reached[level] = self.now
                spread = self.latency * (1 + self._rng.uniform(-self.jitter, self.jitter))
                if self.stall is not None and self.stall[0] <= self.now < self.stall[1]:
                    spread *= self.stall[2]
                if in_flight > self.capacity and not self.queueing:
                    outcome, latency = Outcome.RATE_LIMITED, 0.001
                elif self.queueing:
                    outcome, latency = Outcome.SUCCESS, spread * max(1.0, in_flight / self.capacity)
                else:
                    outcome, latency = Outcome.SUCCESS, spread
                heapq.heappush(events, (self.now + latency, next(order), permit, outcome, latency))
            when, _, permit, outcome, latency = heapq.heappop(events)
            self.now = when
            in_flight -= 1
            if outcome is Outcome.RATE_LIMITED:
                self.rate_limited += 1
                pending += 1  # sent again, as the client's retry would
            limiter.release(permit, outcome, latency=latency)
            self.levels.append((self.now, limiter.limit))

    def clock(self) -> float:
        return self.now

    def first_time_in_flight(self, level: int) -> float | None:
        return self._reached.get(level)

    def median_in_flight(self) -> float:
        return statistics.median(self._in_flight_samples)
