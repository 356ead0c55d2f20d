"""Provider lookup: the registry object, entry-point plugins, unknown names, and a third-party
provider speaking its own wire protocol end to end over loopback."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from aiohttp import web

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.errors import ConfigError, MalformedResponseError, ModelError
from synthloom.models import (
    Message,
    ModelPool,
    Provider,
    ProviderCapabilities,
    ProviderRegistry,
    Reply,
    ToolCall,
    ToolSpec,
    check_models,
    resolve_provider,
)
from synthloom.models.providers import AnthropicProvider, ChatRequest, LocalProvider, OpenAIProvider, registry

# -- a third-party provider with a wire protocol of its own -------------------------------------------


class RelayProvider(Provider):
    """'Relay': POST {base_url}/relay/talk with `X-Relay-Key`; turns are `{who, says}`."""

    name = "relay"
    capabilities = ProviderCapabilities(tools=True)

    def check_config(self, config: ModelConfig) -> None:
        if not config.base_url:
            raise ConfigError("relay needs the relay's address", model=config.alias, field="base_url")

    def headers(self, config: ModelConfig) -> dict[str, str]:
        return {"X-Relay-Key": config.api_key() or ""}

    def chat_url(self, base_url: str) -> str:
        return f"{base_url}/relay/talk"

    def build_chat_request(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "engine": request.model,
            "turns": [{"who": m.role, "says": m.text} for m in request.messages],
            "abilities": [{"ability": t.name, "takes": t.parameters} for t in request.tools],
            "heat": request.params.temperature,
        }

    def parse_chat_reply(self, body: dict[str, Any]) -> Reply:
        try:
            answer, meter = body["answer"], body["meter"]
        except KeyError as exc:
            raise MalformedResponseError(f"relay answer without {exc}") from exc
        return Reply(
            text=answer["words"],
            tool_calls=[ToolCall(c["ref"], c["ability"], c["with"]) for c in answer.get("uses", [])],
            finish_reason=answer.get("because"),
            input_tokens=meter["in"],
            output_tokens=meter["out"],
        )


class RelayServer:
    """The relay on 127.0.0.1: records each request and answers from a script."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.answers: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _talk(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.json()))
        return web.json_response(self.answers.pop(0))

    async def __aenter__(self) -> RelayServer:
        app = web.Application()
        app.router.add_post("/relay/talk", self._talk)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def relay() -> AsyncIterator[RelayServer]:
    async with RelayServer() as server:
        yield server


def _relay_registry() -> ProviderRegistry:
    providers = ProviderRegistry()
    providers.register(RelayProvider())
    return providers


async def test_a_third_party_provider_works_end_to_end(
    relay: RelayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_KEY", "rk-1")
    relay.answers.append(
        {
            "answer": {
                "words": "Let me look.",
                "uses": [{"ref": "u1", "ability": "lookup", "with": {"q": "tides"}}],
                "because": "wants-tool",
            },
            "meter": {"in": 9, "out": 4},
        }
    )
    config = ModelConfig(
        alias="r",
        provider="relay",
        base_url=relay.base_url + "/",
        model="relay-7",
        api_key_env="RELAY_KEY",
        inference=InferenceParams(temperature=0.25),
    )
    lookup = ToolSpec("lookup", "Look something up.", {"type": "object"})
    async with ModelPool([config], providers=_relay_registry()) as pool:
        result = await pool.client("r").chat(
            [{"role": "system", "content": "Be exact."}, Message("user", "When is high tide?")],
            tools=[lookup],
        )
        summary = pool.usage.summary()
    path, headers, body = relay.received[-1]
    assert path == "/relay/talk"
    assert headers["X-Relay-Key"] == "rk-1"
    assert body == {
        "engine": "relay-7",
        "turns": [{"who": "system", "says": "Be exact."}, {"who": "user", "says": "When is high tide?"}],
        "abilities": [{"ability": "lookup", "takes": {"type": "object"}}],
        "heat": 0.25,
    }
    assert result.text == "Let me look."
    assert result.tool_calls == [ToolCall("u1", "lookup", {"q": "tides"})]
    assert result.finish_reason == "wants-tool"
    assert result.messages[-1]["tool_calls"][0]["function"] == {
        "name": "lookup",
        "arguments": '{"q":"tides"}',
    }
    assert summary["models"]["r"]["input_tokens"] == 9


async def test_a_third_party_provider_gets_structured_output_through_the_prompt(relay: RelayServer) -> None:
    relay.answers.append({"answer": {"words": '```json\n{"n": 3}\n```'}, "meter": {"in": 1, "out": 1}})
    config = ModelConfig(alias="r", provider="relay", base_url=relay.base_url, model="relay-7")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    async with ModelPool([config], providers=_relay_registry()) as pool:
        result = await pool.client("r").generate_structured([{"role": "user", "content": "Count."}], schema)
        with pytest.raises(ModelError, match="provider 'relay' has no embeddings endpoint"):
            await pool.client("r").embed(["x"])
    assert result.value == {"n": 3}
    assert "JSON Schema" in relay.received[-1][2]["turns"][-1]["says"]


def test_a_plugin_provider_checks_its_own_fields() -> None:
    with pytest.raises(ConfigError, match="model 'r', field 'base_url': relay needs the relay's address"):
        check_models([ModelConfig(alias="r", provider="relay", model="m")], registry=_relay_registry())
    with pytest.raises(ConfigError, match="relay needs"):
        ModelPool([ModelConfig(alias="r", provider="relay")], providers=_relay_registry())


# -- names ---------------------------------------------------------------------------------------------


def test_unknown_provider_is_a_config_error_with_a_suggestion() -> None:
    with pytest.raises(
        ConfigError,
        match=r"model 'w', field 'provider': unknown provider 'opnai' \(did you mean 'openai'\?\)",
    ):
        resolve_provider("opnai", model="w")
    with pytest.raises(ConfigError) as info:
        check_models([ModelConfig(alias="w", provider="azure")])
    assert (info.value.model, info.value.field) == ("w", "provider")
    assert "unknown provider 'azure' (known: " in str(info.value)
    known = str(info.value).split("known: ")[1].rstrip(")").split(", ")
    assert {"'anthropic'", "'local'", "'openai'"} <= set(known)


def test_a_pool_refuses_an_unknown_provider() -> None:
    with pytest.raises(ConfigError, match="field 'provider'"):
        ModelPool([ModelConfig(alias="w", provider="relay", base_url="http://127.0.0.1:9")])


def test_check_models_returns_each_alias_provider() -> None:
    configs = [
        ModelConfig(alias="o", base_url="http://127.0.0.1:9/v1", model="m"),
        ModelConfig(alias="a", provider="anthropic", model="c"),
        ModelConfig(alias="l", provider="local"),
    ]
    found = check_models(configs)
    assert [type(found[a]) for a in ("o", "a", "l")] == [OpenAIProvider, AnthropicProvider, LocalProvider]


def test_builtin_fields_are_still_checked_when_the_config_is_built() -> None:
    with pytest.raises(ValueError, match="needs 'base_url'"):
        ModelConfig(alias="o", provider="openai", model="m")
    with pytest.raises(ValueError, match="only for provider 'local'"):
        ModelConfig(alias="a", provider="anthropic", model="m", model_path="x.gguf")
    # A plugin's name is just a name to the config layer; its provider checks the rest.
    assert ModelConfig(alias="p", provider="relay", model_path="x.gguf").provider == "relay"


def test_capabilities_are_declared_per_provider() -> None:
    openai, anthropic, local = (resolve_provider(name) for name in ("openai", "anthropic", "local"))
    assert openai.capabilities == ProviderCapabilities(
        json_schema=True, tools=True, vision=True, audio=True, embeddings=True, images=True
    )
    assert anthropic.capabilities == ProviderCapabilities(tools=True, vision=True)
    assert local.capabilities == ProviderCapabilities(json_schema=True, embeddings=True)
    assert local.starts_locally and not openai.starts_locally


def test_registering_a_second_provider_under_a_name_needs_replace() -> None:
    providers = ProviderRegistry(discover=False)
    providers.register(RelayProvider())
    with pytest.raises(ValueError, match="already registered"):
        providers.register(RelayProvider())
    replacement = RelayProvider()
    providers.register(replacement, replace=True)
    assert providers.get("relay") is replacement
    assert providers.names() == ["relay"]
    with pytest.raises(TypeError):
        providers.register(object())  # type: ignore[arg-type]


# -- entry points ----------------------------------------------------------------------------------------


def _entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)


class Published:
    """The entry points of `synthloom.providers` in one test, and the groups read so far."""

    def __init__(self) -> None:
        self.eps: list[EntryPoint] = []
        self.reads: list[str] = []

    def entry_points(self, *, group: str) -> list[EntryPoint]:
        self.reads.append(group)
        return self.eps


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    fake = Published()
    monkeypatch.setattr(registry, "entry_points", fake.entry_points)
    return fake


def test_plugins_load_on_first_lookup_not_before(published: Published) -> None:
    published.eps.append(_entry_point("relay", f"{__name__}:RelayProvider"))
    providers = ProviderRegistry()
    providers.register(AnthropicProvider())
    assert providers.get("anthropic")  # registered by hand: no discovery needed
    assert published.reads == []
    assert isinstance(providers.get("relay"), RelayProvider)
    assert published.reads == [registry.ENTRY_POINT_GROUP]
    providers.get("openai")
    assert len(published.reads) == 1


class PublishedOpenAI(OpenAIProvider):
    """Stands for the `openai` entry point an installed synthloom publishes."""


def test_builtins_come_from_entry_points_when_installed_and_directly_otherwise(published: Published) -> None:
    published.eps.append(_entry_point("openai", f"{__name__}:PublishedOpenAI"))
    installed = ProviderRegistry()
    assert installed.names() == ["anthropic", "local", "openai"]
    assert type(installed.get("openai")) is PublishedOpenAI
    published.eps.clear()
    checkout = ProviderRegistry()
    assert checkout.names() == ["anthropic", "local", "openai"]
    assert type(checkout.get("openai")) is OpenAIProvider


def test_a_broken_plugin_is_logged_and_skipped(
    published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    published.eps.extend(
        [
            _entry_point("gone", "synthloom_no_such_module:Provider"),
            _entry_point("wrong", "json:dumps"),
            _entry_point("relay", f"{__name__}:RelayProvider"),
        ]
    )
    with caplog.at_level(logging.WARNING, logger=registry.__name__):
        names = ProviderRegistry().names()
    assert names == ["anthropic", "local", "openai", "relay"]
    assert "could not load provider plugin 'synthloom_no_such_module:Provider'" in caplog.text
    assert "'json:dumps' is not a synthloom Provider" in caplog.text


def test_importing_the_model_layer_reads_no_entry_points() -> None:
    script = textwrap.dedent(
        """
        import importlib.metadata as metadata, json
        groups = []
        real = metadata.entry_points
        def spy(**kwargs):
            groups.append(kwargs.get("group"))
            return real(**kwargs)
        metadata.entry_points = spy
        import synthloom, synthloom.models
        before = list(groups)
        synthloom.models.resolve_provider("openai")
        print(json.dumps([before, groups]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before, after = json.loads(out.strip().splitlines()[-1])
    assert "synthloom.providers" not in before
    assert "synthloom.providers" in after
