"""The one place where aiohttp's exceptions and HTTP statuses become synthloom's, and where redirects
are decided.

Everything above this module sees only `ModelError` subclasses; nothing below it knows about retries.

Redirects are followed here, by hand, and only within the endpoint's origin (scheme, host, port). A
request carries an API key and any `headers:` of the model config, and its body is the prompt; a server
that answers 307 to another origin would otherwise receive both (aiohttp re-sends custom headers, and
only drops `Authorization`). So an off-origin redirect is a `RequestRejectedError` naming the endpoint
and where it pointed; nothing is sent there. A same-origin redirect is followed with the same method,
body and headers (an API call is never turned into a GET), at most `MAX_REDIRECTS` times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
from yarl import URL

from synthloom.errors import (
    MalformedResponseError,
    ModelConnectionError,
    ModelHTTPError,
    ModelTimeoutError,
    RateLimitError,
    RequestRejectedError,
    ServerError,
)
from synthloom.models.secret_scrub import scrub_secrets

__all__ = ["MAX_REDIRECTS", "MAX_RESPONSE_BYTES", "HttpSession", "parse_retry_after", "read_bounded"]

_BODY_LIMIT = 2000

#: The largest response body a model client reads. A server that answers more (or streams without end)
#: gets a `MalformedResponseError` instead of the client's memory.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024

#: Same-origin redirects followed for one request before it is refused.
MAX_REDIRECTS = 5

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
        body = orjson.dumps(payload)
        return await self._post(url, lambda: body, {"Content-Type": "application/json", **headers}, timeout)

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

        def form() -> aiohttp.FormData:  # a form is consumed once sent: one per attempt
            data = aiohttp.FormData()
            for name, value in fields.items():
                data.add_field(name, value)
            for name, (filename, content, media_type) in files.items():
                data.add_field(name, content, filename=filename, content_type=media_type)
            return data

        return await self._post(url, form, dict(headers), timeout)

    async def get_bytes(self, url: str, *, headers: Mapping[str, str], timeout: float) -> bytes:
        """GET `url`; return the body as is (a batch's results file), or raise the matching `ModelError`."""
        raw, _ = await self._exchange("GET", url, lambda: None, dict(headers), timeout)
        return raw

    async def get_json(self, url: str, *, headers: Mapping[str, str], timeout: float) -> dict[str, Any]:
        """GET `url`; return the JSON object answered, or raise the matching `ModelError`."""
        raw, target = await self._exchange("GET", url, lambda: None, dict(headers), timeout)
        return self._json_object(raw, target, 200)

    async def _post(
        self,
        url: str,
        data: Callable[[], bytes | aiohttp.FormData],
        headers: Mapping[str, str],
        timeout: float,
    ) -> dict[str, Any]:
        raw, target = await self._exchange("POST", url, data, headers, timeout)
        return self._json_object(raw, target, 200)

    async def _exchange(
        self,
        method: str,
        url: str,
        data: Callable[[], bytes | aiohttp.FormData | None],
        headers: Mapping[str, str],
        timeout: float,
    ) -> tuple[bytes, str]:
        """One request, same-origin redirects followed: the body of a 2xx answer and where it came from."""
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            status, response_headers, raw = await self._send(target, data(), headers, timeout, method)
            if status not in _REDIRECTS:
                break
            target = self._redirect_target(url, target, status, response_headers)
        else:
            raise RequestRejectedError(
                f"{url} redirected more than {MAX_REDIRECTS} times; the request was given up",
                status_code=status,
                headers=response_headers,
                body="",
            )
        if status >= 400:
            raise self._status_error(target, status, response_headers, raw)
        return raw, target

    def _json_object(self, raw: bytes, target: str, status: int) -> dict[str, Any]:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"{target} answered {status} with a body that is not JSON: {self._scrub(raw)[:200]!r}"
            ) from exc
        if not isinstance(body, dict):
            raise MalformedResponseError(f"{target} answered a JSON {type(body).__name__}, not an object")
        return body

    async def _send(
        self,
        url: str,
        data: bytes | aiohttp.FormData | None,
        headers: Mapping[str, str],
        timeout: float,
        method: str = "POST",
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, redirects not followed: status, headers and the (bounded) body."""
        session = self._open()
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                status = response.status
                # Copied only when someone will read them (an error or a redirect), not per success.
                response_headers = dict(response.headers) if status >= 300 else {}
                raw = (
                    b""
                    if status in _REDIRECTS
                    else await read_bounded(response, limit=MAX_RESPONSE_BYTES, what=url)
                )
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
        return status, response_headers, raw

    @staticmethod
    def _redirect_target(endpoint: str, current: str, status: int, headers: Mapping[str, str]) -> str:
        """Where a redirect points, when it stays within the endpoint's origin; else the error."""
        location = headers.get("Location") or headers.get("location")
        if not location:
            raise RequestRejectedError(
                f"{endpoint} answered HTTP {status} without a Location",
                status_code=status,
                headers=dict(headers),
            )
        try:
            target = URL(current).join(URL(location))
        except ValueError:
            raise RequestRejectedError(
                f"{endpoint} redirected (HTTP {status}) to an invalid URL", status_code=status
            ) from None
        if _origin(target) != _origin(URL(endpoint)):
            where = f"{target.scheme}://{target.host}" + (f":{target.port}" if target.port else "")
            raise RequestRejectedError(
                f"{endpoint} redirected (HTTP {status}) to another origin, {where}: not followed, so the "
                "API key, headers and prompt are not sent there. Point the model's base_url there if "
                "you trust it",
                status_code=status,
                headers=dict(headers),
            )
        return str(target)

    def _scrub(self, raw: bytes) -> str:
        return scrub_secrets(raw[:_BODY_LIMIT].decode("utf-8", errors="replace"), self._secrets)

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
    if declared is not None:
        # The parser stops at the declared length: read in one go (the common, cheap case).
        return await response.read()
    chunks: list[bytes] = []
    size = 0
    # `content.read(n)` returns what is buffered, not n bytes: iterate to the end instead.
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise MalformedResponseError(f"{what} answered more than {limit} bytes; the reply was refused")
        chunks.append(chunk)
    return b"".join(chunks)


def _origin(url: URL) -> tuple[str, str, int | None]:
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
