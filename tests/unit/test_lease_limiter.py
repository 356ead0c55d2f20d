"""Leased limiters against one in-process budget (no Ray): several model pools, one ceiling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from synthloom.config.model_config import ModelConfig
from synthloom.executors.ray import LeaseBudget, LeasedLimiter, LeaseGrant, LeaseRequest
from synthloom.models.adaptive_limiter import AdaptiveLimiter, Outcome
from synthloom.models.model_pool import ModelPool
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

MESSAGES = [{"role": "user", "content": "hi"}]


class Channel:
    """Carries renewals to a budget in this process, after a delay (a round trip to an actor); can be
    cut to play a lost actor."""

    def __init__(self, budget: LeaseBudget, delay: float = 0.002) -> None:
        self.budget = budget
        self.delay = delay
        self.cut = False
        self.calls = 0

    async def __call__(self, request: LeaseRequest) -> LeaseGrant:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.cut:
            raise ConnectionError("the budget's actor is gone")
        return self.budget.renew(request)


def leased(
    channel: Channel, worker: str, ttl: float = 5.0
) -> Callable[[tuple[str, str], int, str], AdaptiveLimiter]:
    def make(key: tuple[str, str], ceiling: int, name: str) -> AdaptiveLimiter:
        return LeasedLimiter(ceiling, name=name, worker=worker, channel=channel, ttl=ttl)

    return make


async def _requests(pool: ModelPool, n: int) -> None:
    client = pool.client("m")
    await asyncio.gather(*(client.generate_text(MESSAGES, tag="t") for _ in range(n)))


async def _run_workers(base_url: str, channel: Channel, workers: int, requests: int, ceiling: int) -> None:
    config = ModelConfig(alias="m", base_url=base_url, model="sim", max_parallel_requests=ceiling, timeout=10)
    pools = [ModelPool([config], limiter_factory=leased(channel, f"w{i}")) for i in range(workers)]
    try:
        await asyncio.gather(*(_requests(pool, requests) for pool in pools))
        for pool in pools:
            limiter = pool.limiter("m")
            assert isinstance(limiter, LeasedLimiter)
            await limiter.aclose()
    finally:
        for pool in pools:
            await pool.aclose()


async def test_workers_sharing_a_budget_never_exceed_its_ceiling_together() -> None:
    budget = LeaseBudget(6, ttl=5.0)
    channel = Channel(budget)
    async with SimulatedEndpoint(SimulatedEndpointConfig(latency=0.02, jitter=0.5)) as endpoint:
        await _run_workers(endpoint.base_url, channel, workers=3, requests=60, ceiling=6)
        stats = endpoint.stats()
    assert stats["requests"] == 180
    assert stats["peak_in_flight"] <= 6
    # Leases, not requests: far fewer renewals than requests.
    assert budget.figures()["requests"] == 180
    assert budget.figures()["leased"] == 0  # every worker handed its lease back


async def test_a_429_seen_by_one_worker_lowers_the_level_every_worker_uses() -> None:
    budget = LeaseBudget(24, ttl=5.0, limiter_options={"initial": 24})
    channel = Channel(budget)
    server = SimulatedEndpointConfig(latency=0.03, jitter=0.3, capacity=8)
    async with SimulatedEndpoint(server) as endpoint:
        await _run_workers(endpoint.base_url, channel, workers=2, requests=80, ceiling=24)
        stats = endpoint.stats()
    figures = budget.figures()
    assert figures["rate_limited"] >= 1
    assert figures["decreases"] >= 1
    assert budget.level < 24
    # Rejected requests were retried: every one of them was answered in the end.
    assert stats["requests"] - stats["rate_limited"] == 160


async def test_an_idle_worker_gives_its_slots_to_a_busy_one() -> None:
    budget = LeaseBudget(8, ttl=5.0, limiter_options={"initial": 8})
    channel = Channel(budget)
    async with SimulatedEndpoint(SimulatedEndpointConfig(latency=0.02)) as endpoint:
        config = ModelConfig(alias="m", base_url=endpoint.base_url, model="sim", max_parallel_requests=8)
        idle = ModelPool([config], limiter_factory=leased(channel, "idle"))
        busy = ModelPool([config], limiter_factory=leased(channel, "busy"))
        try:
            await asyncio.gather(_requests(idle, 8), _requests(busy, 8))
            endpoint.reset_stats()
            # `idle` has nothing more to do; `busy` soon holds the whole level.
            await _requests(busy, 200)
            assert endpoint.stats()["peak_in_flight"] == 8
            assert budget.committed()["idle"] == 0
        finally:
            for pool in (idle, busy):
                limiter = pool.limiter("m")
                assert isinstance(limiter, LeasedLimiter)
                await limiter.aclose()
                await pool.aclose()


class GatedChannel(Channel):
    """A budget whose actor is still starting: renewals wait until `gate` is set."""

    def __init__(self, budget: LeaseBudget) -> None:
        super().__init__(budget)
        self.gate = asyncio.Event()

    async def __call__(self, request: LeaseRequest) -> LeaseGrant:
        await self.gate.wait()
        return await super().__call__(request)


async def test_an_opening_lease_runs_before_the_budget_answers_and_the_ceiling_holds() -> None:
    opened_at = time.monotonic()  # the driver takes its opening lease, then creates the budget
    budget = LeaseBudget(8, ttl=5.0, opening={"driver": 8})
    gated = GatedChannel(budget)

    def opening(key: tuple[str, str], ceiling: int, name: str) -> AdaptiveLimiter:
        return LeasedLimiter(ceiling, name=name, worker="driver", channel=gated, opened_at=opened_at)

    async with SimulatedEndpoint(SimulatedEndpointConfig(latency=0.02, jitter=0.5)) as endpoint:
        config = ModelConfig(alias="m", base_url=endpoint.base_url, model="sim", max_parallel_requests=8)
        driver = ModelPool([config], limiter_factory=opening)
        worker = ModelPool([config], limiter_factory=leased(Channel(budget), "w"))
        try:
            await _requests(driver, 40)  # all answered while the budget has not answered once
            assert budget.figures()["renewals"] == 0
            # A worker asking meanwhile gets nothing: the driver may be using the whole ceiling.
            asking = asyncio.ensure_future(_requests(worker, 40))
            await _until(lambda: budget.figures()["renewals"] >= 2)
            assert not asking.done() and budget.committed()["w"] == 0
            gated.gate.set()  # the budget answers the driver, which gives back what it does not use
            await asyncio.wait_for(asking, 10.0)
            stats = endpoint.stats()
        finally:
            for pool in (driver, worker):
                limiter = pool.limiter("m")
                assert isinstance(limiter, LeasedLimiter)
                await limiter.aclose()
                await pool.aclose()
    assert stats["requests"] == 80
    assert stats["peak_in_flight"] <= 8
    assert budget.committed() == {"driver": 0, "w": 0}


async def test_an_opening_lease_never_renewed_is_handed_back_on_close() -> None:
    budget = LeaseBudget(8, opening={"driver": 8})
    limiter = LeasedLimiter(8, name="m", worker="driver", channel=Channel(budget), opened_at=time.monotonic())
    assert limiter.lease == 8  # the limiter's starting level, before any grant
    await limiter.aclose()
    assert budget.committed()["driver"] == 0


async def _until(condition: Callable[[], bool], limit: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), limit)


async def test_a_lease_the_budget_cannot_renew_expires_and_comes_back_when_it_answers() -> None:
    budget = LeaseBudget(4, ttl=0.5, limiter_options={"initial": 4})
    channel = Channel(budget)
    limiter = LeasedLimiter(4, name="m", worker="w", channel=channel, ttl=0.5)
    permit = await limiter.acquire()
    assert limiter.lease == 1  # what it asked for
    channel.cut = True
    limiter.release(permit, Outcome.SUCCESS)
    await _until(lambda: limiter.limit == 0)  # expired: no request may start
    assert limiter.try_acquire() is None
    channel.cut = False
    # The run's only worker: once it has told the recreated budget what it holds, nothing is unknown.
    replacement = LeaseBudget(4, ttl=0.5, recovering=True, holders=1)
    channel.budget = replacement
    waiting: Awaitable[object] = asyncio.ensure_future(limiter.acquire())
    await asyncio.wait_for(waiting, 5.0)
    assert limiter.lease >= 1
    await limiter.aclose()


async def test_a_starved_event_loop_starts_nothing_under_a_lease_that_ran_out() -> None:
    budget = LeaseBudget(4, ttl=0.3, limiter_options={"initial": 4})
    channel = Channel(budget)
    limiter = LeasedLimiter(4, name="m", worker="w", channel=channel, ttl=0.3)
    first = await limiter.acquire()
    assert limiter.lease == 1
    channel.cut = True  # no renewal gets through from now on
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)  # queued behind the one slot of the lease
    assert not waiter.done()
    # The loop is starved past the lease (no renewal task runs, nothing notices the clock), then the
    # first request ends: the waiter must not start under the void lease.
    time.sleep(0.35)  # blocking the loop is the fault being played
    limiter.release(first, Outcome.SUCCESS)
    assert not waiter.done()
    assert limiter.try_acquire() is None
    await _until(lambda: limiter.limit == 0)
    assert not waiter.done()
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    await limiter.aclose()
