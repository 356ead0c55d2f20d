"""Several endpoints behind one alias: least-loaded routing, ejection, probing back in, figures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from synthloom.errors import ModelConnectionError, RateLimitError, RequestRejectedError, ServerError
from synthloom.models.adaptive_limiter import AdaptiveLimiter
from synthloom.models.endpoint_set import Endpoint, EndpointSet, HealthPolicy, Lease, Replica
from synthloom.models.http_session import HttpSession


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def replica(name: str, limit: int = 4) -> Replica:
    limiter = AdaptiveLimiter(limit, initial=limit, name=name)
    endpoint = Endpoint(base_url=f"http://{name}", session=HttpSession(), headers={"x-replica": name})

    async def resolve() -> Endpoint:
        return endpoint

    return Replica(name, limiter, resolve)


def endpoint_set(*replicas: Replica, clock: Clock | None = None, **health: float) -> EndpointSet:
    return EndpointSet("m", replicas, health=HealthPolicy(**health), clock=clock or Clock())  # type: ignore[arg-type]


def refused() -> ModelConnectionError:
    try:
        raise aiohttp.ClientConnectorError(None, OSError(111, "Connection refused"))  # type: ignore[arg-type]
    except aiohttp.ClientConnectorError as cause:
        try:
            raise ModelConnectionError("cannot reach") from cause
        except ModelConnectionError as exc:
            return exc


def server_error() -> ServerError:
    return ServerError("503", status_code=503)


class Held:
    """Slots held open, so that routing can be looked at while requests are in flight."""

    def __init__(self) -> None:
        self.stack = contextlib.AsyncExitStack()

    async def take(self, endpoints: EndpointSet) -> Lease:
        return await self.stack.enter_async_context(endpoints.slot())

    async def close(self) -> None:
        await self.stack.aclose()


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    holder = Held()
    yield holder
    await holder.close()


async def fail(endpoints: EndpointSet, error: Exception) -> str:
    """One request that fails with `error`; the replica it went to."""
    name = ""
    with pytest.raises(type(error)):
        async with endpoints.slot() as lease:
            name = lease.replica.name
            raise error
    return name


async def succeed(endpoints: EndpointSet) -> str:
    async with endpoints.slot() as lease:
        return lease.replica.name


async def test_requests_go_to_the_least_loaded_replica(held: Held) -> None:
    endpoints = endpoint_set(replica("a", 4), replica("b", 4))
    names = [(await held.take(endpoints)).replica.name for _ in range(6)]
    assert sorted(names[:2]) == ["a", "b"]  # one each before either gets a second
    assert names.count("a") == names.count("b") == 3


async def test_a_replica_with_a_higher_level_takes_a_larger_share(held: Held) -> None:
    endpoints = endpoint_set(replica("small", 2), replica("large", 6))
    names = [(await held.take(endpoints)).replica.name for _ in range(8)]
    assert names.count("small") == 2 and names.count("large") == 6


async def test_the_lease_carries_the_replicas_url_and_headers() -> None:
    endpoints = endpoint_set(replica("a"), replica("b"))
    async with endpoints.slot() as lease:
        assert lease.base_url == f"http://{lease.replica.name}"
        assert lease.headers == {"x-replica": lease.replica.name}


async def test_when_every_replica_is_full_the_first_freed_slot_is_handed_over(held: Held) -> None:
    a, b = replica("a", 1), replica("b", 1)
    endpoints = endpoint_set(a, b)
    first = Held()
    await first.take(endpoints)  # on a
    await held.take(endpoints)  # on b
    waiter = asyncio.ensure_future(succeed(endpoints))
    await asyncio.sleep(0)
    assert not waiter.done() and endpoints.limiter_stats().waiting == 1
    await first.close()  # a frees its slot
    assert await waiter == "a"


async def test_a_refused_connection_takes_a_replica_out_at_once() -> None:
    clock = Clock()
    a, b = replica("a"), replica("b")
    endpoints = endpoint_set(a, b, clock=clock)
    assert await fail(endpoints, refused()) == "a"
    assert a.state == "out" and a.ejections == 1
    assert {await succeed(endpoints) for _ in range(5)} == {"b"}


async def test_a_streak_of_server_errors_takes_a_replica_out(held: Held) -> None:
    a, b = replica("a", 1), replica("b", 8)
    endpoints = endpoint_set(a, b, failure_streak=3)
    await held.take(endpoints)  # a (its level is full from now on)
    for _ in range(2):
        await held.take(endpoints)  # b
    failures = []
    for _ in range(3):
        failures.append(await fail(endpoints, server_error()))
    assert failures == ["b", "b", "b"] and b.state == "out"
    assert a.state == "healthy"


async def test_an_answer_between_failures_resets_the_streak(held: Held) -> None:
    a, b = replica("a"), replica("b", 1)
    endpoints = endpoint_set(a, b, failure_streak=2)
    await held.take(endpoints)  # a
    await held.take(endpoints)  # b, now full: the requests below all go to a
    for _ in range(3):
        assert await fail(endpoints, server_error()) == "a"
        assert await succeed(endpoints) == "a"
    assert a.state == "healthy"
    await fail(endpoints, server_error())
    await fail(endpoints, server_error())
    assert a.state == "out"


async def test_client_errors_and_429s_do_not_count_against_health() -> None:
    a, b = replica("a"), replica("b")
    endpoints = endpoint_set(a, b, failure_streak=1)
    await fail(endpoints, RequestRejectedError("400", status_code=400))
    await fail(endpoints, RateLimitError("429", status_code=429))
    assert a.state == b.state == "healthy"
    assert a.rate_limited + b.rate_limited == 1 and a.failures + b.failures == 1


async def test_an_ejected_replica_is_probed_back_in_after_its_backoff(held: Held) -> None:
    clock = Clock()
    a, b = replica("a"), replica("b")
    endpoints = endpoint_set(a, b, clock=clock, first_backoff=2.0)
    await fail(endpoints, refused())  # a out until 102
    clock.now += 1.9
    assert await succeed(endpoints) == "b"
    clock.now += 0.2
    probe = await held.take(endpoints)
    assert probe.replica is a and probe.probe and a.probes == 1
    # One probe at a time: the next request goes elsewhere while it is in flight.
    assert (await held.take(endpoints)).replica is b
    await held.close()  # the probe answered
    assert a.state == "healthy" and a.backoff == 0
    assert {await succeed(endpoints) for _ in range(4)} == {"a", "b"}


async def test_a_failed_probe_doubles_the_backoff_up_to_the_maximum() -> None:
    clock = Clock()
    a, b = replica("a"), replica("b")
    endpoints = endpoint_set(a, b, clock=clock, first_backoff=1.0, max_backoff=3.0)
    await fail(endpoints, refused())
    backoffs = [a.backoff]
    for _ in range(3):
        clock.now = a.retry_at
        assert await fail(endpoints, server_error()) == "a"  # the probe fails
        backoffs.append(a.backoff)
    assert backoffs == [1.0, 2.0, 3.0, 3.0]
    assert a.state == "out" and a.ejections == 4


async def open_slot(endpoints: EndpointSet) -> tuple[contextlib.AbstractAsyncContextManager[Lease], Lease]:
    slot = endpoints.slot()
    return slot, await slot.__aenter__()


async def close_with(slot: contextlib.AbstractAsyncContextManager[Lease], error: Exception) -> None:
    suppressed = await slot.__aexit__(type(error), error, None)
    assert not suppressed


async def test_late_failures_of_requests_sent_before_the_ejection_do_not_lengthen_it() -> None:
    a, b = replica("a"), replica("b")
    endpoints = endpoint_set(a, b)
    first, lease1 = await open_slot(endpoints)
    second, lease2 = await open_slot(endpoints)
    third, lease3 = await open_slot(endpoints)
    assert (lease1.replica, lease2.replica, lease3.replica) == (a, b, a)
    await close_with(first, refused())
    assert a.state == "out" and a.backoff == 1.0
    await close_with(third, refused())  # sent before a went out
    assert a.ejections == 1 and a.backoff == 1.0
    await second.__aexit__(None, None, None)


async def test_every_replica_out_fails_at_once_with_a_connection_error() -> None:
    clock = Clock()
    endpoints = endpoint_set(replica("a"), replica("b"), clock=clock, first_backoff=5.0)
    await fail(endpoints, refused())
    await fail(endpoints, refused())
    with pytest.raises(ModelConnectionError, match=r"every endpoint is out of rotation .* tried in 5\.0s"):
        await succeed(endpoints)


async def test_waiting_requests_fail_when_the_last_usable_replica_goes_out() -> None:
    a, b = replica("a", 1), replica("b", 1)
    endpoints = endpoint_set(a, b)
    await fail(endpoints, refused())  # a out
    slot, lease = await open_slot(endpoints)
    assert lease.replica is b
    waiter = asyncio.ensure_future(succeed(endpoints))
    await asyncio.sleep(0)
    await close_with(slot, refused())  # b out as well: nothing is left to wait for
    with pytest.raises(ModelConnectionError, match="every endpoint is out"):
        await waiter


async def test_a_single_endpoint_is_never_taken_out() -> None:
    only = replica("only")
    endpoints = endpoint_set(only, failure_streak=1)
    for _ in range(3):
        await fail(endpoints, refused())
    assert only.state == "healthy"
    assert await succeed(endpoints) == "only"


async def test_cancelling_a_waiting_request_gives_nothing_away(held: Held) -> None:
    endpoints = endpoint_set(replica("a", 1), replica("b", 1))
    await held.take(endpoints)
    await held.take(endpoints)
    waiter = asyncio.ensure_future(succeed(endpoints))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    stats = endpoints.limiter_stats()
    assert (stats.in_flight, stats.waiting) == (2, 0)


async def test_report_gives_each_replicas_figures() -> None:
    a, b = replica("a"), replica("b")
    endpoints = endpoint_set(a, b, failure_streak=1)
    async with endpoints.slot() as lease:
        lease.input_tokens, lease.output_tokens = 10, 3
    await fail(endpoints, server_error())
    report = endpoints.report()
    assert set(report) == {"a", "b"}
    assert report["a"]["answered"] == 1 and report["a"]["input_tokens"] == 10
    assert report["b"]["failures"] == 1 and report["b"]["state"] == "out" and report["b"]["ejections"] == 1
    assert endpoints.limiter_stats().ceiling == 8
