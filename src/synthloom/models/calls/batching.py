"""`Batching`: a model's chat requests sent through its provider's batch API, at the batch price.

    Accounting → Caching → Batching → Retrying → Routing

The wrapper sits inside the cache (a cached answer never goes into a batch) and answers a chat request
itself; anything else (embeddings, images, a server path) passes on to the retries as usual.

Per model, a `BatchQueue` collects requests and submits them as one batch once `batch.size` are waiting
or the oldest has waited `batch.max_wait` seconds. Each batch is polled every `batch.poll_interval`
seconds until it ends; its results are matched back to the waiting requests by custom id. A request a
batch did not answer (an error line, an expired or failed batch) goes into a later batch, at most
`batch.max_attempts` times in all, then fails its cell with a `BatchRequestError` saying why.

The custom id is the request's content key (`request_key`, as the response cache computes it), so the
same cell asks the same id in every session. Each submission is appended to `batches.jsonl` in the run
directory (`BatchState`) the moment the provider has answered with the batch id: a run killed while its
batches are in flight finds them there on resume, polls them and takes their answers, instead of
submitting (and paying for) the same requests again. A killed run loses at most a batch whose id had not
come back yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import orjson

from synthloom.config.model_config import BatchConfig, ModelConfig
from synthloom.errors import (
    BatchRequestError,
    ModelConnectionError,
    ModelError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
from synthloom.models.calls.batch_apis import BatchApi, BatchOutcome, BatchStatus, batch_api_for
from synthloom.models.calls.caching import request_key
from synthloom.models.calls.handler import Handler, Wrapper
from synthloom.models.calls.repeats import RepeatKeys
from synthloom.models.calls.request import ModelRequest, ModelResponse
from synthloom.models.results import CallUsage

__all__ = ["BatchQueue", "BatchState", "Batching", "RunBatches"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Failures worth trying again when talking to the batch API itself (a submission, a status check).
_TRANSIENT = (ServerError, RateLimitError, ModelConnectionError, ModelTimeoutError)
#: Tries of one submission or one results download; status checks in a row that may fail.
_CALL_TRIES = 5
_POLL_FAILURES = 20


class BatchState:
    """The run's record of submitted batches: one JSON line per batch (`{"model", "batch", "ids"}`),
    appended and synced as soon as the batch exists. None as the path keeps it in memory only."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        #: Per model alias: custom id → the latest batch it was sent in, and how many batches it was in.
        self._latest: dict[str, dict[str, str]] = {}
        self._sent: dict[str, dict[str, int]] = {}
        self._ids: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            for line in self.path.read_bytes().splitlines():
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut by a kill: that batch's id never came back whole
                if isinstance(entry, dict) and isinstance(entry.get("ids"), list):
                    self._note(str(entry["model"]), str(entry["batch"]), [str(i) for i in entry["ids"]])

    def _note(self, alias: str, batch_id: str, ids: list[str]) -> None:
        latest = self._latest.setdefault(alias, {})
        sent = self._sent.setdefault(alias, {})
        for cid in ids:
            latest[cid] = batch_id
            sent[cid] = sent.get(cid, 0) + 1
        self._ids[batch_id] = ids

    def latest(self, alias: str, custom_id: str) -> str | None:
        """The batch `custom_id` was last sent in (None: never)."""
        return self._latest.get(alias, {}).get(custom_id)

    def attempts(self, alias: str, custom_id: str) -> int:
        """How many batches `custom_id` was sent in, in every session of the run."""
        return self._sent.get(alias, {}).get(custom_id, 0)

    def ids(self, batch_id: str) -> list[str]:
        return self._ids.get(batch_id, [])

    def batches(self) -> int:
        return len(self._ids)

    def submitted(self, alias: str, batch_id: str, ids: list[str]) -> None:
        """Record a batch the provider accepted (written through before this returns)."""
        self._note(alias, batch_id, ids)
        if self.path is None:
            return
        line = orjson.dumps({"model": alias, "batch": batch_id, "at": round(time.time(), 3), "ids": ids})
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                fh.write(line + b"\n")
                fh.flush()
                os.fsync(fh.fileno())


class BatchQueue:
    """One model's requests on their way through batches (see the module docstring)."""

    def __init__(self, alias: str, settings: BatchConfig, api: BatchApi, state: BatchState) -> None:
        self.alias = alias
        self.settings = settings
        self.api = api
        self.state = state
        self._queued: dict[str, None] = {}  # custom ids to submit, oldest first
        self._bodies: dict[str, Mapping[str, Any]] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        #: Outcomes of a resumed batch for requests not asked yet in this session.
        self._held: dict[str, BatchOutcome] = {}
        self._following: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._repeats = RepeatKeys()
        #: Seconds before the first retry of a failed submission or download (doubling, at most 8 s).
        self.backoff = 0.5
        #: What `report()` shows (usage.json's `batches` section).
        self.counts = {"batches": 0, "requests": 0, "resubmitted": 0, "resumed_batches": 0, "failed": 0}

    def custom_id(self, request: ModelRequest, config: ModelConfig) -> str:
        """The request's content key as hex (64 characters: both providers' limit), a repeat of the
        very same request in a cell under a key of its own — as the response cache counts them."""
        return self._repeats.key(request_key(config, request)).hex()

    async def ask(self, custom_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The answer to `body` under `custom_id`, once a batch has it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._waiting[custom_id] = future
        self._bodies[custom_id] = body
        try:
            held = self._held.pop(custom_id, None)
            batch_id = self.state.latest(self.alias, custom_id)
            if held is not None:
                self._settle(custom_id, held)
            elif batch_id is not None:
                self._follow(batch_id, resumed=True)
            else:
                self._enqueue(custom_id)
            return await future
        finally:
            self._waiting.pop(custom_id, None)
            self._bodies.pop(custom_id, None)

    def report(self) -> dict[str, Any]:
        return {**self.counts, "in_flight": len(self._following), "queued": len(self._queued)}

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        tasks = [*self._tasks, *self._following.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.api.aclose()

    # -- collecting and submitting -----------------------------------------------------------------

    def _enqueue(self, custom_id: str) -> None:
        self._queued[custom_id] = None
        if len(self._queued) >= self.settings.size:
            self._submit_queued()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.settings.max_wait, self._submit_queued)

    def _submit_queued(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._queued:
            ids = list(self._queued)[: self.settings.size]
            for cid in ids:
                del self._queued[cid]
            self._spawn(self._submit(ids))
            if len(self._queued) < self.settings.size:
                break
        if self._queued:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.settings.max_wait, self._submit_queued)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, ids: list[str]) -> None:
        ids = [cid for cid in ids if cid in self._waiting]  # a cancelled cell's request is not sent
        if not ids:
            return
        items = [(cid, self._bodies[cid]) for cid in ids]
        try:
            batch_id = await _persist(lambda: self.api.submit(items), self.backoff)
        except ModelError as exc:
            for cid in ids:
                self._fail(cid, f"the batch could not be submitted: {type(exc).__name__}: {exc}")
            return
        self.state.submitted(self.alias, batch_id, ids)
        self.counts["batches"] += 1
        self.counts["requests"] += len(ids)
        logger.info("model '%s': batch %s submitted (%d requests)", self.alias, batch_id, len(ids))
        self._follow(batch_id, resumed=False)

    # -- following a batch to its end --------------------------------------------------------------

    def _follow(self, batch_id: str, *, resumed: bool) -> None:
        if batch_id in self._following:
            return
        if resumed:
            self.counts["resumed_batches"] += 1
        self._following[batch_id] = asyncio.create_task(self._until_ended(batch_id, check_first=resumed))

    async def _until_ended(self, batch_id: str, *, check_first: bool) -> None:
        try:
            status = await self._poll(batch_id, check_first=check_first)
            outcomes = await _persist(lambda: self.api.results(status), self.backoff)
        except ModelError as exc:  # a batch lost or unreadable: its requests go into a later batch
            outcomes = {}
            reason = f"batch {batch_id} could not be read: {type(exc).__name__}: {exc}"
        else:
            reason = f"batch {batch_id} ended '{status.state}' without an answer for it"
        finally:
            self._following.pop(batch_id, None)
        for cid in self.state.ids(batch_id):
            if self.state.latest(self.alias, cid) != batch_id:
                continue  # sent again in a later batch since
            outcome = outcomes.get(cid) or BatchOutcome(error=reason)
            if cid in self._waiting:
                self._settle(cid, outcome)
            else:
                self._held[cid] = outcome

    async def _poll(self, batch_id: str, *, check_first: bool) -> BatchStatus:
        failures = 0
        if not check_first:
            await asyncio.sleep(self.settings.poll_interval)
        while True:
            try:
                status = await self.api.status(batch_id)
                failures = 0
            except _TRANSIENT:
                failures += 1
                if failures >= _POLL_FAILURES:
                    raise
                status = None
            if status is not None and status.ended:
                return status
            await asyncio.sleep(self.settings.poll_interval)

    def _settle(self, custom_id: str, outcome: BatchOutcome) -> None:
        future = self._waiting.get(custom_id)
        if future is None or future.done():
            return
        if outcome.body is not None:
            future.set_result(outcome.body)
            return
        sent = self.state.attempts(self.alias, custom_id)
        if sent < self.settings.max_attempts:
            self.counts["resubmitted"] += 1
            self._enqueue(custom_id)
        else:
            self._fail(custom_id, f"not answered in {sent} batch(es); the last said: {outcome.error}")

    def _fail(self, custom_id: str, reason: str) -> None:
        future = self._waiting.get(custom_id)
        if future is not None and not future.done():
            self.counts["failed"] += 1
            future.set_exception(BatchRequestError(f"model '{self.alias}': {reason}"))


async def _persist(call: Callable[[], Awaitable[T]], backoff: float) -> T:
    """`call()`, tried again after a transient failure (waiting `backoff` seconds, doubling, or what
    a 429 asks), at most `_CALL_TRIES` times."""
    for attempt in range(_CALL_TRIES):
        try:
            return await call()
        except _TRANSIENT as exc:
            if attempt == _CALL_TRIES - 1:
                raise
            wait = getattr(exc, "retry_after", None) or min(backoff * 2**attempt, 8.0)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


class Batching(Wrapper):
    """Answers chat requests through `queue` (the model's batches); other requests pass on."""

    def __init__(self, inner: Handler, *, queue: BatchQueue, config: ModelConfig) -> None:
        super().__init__(inner)
        self.queue = queue
        self.config = config

    async def handle(self, request: ModelRequest) -> ModelResponse:
        if request.route != "chat" or request.files:
            return await self.inner.handle(request)
        started = time.monotonic()
        body = await self.queue.ask(self.queue.custom_id(request, self.config), request.body)
        parsed = request.parse(body)
        usage = CallUsage(
            input_tokens=parsed.input_tokens,
            output_tokens=parsed.output_tokens,
            latency_s=time.monotonic() - started,
            attempts=1,
            status_codes=[200],
        )
        return ModelResponse(value=parsed.value, body=body, usage=usage, batched=True)


class RunBatches:
    """The batches of one run: a `BatchQueue` per model with `batch:`, and the run's `BatchState`.

    `wrap` is the `ModelPool` wrapper factory (a model without `batch:` is left as it is); `api_factory`
    replaces the providers' batch APIs in tests."""

    def __init__(
        self,
        state_path: str | Path | None,
        *,
        api_factory: Callable[[ModelConfig], BatchApi] | None = None,
    ) -> None:
        self.state = BatchState(state_path)
        self._api_factory = api_factory or _provider_batch_api
        self.queues: dict[str, BatchQueue] = {}

    def wrap(self, inner: Handler, config: ModelConfig) -> Handler:
        if config.batch is None:
            return inner
        queue = self.queues.get(config.alias)
        if queue is None:
            queue = BatchQueue(config.alias, config.batch, self._api_factory(config), self.state)
            self.queues[config.alias] = queue
        return Batching(inner, queue=queue, config=config)

    def report(self, alias: str) -> Callable[[], dict[str, Any]]:
        return lambda: self.queues[alias].report() if alias in self.queues else {}

    async def aclose(self) -> None:
        for queue in self.queues.values():
            with contextlib.suppress(Exception):
                await queue.aclose()


def _provider_batch_api(config: ModelConfig) -> BatchApi:
    from synthloom.models.providers.registry import resolve_provider

    provider = resolve_provider(config.provider, model=config.alias)
    assert provider.batch_protocol is not None  # checked with the config (`Provider.check_config`)
    assert config.batch is not None
    return batch_api_for(
        provider.batch_protocol,
        provider.base_url(config),
        provider.headers(config),
        timeout=config.timeout,
        secret=config.api_key(),
        completion_window=config.batch.completion_window,
    )
