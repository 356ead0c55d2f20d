"""The simulated endpoint's batch APIs: OpenAI's `/v1/files` + `/v1/batches` and Anthropic's Message
Batches, with scripted delays, partial failures and expiry (`SimulatedEndpointConfig.batch_*`).

    POST /v1/files                       multipart (purpose=batch, file): a JSONL file of requests
    GET  /v1/files/{id}/content          an uploaded file, or a batch's output or error file
    POST /v1/batches                     {input_file_id, endpoint, completion_window}
    GET  /v1/batches/{id}                in_progress until `batch_delay` has passed, then completed
                                         (or expired), with output_file_id and error_file_id
    POST /v1/messages/batches            {"requests": [{"custom_id", "params"}]}
    GET  /v1/messages/batches/{id}       in_progress, then ended with a results_url
    GET  /v1/messages/batches/{id}/results

A batch ends once `batch_delay` seconds have passed since it was submitted, read against the current
config (so a test can hold batches in flight, then let them end). Its requests are answered as the chat
routes would answer them. A request chosen by `batch_error_rate` (by its custom id, so the choice holds
across runs) fails its first `batch_error_attempts` submissions; the next `batch_expire_next` batches
submitted expire with only the first half of their requests answered.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = ["SimulatedBatches"]

#: Anthropic's rule for a custom id.
_ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_EXPIRED = "This request could not be executed before the completion window expired."


@dataclass
class _Batch:
    id: str
    kind: str  # "openai" | "anthropic"
    requests: list[tuple[str, dict[str, Any]]]
    created: float
    expires: bool
    #: Per custom id: the answer body, or an error (`expired` or a message), once the batch ended.
    results: dict[str, dict[str, Any] | str] | None = None
    files: dict[str, str] = field(default_factory=dict)


class SimulatedBatches:
    """Batches held by one simulated endpoint. `config()` is its current config, `update(**changes)`
    changes it (an expiry is used up), `answer(kind, payload)` answers one request as the chat
    routes would (`kind`: `openai` or `anthropic`)."""

    def __init__(
        self,
        *,
        config: Callable[[], Any],
        update: Callable[..., None],
        answer: Callable[[str, dict[str, Any]], dict[str, Any]],
    ) -> None:
        self._config = config
        self._update = update
        self._answer = answer
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, _Batch] = {}
        self._ids = itertools.count(1)
        #: Submissions per custom id since the server started (what `batch_error_attempts` counts).
        self._sent: dict[str, int] = {}
        self._submissions: dict[str, int] = {}
        self._created = self._lines = self._polls = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}/content", self._file_content)
        app.router.add_post("/v1/batches", self._create_openai)
        app.router.add_get("/v1/batches/{batch_id}", self._openai_status)
        app.router.add_post("/v1/messages/batches", self._create_anthropic)
        app.router.add_get("/v1/messages/batches/{batch_id}", self._anthropic_status)
        app.router.add_get("/v1/messages/batches/{batch_id}/results", self._anthropic_results)

    def stats(self) -> dict[str, Any]:
        """`batches` submitted, `batch_requests` in them, status checks (`batch_polls`), and how many
        distinct custom ids were submitted and the most times one was."""
        return {
            "batches": self._created,
            "batch_requests": self._lines,
            "batch_polls": self._polls,
            "batch_distinct_requests": len(self._submissions),
            "batch_max_submissions": max(self._submissions.values(), default=0),
        }

    def reset_stats(self) -> None:
        self._created = self._lines = self._polls = 0
        self._submissions = {}

    # -- OpenAI --------------------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        try:
            form = await request.post()
        except Exception:  # a body that is not a form is answered like a real server would
            return _error("expected a multipart form", 400)
        upload = form.get("file")
        if form.get("purpose") != "batch" or not isinstance(upload, web.FileField):
            return _error("a batch input needs purpose=batch and a file", 400)
        file_id = f"file-{next(self._ids)}"
        data = upload.file.read()
        self._files[file_id] = data
        return _json(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": upload.filename,
                "purpose": "batch",
            }
        )

    async def _file_content(self, request: web.Request) -> web.Response:
        data = self._files.get(request.match_info["file_id"])
        if data is None:
            return _error("no such file", 404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _create_openai(self, request: web.Request) -> web.Response:
        payload = await _payload(request)
        if payload is None:
            return _error("request body is not JSON", 400)
        data = self._files.get(str(payload.get("input_file_id")))
        if data is None:
            return _error("input_file_id names no uploaded file", 400)
        if payload.get("endpoint") != "/v1/chat/completions":
            return _error("this server batches /v1/chat/completions only", 400)
        requests: list[tuple[str, dict[str, Any]]] = []
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                return _error("a line of the input file is not JSON", 400)
            if item.get("method") != "POST" or item.get("url") != "/v1/chat/completions":
                return _error("every line needs method POST and url /v1/chat/completions", 400)
            requests.append((str(item.get("custom_id")), dict(item.get("body") or {})))
        problem = self._check_ids(requests)
        if problem is not None:
            return _error(problem, 400)
        batch = self._create("openai", f"batch_{next(self._ids)}", requests)
        return _json(self._openai_object(batch))

    async def _openai_status(self, request: web.Request) -> web.Response:
        batch = self._batches.get(request.match_info["batch_id"])
        if batch is None or batch.kind != "openai":
            return _error("no such batch", 404)
        self._polls += 1
        return _json(self._openai_object(batch))

    def _openai_object(self, batch: _Batch) -> dict[str, Any]:
        results = self._end(batch)
        status = "in_progress" if results is None else ("expired" if batch.expires else "completed")
        body: dict[str, Any] = {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "status": status,
            "created_at": int(batch.created),
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": len(batch.requests), "completed": 0, "failed": 0},
        }
        if results is None:
            return body
        if not batch.files:
            output, errors = [], []
            for n, (cid, _) in enumerate(batch.requests):
                result = results[cid]
                line: dict[str, Any] = {"id": f"batch_req_{batch.id}_{n}", "custom_id": cid}
                if isinstance(result, dict):
                    output.append({**line, "response": {"status_code": 200, "body": result}, "error": None})
                elif result == "expired":
                    errors.append(
                        {**line, "response": None, "error": {"code": "batch_expired", "message": _EXPIRED}}
                    )
                else:
                    error = {"error": {"message": result, "type": "server_error"}}
                    errors.append({**line, "response": {"status_code": 500, "body": error}, "error": None})
            for name, lines in (("output_file_id", output), ("error_file_id", errors)):
                if lines:
                    file_id = f"file-{next(self._ids)}"
                    self._files[file_id] = b"".join(orjson.dumps(x) + b"\n" for x in lines)
                    batch.files[name] = file_id
            batch.files["counts"] = f"{len(output)},{len(errors)}"
        done, failed = (int(x) for x in batch.files["counts"].split(","))
        body.update({k: v for k, v in batch.files.items() if k != "counts"})
        body["request_counts"] = {"total": len(batch.requests), "completed": done, "failed": failed}
        return body

    # -- Anthropic -----------------------------------------------------------------------------------

    async def _create_anthropic(self, request: web.Request) -> web.Response:
        payload = await _payload(request)
        if payload is None or not isinstance(payload.get("requests"), list):
            return _error("expected {'requests': [...]}", 400)
        requests = [(str(r.get("custom_id")), dict(r.get("params") or {})) for r in payload["requests"]]
        problem = self._check_ids(requests)
        if problem is None and not all(_ANTHROPIC_ID.match(cid) for cid, _ in requests):
            problem = "custom_id must match ^[a-zA-Z0-9_-]{1,64}$"
        if problem is not None:
            return _error(problem, 400)
        batch = self._create("anthropic", f"msgbatch_{next(self._ids)}", requests)
        return _json(self._anthropic_object(batch, request))

    async def _anthropic_status(self, request: web.Request) -> web.Response:
        batch = self._batches.get(request.match_info["batch_id"])
        if batch is None or batch.kind != "anthropic":
            return _error("no such batch", 404)
        self._polls += 1
        return _json(self._anthropic_object(batch, request))

    def _anthropic_object(self, batch: _Batch, request: web.Request) -> dict[str, Any]:
        results = self._end(batch)
        counts = {
            "processing": len(batch.requests),
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
        body: dict[str, Any] = {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": "in_progress" if results is None else "ended",
            "created_at": batch.created,
            "results_url": None,
            "request_counts": counts,
        }
        if results is not None:
            counts["processing"] = 0
            for result in results.values():
                kind = (
                    "succeeded"
                    if isinstance(result, dict)
                    else "expired"
                    if result == "expired"
                    else "errored"
                )
                counts[kind] += 1
            body["results_url"] = f"{request.url.origin()}/v1/messages/batches/{batch.id}/results"
        return body

    async def _anthropic_results(self, request: web.Request) -> web.Response:
        batch = self._batches.get(request.match_info["batch_id"])
        results = self._end(batch) if batch is not None else None
        if batch is None or results is None:
            return _error("no results for this batch (yet)", 404)
        lines = []
        for cid, _ in batch.requests:
            result = results[cid]
            if isinstance(result, dict):
                outcome: dict[str, Any] = {"type": "succeeded", "message": result}
            elif result == "expired":
                outcome = {"type": "expired"}
            else:
                outcome = {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": "api_error", "message": result}},
                }
            lines.append(orjson.dumps({"custom_id": cid, "result": outcome}) + b"\n")
        return web.Response(body=b"".join(lines), content_type="application/binary")

    # -- shared --------------------------------------------------------------------------------------

    @staticmethod
    def _check_ids(requests: list[tuple[str, dict[str, Any]]]) -> str | None:
        if not requests:
            return "a batch needs at least one request"
        ids = [cid for cid, _ in requests]
        if len(set(ids)) != len(ids):
            return "custom_id values must be unique within a batch"
        return None

    def _create(self, kind: str, batch_id: str, requests: list[tuple[str, dict[str, Any]]]) -> _Batch:
        config = self._config()
        expires = config.batch_expire_next > 0
        if expires:
            self._update(batch_expire_next=config.batch_expire_next - 1)
        batch = _Batch(batch_id, kind, requests, time.time(), expires)
        self._batches[batch_id] = batch
        self._created += 1
        self._lines += len(requests)
        for cid, _ in requests:
            self._submissions[cid] = self._submissions.get(cid, 0) + 1
            self._sent[cid] = self._sent.get(cid, 0) + 1
        return batch

    def _end(self, batch: _Batch) -> dict[str, dict[str, Any] | str] | None:
        """The batch's results once `batch_delay` has passed since it was submitted (None before)."""
        if batch.results is not None:
            return batch.results
        config = self._config()
        if time.time() - batch.created < config.batch_delay:
            return None
        results: dict[str, dict[str, Any] | str] = {}
        answered = len(batch.requests) // 2 if batch.expires else len(batch.requests)
        for n, (cid, body) in enumerate(batch.requests):
            if n >= answered:
                results[cid] = "expired"
            elif self._fails(cid, config):
                results[cid] = "simulated batch request error"
            else:
                results[cid] = self._answer(batch.kind, body)
        batch.results = results
        return results

    def _fails(self, custom_id: str, config: Any) -> bool:
        if not config.batch_error_rate:
            return False
        digest = hashlib.blake2b(custom_id.encode(), digest_size=8, key=str(config.seed).encode()).digest()
        chosen = int.from_bytes(digest, "big") / 2**64 < config.batch_error_rate
        return chosen and self._sent.get(custom_id, 0) <= config.batch_error_attempts


async def _payload(request: web.Request) -> dict[str, Any] | None:
    try:
        payload = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(message: str, status: int) -> web.Response:
    return _json({"error": {"message": message, "type": "invalid_request_error"}}, status)
