"""The batch wrapper (`Batching`, `BatchQueue`, `BatchState`) against a stand-in batch API, and the two
providers' batch APIs on the wire against the simulated endpoint."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from synthloom.config.model_config import BatchConfig, ModelConfig
from synthloom.errors import BatchRequestError, RequestRejectedError, ServerError
from synthloom.models.calls import (
    BatchOutcome,
    BatchQueue,
    BatchState,
    BatchStatus,
    CallScope,
    FunctionHandler,
    ModelRequest,
    Parsed,
    RunBatches,
)
from synthloom.models.calls.batch_apis import AnthropicBatchApi, OpenAIBatchApi
from synthloom.models.calls.caching import request_key
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

CONFIG = ModelConfig(
    alias="m",
    provider="openai",
    base_url="http://unused/v1",
    model="sim",
    batch=BatchConfig(size=3, max_wait=3600, poll_interval=0.001),
)


def _parse(body: dict[str, Any]) -> Parsed:
    return Parsed(value=body["text"], input_tokens=body["in"], output_tokens=body["out"])


def request(n: int, *, route: str = "chat", seed: int | None = None) -> ModelRequest:
    return ModelRequest(
        alias="m",
        route=route,
        body={"model": "sim", "messages": [{"role": "user", "content": f"q{n}"}]},
        url=lambda base: f"{base}/chat/completions",
        parse=_parse,
        scope=CallScope(tag="c", record=n, seed=n if seed is None else seed),
    )


class StandInApi:
    """A batch API in memory: batches end when the test says so, with the outcomes it scripts."""

    def __init__(self) -> None:
        self.submitted: list[list[str]] = []
        self.ended: set[str] = set()
        #: custom id -> error to answer instead of a body (once per listed time).
        self.errors: dict[str, list[str]] = {}
        self.fail_submissions: list[Exception] = []
        self.polls = 0
        #: Batch ids the provider no longer knows (404).
        self.gone: set[str] = set()

    async def submit(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        if self.fail_submissions:
            raise self.fail_submissions.pop(0)
        self.submitted.append([cid for cid, _ in items])
        self.bodies = {cid: body for cid, body in items}
        return f"b{len(self.submitted)}"

    async def status(self, batch_id: str) -> BatchStatus:
        self.polls += 1
        if batch_id in self.gone:
            raise RequestRejectedError(f"no batch {batch_id}", status_code=404)
        return BatchStatus(
            batch_id, "ended" if batch_id in self.ended else "in_progress", batch_id in self.ended
        )

    async def results(self, status: BatchStatus) -> dict[str, BatchOutcome]:
        ids = self.submitted[int(status.batch_id[1:]) - 1]
        out = {}
        for cid in ids:
            errors = self.errors.get(cid)
            if errors:
                out[cid] = BatchOutcome(error=errors.pop(0))
            else:
                out[cid] = BatchOutcome(body={"text": f"answer {cid[:6]}", "in": 3, "out": 5})
        return out

    async def aclose(self) -> None:
        pass


def _queue(api: StandInApi, state: BatchState | None = None, **settings: Any) -> BatchQueue:
    options = {"size": 3, "max_wait": 3600, "poll_interval": 0.001, **settings}
    return BatchQueue("m", BatchConfig(**options), api, state or BatchState(None))  # type: ignore[arg-type]


async def _until(condition: Any) -> None:
    """Let the event loop run until `condition()` holds (a generous bound, never a timed assertion)."""
    for _ in range(20_000):
        if condition():
            return
        await asyncio.sleep(0.0005)
    raise AssertionError("condition never held")


async def test_requests_are_submitted_as_one_batch_once_size_are_waiting_and_resolved_by_custom_id() -> None:
    api = StandInApi()
    batches = RunBatches(None, api_factory=lambda config: api)  # type: ignore[arg-type,return-value]
    inner = FunctionHandler(lambda r: {"text": "direct", "in": 1, "out": 1})
    handler = batches.wrap(inner, CONFIG)
    asks = [asyncio.create_task(handler.handle(request(n))) for n in range(3)]
    await _until(lambda: api.submitted)
    assert [len(ids) for ids in api.submitted] == [3]
    # The custom id is the request's content key: the one the response cache uses.
    assert api.submitted[0][0] == request_key(CONFIG, request(0)).hex()
    api.ended.add("b1")
    responses = await asyncio.gather(*asks)
    assert [r.value for r in responses] == [
        f"answer {request_key(CONFIG, request(n)).hex()[:6]}" for n in range(3)
    ]
    assert all(r.batched and not r.cached for r in responses)
    assert (responses[0].usage.input_tokens, responses[0].usage.output_tokens) == (3, 5)
    assert inner.requests == []  # nothing went directly
    await batches.aclose()


async def test_a_smaller_batch_is_submitted_once_the_oldest_request_waited_max_wait() -> None:
    api = StandInApi()
    queue = _queue(api, size=100, max_wait=0.01)
    ask = asyncio.create_task(queue.ask("a" * 64, {"x": 1}))
    await _until(lambda: api.submitted)  # submitted by the timer, with 1 of 100 waiting
    assert api.submitted == [["a" * 64]]
    api.ended.add("b1")
    assert (await ask)["text"].startswith("answer")
    await queue.aclose()


async def test_requests_that_are_not_chat_pass_on_to_the_inner_handler() -> None:
    api = StandInApi()
    batches = RunBatches(None, api_factory=lambda config: api)  # type: ignore[arg-type,return-value]
    inner = FunctionHandler(lambda r: {"text": "direct", "in": 1, "out": 1})
    handler = batches.wrap(inner, CONFIG)
    response = await handler.handle(request(1, route="embeddings"))
    assert response.value == "direct" and not response.batched
    assert len(inner.requests) == 1 and api.submitted == []
    # A model without `batch:` is not wrapped at all.
    plain = CONFIG.model_copy(update={"batch": None})
    assert batches.wrap(inner, plain) is inner


async def test_a_repeat_of_the_same_request_in_a_cell_gets_a_custom_id_of_its_own() -> None:
    queue = _queue(StandInApi())
    first, second = queue.custom_id(request(1), CONFIG), queue.custom_id(request(1), CONFIG)
    assert first != second and len(first) == len(second) == 64
    assert first == request_key(CONFIG, request(1)).hex()


async def test_only_failed_requests_are_resubmitted_and_a_request_beyond_its_attempts_fails() -> None:
    api = StandInApi()
    queue = _queue(api, size=3, max_wait=0.01, max_attempts=2)
    ids = ["a" * 64, "b" * 64, "c" * 64]
    api.errors = {ids[1]: ["flaky"], ids[2]: ["broken", "still broken"]}
    asks = [asyncio.create_task(queue.ask(cid, {"n": i})) for i, cid in enumerate(ids)]
    await _until(lambda: api.submitted)
    api.ended.add("b1")
    await _until(lambda: asks[0].done())
    # The two failed requests go into the next batch (2 of 3: submitted once max_wait passed).
    await _until(lambda: len(api.submitted) == 2)
    assert api.submitted[1] == [ids[1], ids[2]]
    api.ended.add("b2")
    first, second = await asks[0], await asks[1]
    assert first["text"] and second["text"]
    with pytest.raises(BatchRequestError, match=r"model 'm': not answered in 2 batch\(es\).*still broken"):
        await asks[2]
    assert len(api.submitted) == 2  # never a third batch
    assert queue.report()["resubmitted"] == 2 and queue.report()["failed"] == 1
    await queue.aclose()


async def test_a_transient_submission_failure_is_tried_again_and_a_refusal_fails_the_requests() -> None:
    api = StandInApi()
    api.fail_submissions = [ServerError("busy", status_code=503)]
    queue = _queue(api, size=1)
    queue.backoff = 0.0
    ask = asyncio.create_task(queue.ask("a" * 64, {}))
    await _until(lambda: api.submitted)
    api.ended.add("b1")
    assert (await ask)["text"]
    api.fail_submissions = [RequestRejectedError("bad key", status_code=401)]
    with pytest.raises(BatchRequestError, match="could not be submitted: RequestRejectedError: bad key"):
        await queue.ask("b" * 64, {})
    await queue.aclose()


async def test_a_resumed_run_polls_its_recorded_batch_instead_of_submitting_again(tmp_path: Path) -> None:
    path = tmp_path / "batches.jsonl"
    api = StandInApi()
    first = _queue(api, BatchState(path), size=2)
    asks = [asyncio.create_task(first.ask(cid, {})) for cid in ("a" * 64, "b" * 64)]
    await _until(lambda: path.exists())
    for ask in asks:  # the run is killed with its batch in flight
        ask.cancel()
    await first.aclose()
    record = json.loads(path.read_text())
    assert (record["model"], record["batch"], record["ids"]) == ("m", "b1", ["a" * 64, "b" * 64])

    # A cut last line (a kill while writing) is ignored.
    with open(path, "ab") as fh:
        fh.write(b'{"model": "m", "batch": "b9", "ids": ["a')
    resumed = _queue(api, BatchState(path), size=2)
    api.ended.add("b1")
    answer = await resumed.ask("b" * 64, {})
    assert answer["text"].startswith("answer") and len(api.submitted) == 1
    # The batch's other answer is held for the request that asks it later: no second poll or download.
    polls = api.polls
    assert (await resumed.ask("a" * 64, {}))["text"].startswith("answer")
    assert api.polls == polls and len(api.submitted) == 1
    assert resumed.report()["resumed_batches"] == 1
    await resumed.aclose()


async def test_a_recorded_batch_the_provider_lost_has_its_requests_submitted_again(tmp_path: Path) -> None:
    path = tmp_path / "batches.jsonl"
    path.write_text(json.dumps({"model": "m", "batch": "lost", "ids": ["a" * 64]}) + "\n")
    api = StandInApi()
    api.gone.add("lost")
    queue = _queue(api, BatchState(path), size=1)
    ask = asyncio.create_task(queue.ask("a" * 64, {}))
    await _until(lambda: api.submitted)
    assert api.submitted == [["a" * 64]]
    api.ended.add("b1")
    assert (await ask)["text"].startswith("answer")
    assert queue.state.attempts("m", "a" * 64) == 2
    await queue.aclose()


async def test_attempts_are_counted_across_sessions(tmp_path: Path) -> None:
    path = tmp_path / "batches.jsonl"
    path.write_text(
        json.dumps({"model": "m", "batch": "old1", "ids": ["a" * 64]})
        + "\n"
        + json.dumps({"model": "m", "batch": "old2", "ids": ["a" * 64]})
        + "\n"
    )
    state = BatchState(path)
    assert state.attempts("m", "a" * 64) == 2 and state.latest("m", "a" * 64) == "old2"


# -- the wire shapes, against the simulated endpoint ------------------------------------------------


def _chat(n: int) -> dict[str, Any]:
    return {"model": "sim", "messages": [{"role": "user", "content": f"hello {n}"}]}


async def test_the_openai_batch_api_round_trip() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(batch_delay=3600)) as endpoint:
        api = OpenAIBatchApi(endpoint.base_url, {"Authorization": "Bearer sk-x"}, timeout=5)
        batch_id = await api.submit([("id-1", _chat(1)), ("id-2", _chat(2))])
        status = await api.status(batch_id)
        assert (status.state, status.ended) == ("in_progress", False)
        endpoint.update(batch_delay=0, batch_error_rate=1.0)
        status = await api.status(batch_id)
        assert (status.state, status.ended) == ("completed", True)
        outcomes = await api.results(status)
        assert outcomes["id-1"].body is None and "simulated batch request error" in str(
            outcomes["id-1"].error
        )
        endpoint.update(batch_error_rate=0.0)
        again = await api.status(await api.submit([("id-3", _chat(3))]))
        body = (await api.results(again))["id-3"].body
        assert body is not None and body["choices"][0]["message"]["content"] == "Simulated reply to: hello 3"
        assert endpoint.stats()["batches"] == 2 and endpoint.stats()["batch_requests"] == 3
        await api.aclose()


async def test_the_anthropic_batch_api_round_trip_and_expiry() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(batch_expire_next=1)) as endpoint:
        base = endpoint.base_url.removesuffix("/v1")
        api = AnthropicBatchApi(base, {"x-api-key": "k"}, timeout=5)
        status = await api.status(await api.submit([("a", _chat(1)), ("b", _chat(2))]))
        assert (status.state, status.ended) == ("ended", True)
        outcomes = await api.results(status)
        assert outcomes["a"].body is not None and outcomes["a"].body["content"][0]["type"] == "text"
        assert outcomes["b"] == BatchOutcome(error="request expired")
        await api.aclose()


async def test_results_on_another_origin_are_not_fetched_with_the_key() -> None:
    api = AnthropicBatchApi("https://api.example.com", {"x-api-key": "k"}, timeout=5)
    status = BatchStatus("b", "ended", True, {"results_url": "https://elsewhere.example.net/results"})
    with pytest.raises(RequestRejectedError, match="another origin"):
        await api.results(status)
    await api.aclose()


async def test_the_simulated_batch_api_refuses_duplicate_custom_ids() -> None:
    async with SimulatedEndpoint() as endpoint:
        api = OpenAIBatchApi(endpoint.base_url, {}, timeout=5)
        with pytest.raises(RequestRejectedError, match="unique"):
            await api.submit([("same", _chat(1)), ("same", _chat(2))])
        await api.aclose()


def test_mock_server_serves_the_batch_apis_with_its_flags() -> None:
    import urllib.request

    command = [sys.executable, "-m", "synthloom", "mock-server", "--port", "0", "--latency", "0"]
    command += ["--batch-delay", "3600", "--batch-error-rate", "0.5", "--batch-expire-next", "1"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        base_url = proc.stderr.readline().split("Simulated endpoint at ", 1)[1].split()[0]
        body = json.dumps({"requests": [{"custom_id": "a", "params": _chat(1)}]}).encode()
        root = base_url.removesuffix("/v1")
        post = urllib.request.Request(
            f"{root}/v1/messages/batches", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(post, timeout=30) as answer:
            created = json.loads(answer.read())
        assert created["processing_status"] == "in_progress"  # --batch-delay holds it
        with urllib.request.urlopen(f"{root}/stats", timeout=30) as answer:
            stats = json.loads(answer.read())
        assert (stats["batches"], stats["batch_requests"]) == (1, 1)
        with urllib.request.urlopen(f"{root}/admin/config", data=b"{}", timeout=30) as answer:
            settings = json.loads(answer.read())
        # The one scripted expiry was used by that batch.
        assert (settings["batch_error_rate"], settings["batch_expire_next"]) == (0.5, 0)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
