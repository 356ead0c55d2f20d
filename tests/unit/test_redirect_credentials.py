"""A hostile endpoint answering 307 to another origin: neither the API key nor a `headers:` value nor
the prompt reaches the other server, and the request fails naming the endpoint. Two real loopback
servers on different ports; the second records whatever arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from synthloom.config.model_config import ModelConfig
from synthloom.errors import RequestRejectedError
from synthloom.models import ModelPool
from synthloom.models.http_session import MAX_REDIRECTS
from synthloom.testing import SimulatedEndpoint
from synthloom.testing.png import solid_png

KEY = "sk-test-SECRET-KEY-1234"
TENANT = "tenant-SECRET-header-value"
OPENAI_REPLY = {
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "moved ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1},
}


class Redirector:
    """A loopback server answering every POST with `status` to `target + path` (its own origin when
    `target` is empty), and, under `/moved`, with a chat reply; it records what it is sent."""

    def __init__(self, status: int = 307) -> None:
        self.status = status
        self.target = ""
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((request.path, dict(request.headers), await request.read()))
        if request.path.startswith("/moved/"):
            return web.json_response(OPENAI_REPLY)
        location = f"{self.target}{request.path}" if self.target else f"/moved{request.path}"
        return web.Response(status=self.status, headers={"Location": location})

    async def __aenter__(self) -> Redirector:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def elsewhere() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIRECT_TEST_KEY", KEY)


def _config(provider: str, port: int) -> ModelConfig:
    base = f"http://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
    return ModelConfig(
        alias="m",
        provider=provider,
        base_url=base,
        model="x",
        api_key_env="REDIRECT_TEST_KEY",
        headers={"X-Tenant": TENANT},
        timeout=5,
    )


def _nothing_secret_arrived(elsewhere: SimulatedEndpoint) -> None:
    assert list(elsewhere.requests) == []
    assert elsewhere.stats()["requests"] == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_off_origin_redirect_sends_no_credentials_headers_or_prompt(
    elsewhere: SimulatedEndpoint, provider: str, status: int
) -> None:
    async with Redirector(status) as endpoint:
        endpoint.target = elsewhere.base_url.removesuffix("/v1")
        async with ModelPool([_config(provider, endpoint.port)]) as pool:
            with pytest.raises(RequestRejectedError) as caught:
                await pool.client("m").chat([{"role": "user", "content": "the confidential prompt"}])
    message = str(caught.value)
    path = "/v1/chat/completions" if provider == "openai" else "/v1/messages"
    assert message.startswith(f"http://127.0.0.1:{endpoint.port}{path} redirected (HTTP {status}) ")
    assert f"to another origin, http://127.0.0.1:{elsewhere.port}: not followed" in message
    assert KEY not in message and TENANT not in message
    assert len(endpoint.received) == 1  # refused at once: a redirect is not retried
    _nothing_secret_arrived(elsewhere)


async def test_an_image_upload_is_not_sent_on_to_another_origin(elsewhere: SimulatedEndpoint) -> None:
    async with Redirector(307) as endpoint:
        endpoint.target = elsewhere.base_url.removesuffix("/v1")
        async with ModelPool([_config("openai", endpoint.port)]) as pool:
            with pytest.raises(RequestRejectedError, match="to another origin"):
                await pool.client("m").generate_image("edit it", image=solid_png(4, 4, (1, 1, 1)))
    _nothing_secret_arrived(elsewhere)


async def test_a_redirect_to_another_host_name_of_the_same_machine_is_another_origin(
    elsewhere: SimulatedEndpoint,
) -> None:
    async with Redirector(307) as endpoint:
        endpoint.target = f"http://localhost:{endpoint.port}"
        async with ModelPool([_config("openai", endpoint.port)]) as pool:
            with pytest.raises(RequestRejectedError, match="to another origin, http://localhost"):
                await pool.client("m").chat([{"role": "user", "content": "hello"}])
    assert len(endpoint.received) == 1


@pytest.mark.parametrize("status", [307, 308])
async def test_a_same_origin_redirect_is_followed_with_its_body_and_headers(status: int) -> None:
    async with Redirector(status) as endpoint, ModelPool([_config("openai", endpoint.port)]) as pool:
        result = await pool.client("m").chat([{"role": "user", "content": "the prompt"}])
    assert result.text == "moved ok"
    [(first_path, first_headers, first_body), (moved_path, moved_headers, moved_body)] = endpoint.received
    assert (first_path, moved_path) == ("/v1/chat/completions", "/moved/v1/chat/completions")
    assert moved_body == first_body and orjson.loads(moved_body)["messages"][-1]["content"] == "the prompt"
    for headers in (first_headers, moved_headers):
        assert headers["Authorization"] == f"Bearer {KEY}" and headers["X-Tenant"] == TENANT


async def test_a_same_origin_redirect_loop_is_given_up() -> None:
    async with Redirector(307) as endpoint:
        # Every hop points back at the same path on the same origin.
        endpoint.target = f"http://127.0.0.1:{endpoint.port}"
        async with ModelPool([_config("openai", endpoint.port)]) as pool:
            with pytest.raises(RequestRejectedError, match=f"redirected more than {MAX_REDIRECTS} times"):
                await pool.client("m").chat([{"role": "user", "content": "hello"}])
    assert len(endpoint.received) == MAX_REDIRECTS + 1
