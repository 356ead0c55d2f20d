"""The one place where aiohttp's exceptions and HTTP statuses become synthloom's.

Everything above this module sees only `ModelError` subclasses; nothing below it knows about retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson

from synthloom.errors import (
    MalformedResponseError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RateLimitError,
    RequestRejectedError,
    ServerError,
)

__all__ = ["MAX_RESPONSE_BYTES", "HttpSession", "parse_retry_after", "read_bounded"]

_BODY_LIMIT = 2000

#: The largest response body a model client reads. A server that answers more (or streams without end)
#: gets a `MalformedResponseError` instead of the client's memory.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import datetime as _dt

        when = parsedate_to_datetime(value)
        return max(0.0, (when - _dt.datetime.now(when.tzinfo)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


class HttpSession:
    """A pooled aiohttp session for one endpoint, posting JSON and returning parsed JSON.

    `secrets` are scrubbed from any response body kept in an exception, so an endpoint that echoes
    the request headers cannot leak a key into a log.
    """

    def __init__(self, *, secrets: tuple[str, ...] = ()) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._secrets = tuple(s for s in secrets if s)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The adaptive limiters bound concurrency; the connector must not add a second, silent cap.
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, json_serialize=_dumps)
        return self._session

    def add_secret(self, secret: str | None) -> None:
        if secret and secret not in self._secrets:
            self._secrets = (*self._secrets, secret)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def post_json(
        self,
        url: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        timeout: float,
    ) -> dict[str, Any]:
        """POST `payload`; return the JSON object answered, or raise the matching `ModelError`."""
        return await self._post(
            url, orjson.dumps(payload), {"Content-Type": "application/json", **headers}, timeout
        )

    async def post_form(
        self,
        url: str,
        fields: Mapping[str, str],
        files: Mapping[str, tuple[str, bytes, str]],
        *,
        headers: Mapping[str, str],
        timeout: float,
    ) -> dict[str, Any]:
        """POST a multipart form (`files`: field -> (file name, bytes, media type)), as OpenAI's image
        edits endpoint takes it; return the JSON object answered, or raise the matching `ModelError`."""
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        for name, (filename, data, media_type) in files.items():
            form.add_field(name, data, filename=filename, content_type=media_type)
        return await self._post(url, form, dict(headers), timeout)

    async def _post(
        self, url: str, data: bytes | aiohttp.FormData, headers: Mapping[str, str], timeout: float
    ) -> dict[str, Any]:
        session = self._open()
        try:
            async with session.post(
                url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                status = response.status
                response_headers = dict(response.headers)
                raw = await read_bounded(response, limit=MAX_RESPONSE_BYTES, what=url)
        except TimeoutError as exc:
            raise ModelTimeoutError(f"no answer from {url} within {timeout:g} s") from exc
        except asyncio.CancelledError:
            raise
        except aiohttp.ClientPayloadError as exc:
            raise ModelConnectionError(f"connection to {url} dropped mid-reply: {exc}") from exc
        except aiohttp.ClientConnectionError as exc:
            raise ModelConnectionError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise ModelConnectionError(f"request to {url} failed: {type(exc).__name__}: {exc}") from exc

        if status >= 400:
            raise self._status_error(url, status, response_headers, raw)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"{url} answered {status} with a body that is not JSON: {self._scrub(raw)[:200]!r}"
            ) from exc
        if not isinstance(body, dict):
            raise MalformedResponseError(f"{url} answered a JSON {type(body).__name__}, not an object")
        return body

    def _scrub(self, raw: bytes) -> str:
        text = raw[:_BODY_LIMIT].decode("utf-8", errors="replace")
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _status_error(self, url: str, status: int, headers: dict[str, str], raw: bytes) -> ModelHTTPError:
        body = self._scrub(raw)
        message = f"{url} answered HTTP {status}: {body[:300]}"
        if status == 429:
            retry_after = parse_retry_after(headers.get("Retry-After"))
            return RateLimitError(
                message, retry_after=retry_after, status_code=status, headers=headers, body=body
            )
        if status >= 500:
            return ServerError(message, status_code=status, headers=headers, body=body)
        return RequestRejectedError(message, status_code=status, headers=headers, body=body)


async def read_bounded(response: aiohttp.ClientResponse, *, limit: int, what: str) -> bytes:
    """The whole body of `response`, refused (without reading the rest) once it passes `limit` bytes:
    a huge or endless body must not exhaust memory. `what` names the sender in the error."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise MalformedResponseError(f"{what} answered a {declared}-byte body; the limit is {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    # `content.read(n)` returns what is buffered, not n bytes: iterate to the end instead.
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise MalformedResponseError(f"{what} answered more than {limit} bytes; the reply was refused")
        chunks.append(chunk)
    return b"".join(chunks)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
