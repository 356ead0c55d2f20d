"""An OpenAI-compatible server that simulates an inference service, for tests, benchmarks and dry runs.

    async with SimulatedEndpoint(SimulatedEndpointConfig(latency=0.05, capacity=8)) as endpoint:
        endpoint.base_url  # http://127.0.0.1:PORT/v1

Routes: `POST /v1/chat/completions`, `POST /v1/embeddings`, `POST /v1/messages` (Anthropic-shaped),
`POST /v1/images/generations` and `POST /v1/images/edits` (multipart; both answer a real PNG, at most
256 pixels a side, as `b64_json`), OpenAI's and Anthropic's batch APIs (`simulated_batches.py`:
`/v1/files`, `/v1/batches`, `/v1/messages/batches`), `GET /v1/models`, `GET /health`, `GET /stats`
(`DELETE /stats` resets it), `POST /admin/config` (change the config of a server running in another
process). Replies are cheap: JSON and a timer.

Image and audio content parts (OpenAI `image_url` / `input_audio`, Anthropic `image` blocks) are
checked as a server would (a data URL must hold valid base64; 400 otherwise) and described in the
simulated reply: `Simulated reply to: [image image/png 32x32] What is this?`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import random
import re
import time
from collections import deque
from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from synthloom.models.structured_formats import to_xml, to_yaml
from synthloom.testing.png import png_size, solid_png
from synthloom.testing.schema_values import value_for_schema
from synthloom.testing.simulated_batches import SimulatedBatches
from synthloom.testing.simulated_tools import plan_tool_turn

__all__ = ["RecordedRequest", "ScriptedResponse", "SimulatedEndpoint", "SimulatedEndpointConfig"]

Rate = Annotated[float, Field(ge=0, le=1)]


class SimulatedEndpointConfig(BaseModel):
    """How the simulated service behaves. Every field can change at run time (`update`)."""

    model_config = ConfigDict(extra="forbid")

    #: Mean seconds to answer, and the spread as a fraction of it (uniform in mean ± jitter·mean).
    latency: Annotated[float, Field(ge=0)] = 0.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.0
    #: Requests served at once; None is unlimited. Beyond it: 429, or a queue when `queueing`.
    capacity: Annotated[int, Field(gt=0)] | None = None
    queueing: bool = False
    #: Retry-After (seconds) sent with 429s; None sends no header.
    retry_after: Annotated[float, Field(ge=0)] | None = None
    error_rate: Rate = 0.0
    hang_rate: Rate = 0.0
    drop_rate: Rate = 0.0
    malformed_rate: Rate = 0.0
    #: How long a hung request stays silent before the server gives up on it.
    hang_seconds: Annotated[float, Field(gt=0)] = 3600.0
    embedding_dim: Annotated[int, Field(gt=0)] = 16
    seed: int = 0
    #: Scripted verdicts for flows, decided per request from its messages and `seed` (so a rerun of the
    #: same conversation gets the same answers). `accept_rate`: how often a structured reply picks the
    #: last option of every `enum` in its schema (a judge's last score option: "accept"); otherwise
    #: each picks one of the others. None leaves enums to the simulation. `final_answer_rate`: how often
    #: a text reply ends with "FINAL ANSWER".
    accept_rate: Rate | None = None
    final_answer_rate: Rate = 0.0
    #: Accept rates per input: a request whose last user message contains a key uses that key's rate in
    #: place of `accept_rate` (the first key found, in order), so a judge can pass one kind of input
    #: more often than another.
    accept_rates: dict[str, Rate] = Field(default_factory=dict)
    #: Answer a request whose messages were seen before afresh, as a server sampling at temperature > 0
    #: would: the n-th repeat is drawn as if under `seed + n` (and its text says so). Off, the same
    #: messages always get the same reply. Reproducible either way for a given order of requests.
    vary_repeats: bool = False
    #: When a request offers tools (natively, or in synthloom's ReAct prompt): assistant turns that call
    #: tools before the final answer, calls per turn (one per ReAct reply), and the shares of calls sent
    #: with malformed JSON arguments or naming a tool that does not exist (`simulated_tools.py`).
    tool_turns: Annotated[int, Field(ge=0)] = 1
    tool_calls_per_turn: Annotated[int, Field(ge=1)] = 1
    tool_malformed_rate: Rate = 0.0
    tool_unknown_rate: Rate = 0.0
    #: Let at most this many requests through to be answered; later ones wait, silent, until the limit
    #: is raised (`update`) or the server stops. A test holds a run at a chosen point with it (after the
    #: server answered K requests) instead of hoping to catch it there.
    answer_limit: Annotated[int, Field(ge=0)] | None = None
    #: The batch APIs (`simulated_batches.py`): seconds from a batch's submission to its end; the share
    #: of requests (chosen by custom id) a batch answers with an error, on their first
    #: `batch_error_attempts` submissions; how many of the next batches expire half answered.
    batch_delay: Annotated[float, Field(ge=0)] = 0.0
    batch_error_rate: Rate = 0.0
    batch_error_attempts: Annotated[int, Field(ge=0)] = 1
    batch_expire_next: Annotated[int, Field(ge=0)] = 0


class ScriptedResponse(BaseModel):
    """One scripted answer. `text` builds a normal chat completion; `body` overrides it exactly
    (a dict is sent as JSON, a str as is). `drop` closes the connection without answering."""

    model_config = ConfigDict(extra="forbid")

    status: int = 200
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | str | None = None
    text: str | None = None
    reasoning: str | None = None
    delay: Annotated[float, Field(ge=0)] = 0.0
    drop: bool = False
    #: The reply's finish reason (`length`: cut by max_tokens); default `stop` (or `tool_calls`).
    finish_reason: str | None = None


class RecordedRequest(BaseModel):
    path: str
    headers: dict[str, str]
    json_body: Any


class _Stats:
    def __init__(self) -> None:
        self.requests = 0
        #: Requests waiting now behind `answer_limit` (not yet counted in `requests`).
        self.held = 0
        #: 2xx replies written whole to the client's connection: what a real server bills.
        self.answered = 0
        self.rate_limited = 0
        self.server_errors = 0
        self.hangs = 0
        self.drops = 0
        self.malformed = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._weights: dict[int, float] = {}
        self._since: float | None = None
        #: When the first request arrived, and when in-flight first reached its peak.
        self._first: float | None = None
        self._peak_at: float | None = None

    def change_in_flight(self, delta: int) -> None:
        now = time.monotonic()
        if self._since is not None:
            self._weights[self.in_flight] = self._weights.get(self.in_flight, 0.0) + now - self._since
        self._since = now
        self._first = self._first if self._first is not None else now
        self.in_flight += delta
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight
            self._peak_at = now

    def median_in_flight(self) -> int:
        """In-flight count the server spent half its time at or below, since the first request."""
        total = sum(self._weights.values())
        seen = 0.0
        for level in sorted(self._weights):
            seen += self._weights[level]
            if seen >= total / 2:
                return level
        return 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "answered": self.answered,
            "held": self.held,
            "rate_limited": self.rate_limited,
            "server_errors": self.server_errors,
            "hangs": self.hangs,
            "drops": self.drops,
            "malformed": self.malformed,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "median_in_flight": self.median_in_flight(),
            # Seconds from the first request until in-flight first stood at its peak (how fast a
            # client filled the server).
            "to_peak_s": None if self._peak_at is None else round(self._peak_at - (self._first or 0.0), 3),
        }


class SimulatedEndpoint:
    """The simulated service on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(
        self,
        config: SimulatedEndpointConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record: int = 1000,
    ) -> None:
        self.config = config or SimulatedEndpointConfig()
        self.host = host
        self.port = port
        #: The last `record` requests received, oldest first.
        self.requests: deque[RecordedRequest] = deque(maxlen=record)
        self._script: deque[ScriptedResponse] = deque()
        self._stats = _Stats()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._serving = 0
        self._rng = random.Random(self.config.seed)
        #: How often each conversation was answered (`vary_repeats`), by its digest.
        self._repeats: dict[int, int] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._let_through = 0
        self._limit_raised = asyncio.Event()
        self._batches = SimulatedBatches(
            config=lambda: self.config, update=self.update, answer=self._batch_answer
        )

    # -- control -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def update(self, **changes: Any) -> None:
        """Change the behaviour of the running server, e.g. `update(capacity=4)`."""
        self.config = SimulatedEndpointConfig.model_validate({**self.config.model_dump(), **changes})
        self._admit()
        self._wake_held()

    def _wake_held(self) -> None:
        self._limit_raised.set()
        self._limit_raised = asyncio.Event()

    def script(self, *responses: ScriptedResponse | dict[str, Any]) -> None:
        """Queue answers for the next requests; once used up, the simulation answers again."""
        self._script.extend(ScriptedResponse.model_validate(r) for r in responses)

    def stats(self) -> dict[str, Any]:
        return {**self._stats.as_dict(), **self._batches.stats()}

    def reset_stats(self) -> None:
        in_flight = self._stats.in_flight
        self._stats = _Stats()
        self._stats.in_flight = in_flight
        self._batches.reset_stats()

    # -- lifecycle ---------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_post("/v1/images/edits", self._image_edits)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/stats", self._get_stats)
        app.router.add_delete("/stats", self._delete_stats)
        app.router.add_post("/admin/config", self._post_config)
        self._batches.routes(app)
        return app

    async def start(self) -> None:
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._closing.set()
        self._wake_held()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimulatedEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- capacity ----------------------------------------------------------------------------------

    def _admit(self) -> None:
        capacity = self.config.capacity
        while self._waiters and (capacity is None or self._serving < capacity):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._serving += 1
                waiter.set_result(None)

    async def _enter(self) -> bool:
        """Take a serving slot; False when the request must be refused with 429."""
        capacity = self.config.capacity
        if capacity is None or (self._serving < capacity and not self._waiters):
            self._serving += 1
            return True
        if not self.config.queueing:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._leave()
            raise
        return True

    def _leave(self) -> None:
        self._serving -= 1
        self._admit()

    # -- handlers ----------------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def _models(self, request: web.Request) -> web.Response:
        return _json({"object": "list", "data": [{"id": "simulated", "object": "model"}]})

    async def _get_stats(self, request: web.Request) -> web.Response:
        return _json(self.stats())

    async def _delete_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return _json({"ok": True})

    async def _post_config(self, request: web.Request) -> web.Response:
        try:
            self.update(**orjson.loads(await request.read()))
        except Exception as exc:  # a bad admin request is answered, not raised
            return _json({"error": str(exc)}, status=400)
        return _json(self.config.model_dump())

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._chat_body)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._messages_body)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._embeddings_body)

    async def _images(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._images_body)

    async def _image_edits(self, request: web.Request) -> web.StreamResponse:
        """A multipart edit: the form's fields, and its `image` file as bytes."""
        try:
            form = await request.post()
        except Exception:  # a body that is not a form is answered like a real server would
            return _json({"error": {"message": "expected a multipart form"}}, status=400)
        payload: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                payload[key] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read(),
                }
            else:
                payload[key] = value
        image = payload.get("image")
        if not isinstance(image, dict) or not image["data"]:
            return _json({"error": {"message": "an edit needs an 'image' file"}}, status=400)
        return await self._serve(request, self._images_body, payload)

    async def _serve(
        self, request: web.Request, make_body: Any, payload: dict[str, Any] | None = None
    ) -> web.StreamResponse:
        if not await self._held(request):
            return web.Response(status=499)  # its client left while it was held: never let through
        response = await self._reply(request, make_body, payload)
        transport = request.transport
        if 200 <= response.status < 300 and transport is not None and not transport.is_closing():
            # Written here rather than after the handler returns, so that `answered` counts replies
            # the client's connection took.
            try:
                await response.prepare(request)
                await response.write_eof()
            except (ConnectionError, RuntimeError):
                return response
            self._stats.answered += 1
        return response

    async def _held(self, request: web.Request) -> bool:
        """Wait while `answer_limit` requests have already been let through; False when the client
        left meanwhile."""
        while (limit := self.config.answer_limit) is not None and self._let_through >= limit:
            if self._closing.is_set():
                return True
            self._stats.held += 1
            try:
                await self._limit_raised.wait()
            finally:
                self._stats.held -= 1
            transport = request.transport
            if transport is None or transport.is_closing():
                return False
        self._let_through += 1
        return True

    async def _reply(
        self, request: web.Request, make_body: Any, payload: dict[str, Any] | None = None
    ) -> web.StreamResponse:
        if payload is None:
            raw = await request.read()
            try:
                payload = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return _json({"error": {"message": "request body is not JSON"}}, status=400)
            problem = _media_problem(payload)
            if problem is not None:
                return _json({"error": {"message": problem, "type": "invalid_request_error"}}, status=400)
        self.requests.append(
            RecordedRequest(path=request.path, headers=dict(request.headers), json_body=_recorded(payload))
        )
        self._stats.requests += 1
        if self._script:
            return await self._scripted(request, self._script.popleft(), payload, make_body)

        config = self.config
        # In flight from arrival: a queued request counts, a refused one is gone at once.
        self._stats.change_in_flight(+1)
        try:
            admitted = await self._enter()
        except BaseException:
            self._stats.change_in_flight(-1)
            raise
        if not admitted:
            self._stats.change_in_flight(-1)
            self._stats.rate_limited += 1
            headers = {} if config.retry_after is None else {"Retry-After": f"{config.retry_after:g}"}
            return _json({"error": {"message": "rate limited", "type": "rate_limit"}}, 429, headers)
        try:
            roll = self._rng.random()
            if roll < config.hang_rate:
                self._stats.hangs += 1
                await self._hang(config.hang_seconds)
                return _json({"error": {"message": "hung request gave up"}}, status=504)
            roll -= config.hang_rate
            delay = config.latency * (1 + config.jitter * (2 * self._rng.random() - 1))
            if delay > 0:
                await asyncio.sleep(delay)
            if roll < config.drop_rate:
                self._stats.drops += 1
                return self._drop(request)
            roll -= config.drop_rate
            if roll < config.error_rate:
                self._stats.server_errors += 1
                return _json({"error": {"message": "simulated server error"}}, status=503)
            roll -= config.error_rate
            if roll < config.malformed_rate:
                self._stats.malformed += 1
                return web.Response(body=b'{"choices": [{"message": ', content_type="application/json")
            return _json(make_body(payload, None))
        finally:
            # Leave before the reply is written, so the server never counts more than the client does.
            self._stats.change_in_flight(-1)
            self._leave()

    async def _scripted(
        self, request: web.Request, step: ScriptedResponse, payload: dict[str, Any], make_body: Any
    ) -> web.StreamResponse:
        self._stats.change_in_flight(+1)
        try:
            if step.delay:
                await self._hang(step.delay)
        finally:
            self._stats.change_in_flight(-1)
        if step.drop:
            self._stats.drops += 1
            return self._drop(request)
        if step.status == 429:
            self._stats.rate_limited += 1
        elif step.status >= 500:
            self._stats.server_errors += 1
        if isinstance(step.body, str):
            return web.Response(body=step.body.encode(), status=step.status, headers=step.headers)
        if step.body is not None:
            return _json(step.body, step.status, step.headers)
        if step.status != 200:
            return _json({"error": {"message": f"scripted {step.status}"}}, step.status, step.headers)
        return _json(make_body(payload, step), step.status, step.headers)

    async def _hang(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)

    def _drop(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=200)

    # -- bodies ------------------------------------------------------------------------------------

    def _batch_answer(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One request of a batch, answered as the chat route of its kind would answer it."""
        return self._messages_body(payload, None) if kind == "anthropic" else self._chat_body(payload, None)

    def _chat_body(self, payload: dict[str, Any], step: ScriptedResponse | None) -> dict[str, Any]:
        messages = payload.get("messages") or []
        prompt_chars = sum(len(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
        reasoning = step.reasoning if step else None
        turn = plan_tool_turn(payload, self.config)
        native_calls = turn is not None and bool(turn.calls) and not turn.react
        if step is not None and step.text is not None:
            text = step.text
        elif turn is not None and turn.calls:
            text = turn.react_text
        else:
            text = self._simulated_text(payload, messages)
            if turn is not None:
                text = turn.final(text)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if native_calls and turn is not None and (step is None or step.text is None):
            message = {"role": "assistant", "content": None, "tool_calls": [c.openai() for c in turn.calls]}
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        finish = "tool_calls" if "tool_calls" in message else "stop"
        if step is not None and step.finish_reason is not None:
            finish = step.finish_reason
        return {
            "id": "chatcmpl-simulated",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model", "simulated"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_chars // 4 + 1,
                "completion_tokens": len(text) // 4 + 1,
                "total_tokens": prompt_chars // 4 + len(text) // 4 + 2,
            },
        }

    def _messages_body(self, payload: dict[str, Any], step: ScriptedResponse | None) -> dict[str, Any]:
        """An Anthropic Messages reply (thinking block first when `reasoning` is scripted)."""
        chat = self._chat_body(payload, step)
        content: list[dict[str, Any]] = []
        if step is not None and step.reasoning is not None:
            content.append({"type": "thinking", "thinking": step.reasoning, "signature": "simulated"})
        message = chat["choices"][0]["message"]
        if message.get("tool_calls"):
            turn = plan_tool_turn(payload, self.config)
            content.extend(call.anthropic() for call in (turn.calls if turn is not None else []))
        else:
            content.append({"type": "text", "text": message["content"]})
        return {
            "id": "msg_simulated",
            "type": "message",
            "role": "assistant",
            "model": payload.get("model", "simulated"),
            "content": content,
            "stop_reason": "tool_use" if message.get("tool_calls") else "end_turn",
            "usage": {
                "input_tokens": chat["usage"]["prompt_tokens"],
                "output_tokens": chat["usage"]["completion_tokens"],
            },
        }

    def _simulated_text(self, payload: dict[str, Any], messages: list[Any]) -> str:
        response_format = payload.get("response_format") or {}
        schema: Any = None
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
        else:
            schema = _schema_in_prompt(messages)
        repeat = self._repeat_of(messages)
        seed = self.config.seed + repeat
        verdict = random.Random(_digest(messages, seed) ^ _VERDICT_SALT)
        last_user = next(
            (
                _content_text(m.get("content"))
                for m in reversed(messages)
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            "",
        )
        if schema is not None:
            rng = random.Random(_digest(messages, seed))
            value = value_for_schema(schema, rng)
            accept_rate = self._accept_rate_for(last_user)
            if accept_rate is not None:
                value = _steer_enums(schema, value, verdict.random() < accept_rate, rng)
            fmt = _format_in_prompt(messages)
            if fmt == "yaml":
                return f"```yaml\n{to_yaml(value)}```"
            if fmt == "xml":
                return f"```xml\n{to_xml(value)}\n```"
            return orjson.dumps(value).decode()
        text = f"Simulated reply to: {last_user[:200]}"
        if repeat:
            text += f" (take {repeat + 1})"
        language = _code_language(messages)
        if language is not None:
            return _code_reply(language, last_user)
        if self.config.final_answer_rate and verdict.random() < self.config.final_answer_rate:
            text += " FINAL ANSWER"
        return text

    def _repeat_of(self, messages: list[Any]) -> int:
        """How often these messages were answered before (always 0 without `vary_repeats`)."""
        if not self.config.vary_repeats:
            return 0
        key = _digest(messages, self.config.seed)
        if len(self._repeats) > 1_000_000:  # a long-lived simulation forgets old conversations
            self._repeats.clear()
        repeat = self._repeats.get(key, 0)
        self._repeats[key] = repeat + 1
        return repeat

    def _accept_rate_for(self, text: str) -> float | None:
        for needle, rate in self.config.accept_rates.items():
            if needle in text:
                return rate
        return self.config.accept_rate

    def _images_body(self, payload: dict[str, Any], step: ScriptedResponse | None) -> dict[str, Any]:
        """Real PNGs: the requested size (at most 256 a side; an edit keeps its source's), coloured
        from the prompt so that different prompts give different images."""
        prompt = str(payload.get("prompt", ""))
        width, height = _image_size(payload.get("size"))
        source = payload.get("image")
        if isinstance(source, dict):
            width, height = png_size(source["data"]) or (width, height)
            width, height = min(width, 256), min(height, 256)
        digest = hashlib.blake2b(f"{self.config.seed}:{prompt}".encode(), digest_size=6).digest()
        data = solid_png(width, height, (digest[0], digest[1], digest[2]), (digest[3], digest[4], digest[5]))
        try:
            n = max(1, min(int(payload.get("n") or 1), 10))
        except (TypeError, ValueError):
            n = 1
        encoded = base64.b64encode(data).decode("ascii")
        return {
            "created": int(time.time()),
            "data": [{"b64_json": encoded, "revised_prompt": prompt} for _ in range(n)],
            "usage": {
                "input_tokens": len(prompt) // 4 + 1,
                "output_tokens": n * 64,
                "total_tokens": len(prompt) // 4 + 1 + n * 64,
            },
        }

    def _embeddings_body(self, payload: dict[str, Any], step: ScriptedResponse | None) -> dict[str, Any]:
        texts = payload.get("input") or []
        if isinstance(texts, str):
            texts = [texts]
        data = []
        for index, text in enumerate(texts):
            rng = random.Random(_digest(text, self.config.seed))
            data.append(
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": _unit_vector(rng, self.config.embedding_dim),
                }
            )
        tokens = sum(len(str(t)) // 4 + 1 for t in texts)
        return {
            "object": "list",
            "model": payload.get("model", "simulated"),
            "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


#: How an `llm-code` request names its language (`code_instruction`), or a correction turn asking again.
_CODE_REQUEST = re.compile(r"the ([\w+#.-]+) code in one fenced block")

#: A small, valid program per language, so a dry run's validators and tests have something to check.
_CODE_BODIES = {
    "python": "def simulated():\n    return 42\n",
    "sql": "SELECT 42 AS simulated;\n",
    "javascript": "function simulated() {\n  return 42;\n}\n",
    "typescript": "function simulated(): number {\n  return 42;\n}\n",
    "bash": "echo 42\n",
    "go": "package main\n\nfunc simulated() int {\n\treturn 42\n}\n",
    "rust": "fn simulated() -> i32 {\n    42\n}\n",
    "json": '{"simulated": 42}\n',
    "yaml": "simulated: 42\n",
}


def _code_language(messages: list[Any]) -> str | None:
    """The language an `llm-code` request (or a correction turn) asks for, from its last user turn."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            found = _CODE_REQUEST.search(_content_text(message.get("content")))
            return found.group(1) if found else None
    return None


#: Spellings of a language a code request may use, and how each language writes a comment.
_CODE_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "ts": "typescript", "sh": "bash"}
_COMMENTS = {"python": "#", "bash": "#", "yaml": "#", "sql": "--", "javascript": "//", "typescript": "//"}
_COMMENTS.update({"go": "//", "rust": "//"})


def _code_reply(language: str, prompt: str) -> str:
    key = _CODE_ALIASES.get(language.lower(), language.lower())
    body = _CODE_BODIES.get(key, "simulated\n")
    comment = _COMMENTS.get(key)
    asked = _CODE_REQUEST.split(prompt, maxsplit=1)[0].removesuffix("Reply with ")
    summary = " ".join(asked.replace("`", "'").split())[:80]
    header = f"{comment} Simulated code for: {summary}\n" if comment else ""
    return f"Here is the code.\n\n```{language}\n{header}{body}```\n"


#: Keeps the verdict roll of a request apart from the draws of its simulated value.
_VERDICT_SALT = 0x5A1D


def _steer_enums(schema: Any, value: Any, accept: bool, rng: random.Random) -> Any:
    """`value` with every enum answered by its last option (`accept`) or one of the others."""
    if not isinstance(schema, dict):
        return value
    options = schema.get("enum")
    if isinstance(options, list) and options:
        return options[-1] if accept or len(options) == 1 else rng.choice(options[:-1])
    properties = schema.get("properties")
    if isinstance(value, dict) and isinstance(properties, dict):
        return {k: _steer_enums(properties.get(k), v, accept, rng) for k, v in value.items()}
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, dict):
        return [_steer_enums(items, v, accept, rng) for v in value]
    return value


def _digest(value: Any, seed: int) -> int:
    raw = orjson.dumps(value, option=orjson.OPT_SORT_KEYS) if not isinstance(value, str) else value.encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8, key=str(seed).encode()).digest(), "big")


def _unit_vector(rng: random.Random, dim: int) -> list[float]:
    vector = [rng.gauss(0, 1) for _ in range(dim)]
    norm = sum(x * x for x in vector) ** 0.5 or 1.0
    return [x / norm for x in vector]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


_FENCED_JSON = re.compile(r"JSON Schema[^`]*```json\s*(\{.*?\})\s*```", re.DOTALL)


def _schema_in_prompt(messages: list[Any]) -> dict[str, Any] | None:
    """A JSON Schema asked for in a user turn ("... conforms to this JSON Schema ... ```json {...}```"),
    as clients without a server-side schema mode ask for one; None when there is none."""
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = _content_text(message.get("content"))
        match = _FENCED_JSON.search(content)
        if match:
            try:
                schema = orjson.loads(match.group(1))
            except orjson.JSONDecodeError:
                continue
            if isinstance(schema, dict):
                return schema
    return None


def _format_in_prompt(messages: list[Any]) -> str:
    """The format a prompt-mode structured request asks for: yaml, xml, else json."""
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            content = _content_text(message.get("content"))
            if "Reply with only a YAML document" in content:
                return "yaml"
            if "Reply with only an XML document" in content:
                return "xml"
    return "json"


# -- images and audio in requests -------------------------------------------------------------------


def _image_size(size: Any) -> tuple[int, int]:
    if isinstance(size, str):
        match = re.fullmatch(r"(\d+)x(\d+)", size)
        if match:
            return max(1, min(int(match.group(1)), 256)), max(1, min(int(match.group(2)), 256))
    return 64, 64


def _decoded(data: str) -> bytes | None:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _describe_image(url: str) -> str:
    if not url.startswith("data:"):
        return f"[image {url[:80]}]"
    header, _, data = url[5:].partition(",")
    media_type = header.partition(";")[0]
    raw = _decoded(data) or b""
    size = png_size(raw)
    return f"[image {media_type} {size[0]}x{size[1]}]" if size else f"[image {media_type} {len(raw)} bytes]"


def _part_text(part: Any) -> str:
    """A content part (OpenAI's or an Anthropic block) as the simulated model reads it."""
    if not isinstance(part, dict):
        return str(part)
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind == "image_url":
        image = part.get("image_url") or {}
        return _describe_image(str(image.get("url", "") if isinstance(image, dict) else image))
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        raw = _decoded(str(audio.get("data", ""))) or b""
        return f"[audio {audio.get('format')} {len(raw)} bytes]"
    if kind == "image":
        source = part.get("source") or {}
        if source.get("type") == "base64":
            return _describe_image(f"data:{source.get('media_type')};base64,{source.get('data', '')}")
        return f"[image {str(source.get('url', ''))[:80]}]"
    if kind == "tool_result":
        return _content_text(part.get("content"))
    return ""


def _content_text(content: Any) -> str:
    """A message's content as text: a string as it is, parts joined (media described in brackets)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text for text in (_part_text(part) for part in content) if text)
    return str(content)


def _media_problem(payload: Any) -> str | None:
    """Why a real server would refuse the media in a chat request (bad base64, no URL), or None."""
    messages = payload.get("messages") if isinstance(payload, dict) else None
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            problem = _part_problem(part) if isinstance(part, dict) else None
            if problem is not None:
                return problem
    return None


def _part_problem(part: dict[str, Any]) -> str | None:
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or not url:
            return "image_url part without a url"
        if url.startswith("data:") and _decoded(url.partition(",")[2]) is None:
            return "image_url data URL does not hold valid base64 image data"
    elif kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or audio.get("format") not in ("wav", "mp3", "flac", "ogg"):
            return "input_audio part needs a format (wav or mp3)"
        if _decoded(str(audio.get("data", ""))) is None:
            return "input_audio data is not valid base64"
    elif kind == "image":
        source = part.get("source")
        base64_data = (
            source.get("data", "") if isinstance(source, dict) and source.get("type") == "base64" else None
        )
        if base64_data is not None and _decoded(str(base64_data)) is None:
            return "image block data is not valid base64"
    return None


def _recorded(payload: dict[str, Any]) -> dict[str, Any]:
    """What is kept of a request: uploaded files by name, type and size, not their bytes."""

    def is_file(value: Any) -> bool:
        return isinstance(value, dict) and isinstance(value.get("data"), bytes)

    if not any(is_file(value) for value in payload.values()):
        return payload
    return {
        key: {**value, "data": len(value["data"])} if is_file(value) else value
        for key, value in payload.items()
    }
