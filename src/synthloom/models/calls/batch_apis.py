"""The providers' batch APIs on the wire: submit a batch, check its status, read its results.

    OpenAI      POST {base}/files (multipart, purpose=batch) a JSONL file of
                    {"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}
                POST {base}/batches {input_file_id, endpoint, completion_window}
                GET  {base}/batches/{id}            validating … completed | expired | failed | cancelled
                GET  {base}/files/{output_file_id | error_file_id}/content   JSONL by custom_id
    Anthropic   POST {base}/v1/messages/batches {"requests": [{"custom_id", "params"}]}
                GET  {base}/v1/messages/batches/{id}   processing_status in_progress … ended
                GET  {results_url}       JSONL: {"custom_id", "result": {"type", "message" | "error"}}

A `BatchApi` knows one of these shapes and nothing of queues, cells or resumption (`batching.py`).
Every answer is read into a `BatchOutcome` per custom id: the reply's body, or why there is none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from yarl import URL

from synthloom.errors import MalformedResponseError, RequestRejectedError
from synthloom.models.http_session import HttpSession

__all__ = [
    "AnthropicBatchApi",
    "BatchApi",
    "BatchOutcome",
    "BatchStatus",
    "OpenAIBatchApi",
    "batch_api_for",
]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One request's answer in a batch's results: the reply body, or the reason it has none."""

    body: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """A batch as its provider last described it. `state` is the provider's own word."""

    batch_id: str
    state: str
    ended: bool
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


class BatchApi(Protocol):
    """One provider's batch API at one server."""

    async def submit(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        """Submit `(custom_id, request body)` pairs as one batch; its id."""
        ...

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, status: BatchStatus) -> dict[str, BatchOutcome]:
        """The outcome of every request the ended batch reports on, by custom id."""
        ...

    async def aclose(self) -> None: ...


class _Server:
    """The base URL, headers and one pooled session the batch calls of a model go through."""

    def __init__(
        self, base_url: str, headers: Mapping[str, str], *, timeout: float, secret: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.timeout = timeout
        self.session = HttpSession()
        self.session.add_secret(secret)

    async def aclose(self) -> None:
        await self.session.close()

    def same_origin(self, url: str) -> str:
        """`url` when it is on this server's origin: the API key is never sent anywhere else."""
        target, base = URL(url), URL(self.base_url)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise RequestRejectedError(
                f"{self.base_url} pointed a batch's results at another origin ({target.scheme}://"
                f"{target.host}); not followed, so the API key is not sent there",
                status_code=0,
            )
        return url


def _jsonl(raw: bytes) -> list[dict[str, Any]]:
    lines = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponseError(f"a batch results line is not JSON: {line[:200]!r}") from exc
        if isinstance(value, dict):
            lines.append(value)
    return lines


def _message(error: Any) -> str:
    if isinstance(error, dict):
        inner = error.get("error")
        if isinstance(inner, dict):
            return _message(inner)
        text = error.get("message") or error.get("type") or error.get("code")
        code = error.get("code") or error.get("type")
        if text and code and code != text:
            return f"{code}: {text}"
        return str(text or orjson.dumps(error).decode()[:300])
    return str(error)[:300]


class OpenAIBatchApi(_Server):
    """`/files` + `/batches` at an OpenAI-compatible `base_url` (…/v1), for chat completions."""

    endpoint = "/v1/chat/completions"
    _ENDED = frozenset(("completed", "expired", "failed", "cancelled"))

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        secret: str | None = None,
        completion_window: str = "24h",
    ) -> None:
        super().__init__(base_url, headers, timeout=timeout, secret=secret)
        self.completion_window = completion_window

    async def submit(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        lines = b"\n".join(
            orjson.dumps({"custom_id": cid, "method": "POST", "url": self.endpoint, "body": body})
            for cid, body in items
        )
        uploaded = await self.session.post_form(
            f"{self.base_url}/files",
            {"purpose": "batch"},
            {"file": ("batch.jsonl", lines + b"\n", "application/jsonl")},
            headers=self.headers,
            timeout=self.timeout,
        )
        file_id = uploaded.get("id")
        if not isinstance(file_id, str):
            raise MalformedResponseError(f"{self.base_url}/files answered without a file id")
        created = await self.session.post_json(
            f"{self.base_url}/batches",
            {
                "input_file_id": file_id,
                "endpoint": self.endpoint,
                "completion_window": self.completion_window,
            },
            headers=self.headers,
            timeout=self.timeout,
        )
        batch_id = created.get("id")
        if not isinstance(batch_id, str):
            raise MalformedResponseError(f"{self.base_url}/batches answered without a batch id")
        return batch_id

    async def status(self, batch_id: str) -> BatchStatus:
        body = await self.session.get_json(
            f"{self.base_url}/batches/{batch_id}", headers=self.headers, timeout=self.timeout
        )
        state = str(body.get("status", ""))
        return BatchStatus(batch_id, state, state in self._ENDED, body)

    async def results(self, status: BatchStatus) -> dict[str, BatchOutcome]:
        found: dict[str, BatchOutcome] = {}
        for key in ("output_file_id", "error_file_id"):
            file_id = status.raw.get(key)
            if not isinstance(file_id, str) or not file_id:
                continue
            raw = await self.session.get_bytes(
                f"{self.base_url}/files/{file_id}/content", headers=self.headers, timeout=self.timeout
            )
            for line in _jsonl(raw):
                cid = line.get("custom_id")
                if isinstance(cid, str):
                    found[cid] = _openai_outcome(line)
        return found


def _openai_outcome(line: dict[str, Any]) -> BatchOutcome:
    response = line.get("response")
    if isinstance(response, dict):
        body = response.get("body")
        if response.get("status_code") == 200 and isinstance(body, dict):
            return BatchOutcome(body=body)
        if line.get("error") is None:
            detail = body.get("error") if isinstance(body, dict) else body
            return BatchOutcome(error=f"HTTP {response.get('status_code')}: {_message(detail)}")
    return BatchOutcome(error=_message(line.get("error") or "no response"))


class AnthropicBatchApi(_Server):
    """Anthropic's Message Batches at `base_url` (https://api.anthropic.com)."""

    async def submit(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
        created = await self.session.post_json(
            f"{self.base_url}/v1/messages/batches",
            {"requests": [{"custom_id": cid, "params": body} for cid, body in items]},
            headers=self.headers,
            timeout=self.timeout,
        )
        batch_id = created.get("id")
        if not isinstance(batch_id, str):
            raise MalformedResponseError(f"{self.base_url}/v1/messages/batches answered without an id")
        return batch_id

    async def status(self, batch_id: str) -> BatchStatus:
        body = await self.session.get_json(
            f"{self.base_url}/v1/messages/batches/{batch_id}", headers=self.headers, timeout=self.timeout
        )
        state = str(body.get("processing_status", ""))
        return BatchStatus(batch_id, state, state == "ended", body)

    async def results(self, status: BatchStatus) -> dict[str, BatchOutcome]:
        url = status.raw.get("results_url")
        if not isinstance(url, str) or not url:
            return {}
        raw = await self.session.get_bytes(self.same_origin(url), headers=self.headers, timeout=self.timeout)
        found: dict[str, BatchOutcome] = {}
        for line in _jsonl(raw):
            cid, result = line.get("custom_id"), line.get("result")
            if not isinstance(cid, str) or not isinstance(result, dict):
                continue
            kind = result.get("type")
            message = result.get("message")
            if kind == "succeeded" and isinstance(message, dict):
                found[cid] = BatchOutcome(body=message)
            elif kind == "errored":
                found[cid] = BatchOutcome(error=_message(result.get("error")))
            else:
                found[cid] = BatchOutcome(error=f"request {kind}")
        return found


def batch_api_for(
    protocol: str,
    base_url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    secret: str | None = None,
    completion_window: str = "24h",
) -> BatchApi:
    """The batch API a provider's `batch_protocol` names."""
    if protocol == "openai":
        return OpenAIBatchApi(
            base_url, headers, timeout=timeout, secret=secret, completion_window=completion_window
        )
    if protocol == "anthropic":
        return AnthropicBatchApi(base_url, headers, timeout=timeout, secret=secret)
    raise ValueError(f"no batch API called {protocol!r}")
