"""`endpoints:` under a model: what the config accepts, what the pool builds from it, and what the
fingerprint ignores so that a run can be resumed with replicas added or removed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError

from synthloom import DatasetConfig
from synthloom.config.model_config import ModelConfig
from synthloom.errors import ConfigError
from synthloom.models import ModelPool
from synthloom.models.providers import check_models
from synthloom.store.fingerprint import config_fingerprint, describe_changes, fingerprint_view
from synthloom.testing import SimulatedEndpoint

A, B, C = "http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1", "http://10.0.0.3:8000/v1"


def replicated(*urls: str, **model: Any) -> ModelConfig:
    return ModelConfig.model_validate(
        {"alias": "m", "provider": "openai", "model": "sim", "endpoints": [{"url": u} for u in urls], **model}
    )


def dataset(model: dict[str, Any]) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "models": [{"alias": "m", "provider": "openai", "model": "sim", **model}],
            "columns": [{"name": "t", "type": "llm-text", "model": "m", "prompt": "hi"}],
        }
    )


def test_each_endpoint_inherits_the_models_key_and_ceiling_unless_it_sets_its_own() -> None:
    config = ModelConfig.model_validate(
        {
            "alias": "m",
            "model": "sim",
            "api_key_env": "MAIN_KEY",
            "max_parallel_requests": 32,
            "endpoints": [{"url": A}, {"url": B, "api_key_env": "B_KEY", "max_parallel_requests": 4}],
        }
    )
    first, second = config.replicas()
    assert (first.base_url, first.api_key_env, first.max_parallel_requests) == (A, "MAIN_KEY", 32)
    assert (second.base_url, second.api_key_env, second.max_parallel_requests) == (B, "B_KEY", 4)
    assert first.endpoints is None and first.alias == "m"
    check_models([config])  # the provider accepts endpoints in place of base_url


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"base_url": A, "endpoints": [{"url": B}]}, "either 'base_url' .* or 'endpoints'"),
        ({"endpoints": [{"url": A}, {"url": A + "/"}]}, "lists http://10.0.0.1:8000/v1 more than once"),
        ({"endpoints": []}, "at least 1 item"),
        ({"endpoints": [{"url": "10.0.0.1:8000"}]}, "has no scheme: write .http://10.0.0.1:8000."),
        ({"endpoints": [{"url": A, "max_parallel": 3}]}, "Extra inputs are not permitted"),
        ({"provider": "local", "endpoints": [{"url": A}]}, "not provider 'local'"),
    ],
)
def test_endpoint_mistakes_are_config_errors(model: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelConfig.model_validate({"alias": "m", "model": "sim", "provider": "openai", **model})


def test_openai_without_base_url_or_endpoints_says_both_are_possible() -> None:
    with pytest.raises(ValidationError, match=r"'base_url' .* or 'endpoints'"):
        ModelConfig.model_validate({"alias": "m", "model": "sim", "provider": "openai"})


def test_adding_or_removing_a_replica_keeps_the_fingerprint() -> None:
    one = dataset({"endpoints": [{"url": A}]})
    two = dataset({"endpoints": [{"url": A}, {"url": B, "max_parallel_requests": 4}]})
    other = dataset({"endpoints": [{"url": C, "api_key_env": "C_KEY"}]})
    assert config_fingerprint(one) == config_fingerprint(two) == config_fingerprint(other)
    assert "endpoints" not in fingerprint_view(two)["models"][0]


def test_the_model_itself_still_counts() -> None:
    before = dataset({"endpoints": [{"url": A}]})
    after = dataset({"endpoints": [{"url": A}], "model": "another"})
    assert config_fingerprint(before) != config_fingerprint(after)
    assert describe_changes(fingerprint_view(before), fingerprint_view(after)) == [
        'models.m.model changed ("sim" -> "another")'
    ]


def test_the_pool_gives_each_endpoint_its_own_limiter_and_ceiling() -> None:
    config = ModelConfig.model_validate(
        {
            "alias": "m",
            "model": "sim",
            "max_parallel_requests": 10,
            "endpoints": [{"url": A}, {"url": B, "max_parallel_requests": 3}],
        }
    )
    single = ModelConfig(alias="s", base_url=B, model="sim", max_parallel_requests=20)
    pool = ModelPool([config, single])
    endpoints = pool.endpoint_set("m")
    assert [r.name for r in endpoints.replicas] == [A, B]
    assert [r.limiter.ceiling for r in endpoints.replicas] == [10, 3]
    # The same server and model under another alias shares that server's budget.
    assert pool.limiter("s") is endpoints.replicas[1].limiter
    assert pool.limiter_stats()["m"]["ceiling"] == 13
    assert pool.client("m").limiter is endpoints.replicas[0].limiter


@pytest.fixture
async def two_servers() -> AsyncIterator[tuple[SimulatedEndpoint, SimulatedEndpoint]]:
    async with SimulatedEndpoint() as a, SimulatedEndpoint() as b:
        yield a, b


async def test_each_endpoint_is_sent_its_own_key_and_reported_apart(
    two_servers: tuple[SimulatedEndpoint, SimulatedEndpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_servers
    monkeypatch.setenv("KEY_A", "secret-a")
    monkeypatch.setenv("KEY_B", "secret-b")
    config = ModelConfig.model_validate(
        {
            "alias": "m",
            "model": "sim",
            "endpoints": [
                {"url": a.base_url, "api_key_env": "KEY_A"},
                {"url": b.base_url, "api_key_env": "KEY_B"},
            ],
        }
    )
    async with ModelPool([config]) as pool:
        for _ in range(4):
            await pool.client("m").generate_text([{"role": "user", "content": "hi"}], tag="t")
        summary = pool.usage.summary()
    assert {r.headers["Authorization"] for r in a.requests} == {"Bearer secret-a"}
    assert {r.headers["Authorization"] for r in b.requests} == {"Bearer secret-b"}
    report = summary["endpoints"]["m"]
    assert report[a.base_url]["answered"] == report[b.base_url]["answered"] == 2
    assert report[a.base_url]["input_tokens"] > 0
    assert summary["models"]["m"]["requests"] == 4


async def test_a_model_with_one_base_url_adds_no_endpoints_section() -> None:
    async with (
        SimulatedEndpoint() as server,
        ModelPool([ModelConfig(alias="m", base_url=server.base_url, model="sim")]) as pool,
    ):
        await pool.client("m").generate_text([{"role": "user", "content": "hi"}])
        assert "endpoints" not in pool.usage.summary()


def test_a_plugin_provider_that_starts_locally_refuses_endpoints() -> None:
    from synthloom.models.providers import ProviderRegistry
    from synthloom.models.providers.local_llamacpp import LocalProvider

    class Embedded(LocalProvider):
        name = "embedded"

        def check_config(self, config: ModelConfig) -> None:
            super(LocalProvider, self).check_config(config)

    registry = ProviderRegistry(discover=False)
    registry.register(Embedded())
    config = ModelConfig.model_validate(
        {"alias": "m", "provider": "embedded", "model": "x", "endpoints": [{"url": A}]}
    )
    with pytest.raises(ConfigError, match="'endpoints' does not apply"):
        check_models([config], registry=registry)
