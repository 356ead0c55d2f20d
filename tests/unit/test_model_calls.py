"""The model-call pipeline: one chain of handlers every request passes, tested with a handler in place
of the network (no HTTP server): what is sent, what is accounted, what the lineage keeps."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from synthloom.config.model_config import ModelConfig
from synthloom.errors import ServerError
from synthloom.models import CallScope, FunctionHandler, ModelClient, ModelRequest, UsageTracker
from synthloom.models.calls import Wrapper, build_chain
from synthloom.models.retry_policy import RetryPolicy

USER = [{"role": "user", "content": "x"}]
FAST = RetryPolicy(base_delay=0.0, max_delay=0.0, rate_limit_base_delay=0.0, rate_limit_max_delay=0.0)


def _reply(text: str = "hi", tokens: tuple[int, int] = (3, 2)) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]},
    }


def _client(
    transport: Any, usage: UsageTracker, *, extra: Any = (), **config: Any
) -> tuple[ModelClient, ModelConfig]:
    model = ModelConfig(alias="m", provider="openai", base_url="http://127.0.0.1:9/v1", model="x", **config)
    chain = build_chain(model, transport, usage=usage, retry_policy=FAST, extra=extra)
    return ModelClient(model, handler=chain), model


async def test_a_handler_replaces_the_network_and_sees_the_exact_body() -> None:
    transport = FunctionHandler(lambda request: _reply())
    client, _ = _client(transport, UsageTracker(), inference={"temperature": 0.3, "max_tokens": 7})
    result = await client.generate_text([{"role": "user", "content": "Say hi"}], tag="greeting")
    assert result.text == "hi"
    (sent,) = transport.requests
    assert (sent.alias, sent.route, sent.scope.tag) == ("m", "chat", "greeting")
    assert sent.url("http://h/v1") == "http://h/v1/chat/completions"
    assert sent.body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert (sent.body["temperature"], sent.body["max_tokens"]) == (0.3, 7)


async def test_every_request_is_accounted_per_model_column_and_row_group() -> None:
    usage = UsageTracker()
    client, _ = _client(FunctionHandler(lambda request: _reply(tokens=(10, 4))), usage)
    scope = CallScope(tag="answer", record=7, row_group=2, seed=11)
    await client.generate_text([{"role": "user", "content": "q"}], scope=scope)
    await client.generate_text([{"role": "user", "content": "q"}], scope=scope.tagged("judge"))
    summary = usage.summary()
    assert summary["models"]["m"]["requests"] == 2
    assert summary["models"]["m"]["input_tokens"] == 20
    assert summary["columns"]["answer"]["requests"] == summary["columns"]["judge"]["requests"] == 1
    assert usage.take_scope(2)["m"]["requests"] == 2
    assert usage.take_scope(2) == {}  # taken once


async def test_the_lineage_sink_travels_with_the_scope() -> None:
    lineage: list[bytes] = []
    client, _ = _client(FunctionHandler(lambda request: _reply("42")), UsageTracker())
    await client.generate_text([{"role": "user", "content": "q"}], scope=CallScope(tag="a", lineage=lineage))
    await client.generate_text([{"role": "user", "content": "q"}], scope=CallScope(tag="b"))  # not logged
    (entry,) = [orjson.loads(line) for line in lineage]
    assert entry["tag"] == "a" and entry["messages"][-1] == {"role": "assistant", "content": "42"}
    assert (entry["input_tokens"], entry["http_attempts"]) == (3, 1)


async def test_drawn_inference_parameters_are_fixed_by_the_cell_seed() -> None:
    transport = FunctionHandler(lambda request: _reply())
    client, _ = _client(
        transport, UsageTracker(), inference={"temperature": {"distribution": "uniform", "low": 0, "high": 1}}
    )

    async def drawn(seed: int, attempt: int = 1) -> float:
        await client.generate_text(USER, scope=CallScope(seed=seed, attempt=attempt))
        return float(transport.requests[-1].body["temperature"])

    first = await drawn(5)
    assert await drawn(5) == first  # a resumed run draws the same value for the same cell
    assert len({first, await drawn(6), await drawn(5, attempt=2)}) == 3


async def test_retries_happen_inside_the_chain_and_are_counted_once_per_call() -> None:
    answers = iter([ServerError("boom", status_code=503), ServerError("boom", status_code=502), None])

    def flaky(request: ModelRequest) -> dict[str, Any]:
        error = next(answers)
        if error is not None:
            raise error
        return _reply()

    usage = UsageTracker()
    client, _ = _client(FunctionHandler(flaky), usage, max_retries=3)
    result = await client.generate_text(USER, tag="t")
    assert result.usage.attempts == 3 and result.usage.status_codes == [503, 502, 200]
    model = usage.summary()["models"]["m"]
    assert (model["requests"], model["retries"], model["failures"]) == (1, 2, 0)


async def test_a_call_that_gives_up_is_accounted_as_failed_with_all_its_attempts() -> None:
    def down(request: ModelRequest) -> dict[str, Any]:
        raise ServerError("down", status_code=500)

    usage = UsageTracker()
    client, _ = _client(FunctionHandler(down), usage, max_retries=1)
    with pytest.raises(ServerError):
        await client.generate_text(USER, scope=CallScope(tag="t", row_group=0))
    model = usage.summary()["models"]["m"]
    assert (model["requests"], model["failures"], model["retries"]) == (1, 1, 1)
    assert usage.take_scope(0)["m"]["failures"] == 1


async def test_a_wrapper_that_answers_is_accounted_as_cached_at_no_cost() -> None:
    class Canned(Wrapper):
        async def handle(self, request: ModelRequest) -> Any:
            response = await FunctionHandler(lambda r: _reply("canned")).handle(request)
            response.cached = True
            return response

    network = FunctionHandler(lambda request: _reply())
    usage = UsageTracker({"m": None})
    client, _ = _client(network, usage, extra=[lambda inner, config: Canned(inner)])
    assert (await client.generate_text(USER, tag="t")).text == "canned"
    assert network.requests == []  # never reached the network
    assert usage.summary()["models"]["m"]["cached"] == 1


async def test_a_server_route_goes_through_the_same_chain() -> None:
    lineage: list[bytes] = []
    transport = FunctionHandler(lambda request: {"tokens": [1, 2, 3]})
    usage = UsageTracker()
    client, _ = _client(transport, usage)
    body = await client.post("/tokenize", {"content": "abc"}, scope=CallScope(tag="q", lineage=lineage))
    assert body == {"tokens": [1, 2, 3]}
    assert transport.requests[0].url("http://h:1/v1") == "http://h:1/tokenize"
    assert usage.summary()["columns"]["q"]["requests"] == 1
    assert orjson.loads(lineage[0])["request"]["path"] == "/tokenize"
