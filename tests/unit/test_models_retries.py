"""Retries, throttling and error translation, on real sockets against a scripted endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from synthloom.config.model_config import ModelConfig
from synthloom.errors import (
    MalformedResponseError,
    ModelConnectionError,
    ModelTimeoutError,
    RateLimitError,
    RequestRejectedError,
    ServerError,
)
from synthloom.models import ModelPool, RetryPolicy
from synthloom.testing import ScriptedResponse, SimulatedEndpoint

FAST = RetryPolicy(base_delay=0.001, max_delay=0.002, rate_limit_base_delay=0.001, max_rate_limited=3)
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


def _config(endpoint: SimulatedEndpoint, **overrides: object) -> ModelConfig:
    fields: dict[str, object] = {
        "alias": "m",
        "base_url": endpoint.base_url,
        "model": "sim",
        "max_retries": 2,
        "timeout": 5,
    }
    fields.update(overrides)
    return ModelConfig.model_validate(fields)


async def test_429_with_retry_after_then_success_is_answered(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(status=429, headers={"Retry-After": "0"}), ScriptedResponse(text="fine"))
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        result = await pool.client("m").generate_text(MESSAGES)
        assert result.text == "fine"
        assert result.usage.status_codes == [429, 200]
        assert result.usage.retries == 0
        assert pool.limiter_stats()["m"]["rate_limited"] == 1


async def test_retry_after_pauses_the_limiter(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(status=429, headers={"Retry-After": "30"}))
    no_requeue = RetryPolicy(max_rate_limited=0)
    async with ModelPool([_config(endpoint)], retry_policy=no_requeue) as pool:
        with pytest.raises(RateLimitError) as info:
            await pool.client("m").generate_text(MESSAGES)
        assert info.value.retry_after == 30
        limiter = pool.limiter("m")
        assert limiter.paused_for() > 25
        waiting = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert limiter.in_flight == 0


async def test_503_then_success_is_retried(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(status=503), ScriptedResponse(text="recovered"))
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        result = await pool.client("m").generate_text(MESSAGES)
    assert result.text == "recovered"
    assert result.usage.status_codes == [503, 200]
    assert result.usage.retries == 1


async def test_persistent_5xx_raises_server_error_after_max_retries(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(*[ScriptedResponse(status=500)] * 3)
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        with pytest.raises(ServerError) as info:
            await pool.client("m").generate_text(MESSAGES)
        assert info.value.status_code == 500
        assert len(endpoint.requests) == 3  # first try + max_retries=2
        assert pool.usage.summary()["models"]["m"]["failures"] == 1


async def test_slow_reply_past_timeout_raises_timeout_after_retries(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(*[ScriptedResponse(delay=30)] * 2)
    config = _config(endpoint, timeout=0.05, max_retries=1)
    async with ModelPool([config], retry_policy=FAST) as pool:
        with pytest.raises(ModelTimeoutError):
            await pool.client("m").generate_text(MESSAGES)
    assert len(endpoint.requests) == 2


async def test_dropped_connection_is_retried(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(drop=True), ScriptedResponse(text="after drop"))
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        result = await pool.client("m").generate_text(MESSAGES)
    assert result.text == "after drop"
    assert result.usage.status_codes == [None, 200]


async def test_dropped_connections_exhaust_retries_as_connection_error(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(*[ScriptedResponse(drop=True)] * 3)
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        with pytest.raises(ModelConnectionError):
            await pool.client("m").generate_text(MESSAGES)


async def test_malformed_json_body_is_retried(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(body='{"choices": ['), ScriptedResponse(text="whole"))
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        result = await pool.client("m").generate_text(MESSAGES)
    assert result.text == "whole"
    assert result.usage.attempts == 2


async def test_malformed_json_body_raises_after_retries(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(*[ScriptedResponse(body="not json")] * 3)
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        with pytest.raises(MalformedResponseError):
            await pool.client("m").generate_text(MESSAGES)


async def test_reply_without_choices_is_malformed(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(*[ScriptedResponse(body={"unexpected": True})] * 3)
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        with pytest.raises(MalformedResponseError):
            await pool.client("m").generate_text(MESSAGES)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_4xx_other_than_429_is_not_retried(endpoint: SimulatedEndpoint, status: int) -> None:
    endpoint.script(ScriptedResponse(status=status, body={"error": "nope"}), ScriptedResponse(text="never"))
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        with pytest.raises(RequestRejectedError) as info:
            await pool.client("m").generate_text(MESSAGES)
    assert info.value.status_code == status
    assert "nope" in info.value.body
    assert len(endpoint.requests) == 1


async def test_permanent_429_eventually_fails(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(*[ScriptedResponse(status=429)] * 10)
    async with ModelPool([_config(endpoint)], retry_policy=FAST) as pool:
        with pytest.raises(RateLimitError):
            await pool.client("m").generate_text(MESSAGES)
        summary = pool.usage.summary()["models"]["m"]
    assert len(endpoint.requests) == FAST.max_rate_limited + 1
    assert summary["rate_limited"] == FAST.max_rate_limited + 1
    assert summary["retries"] == 0


async def test_unreachable_server_raises_connection_error() -> None:
    async with SimulatedEndpoint() as ep:
        base_url = ep.base_url
    config = ModelConfig(alias="m", base_url=base_url, model="x", max_retries=1)
    async with ModelPool([config], retry_policy=FAST) as pool:
        with pytest.raises(ModelConnectionError):
            await pool.client("m").generate_text(MESSAGES)


async def test_api_key_never_appears_in_errors_or_reprs(
    endpoint: SimulatedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-very-secret-123"
    monkeypatch.setenv("SIM_KEY", secret)
    # The server echoes the key back in its error body: it must be scrubbed.
    endpoint.script(ScriptedResponse(status=401, body={"error": f"bad key {secret}"}))
    config = _config(endpoint, api_key_env="SIM_KEY")
    async with ModelPool([config], retry_policy=FAST) as pool:
        client = pool.client("m")
        with pytest.raises(RequestRejectedError) as info:
            await client.generate_text(MESSAGES)
        assert endpoint.requests[-1].headers["Authorization"] == f"Bearer {secret}"
        texts = [str(info.value), repr(info.value), info.value.body, repr(client), repr(config), repr(pool)]
        assert all(secret not in text for text in texts)
        assert "***" in info.value.body
