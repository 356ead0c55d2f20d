"""The exact JSON and headers each provider sends, and how replies are read."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from synthloom.config.model_config import Distribution, InferenceParams, ModelConfig
from synthloom.models import ModelPool, as_messages
from synthloom.models.providers import AnthropicProvider, ChatRequest, OpenAIProvider
from synthloom.testing import ScriptedResponse, SimulatedEndpoint

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name a colour."},
]
OPENAI = OpenAIProvider()
ANTHROPIC = AnthropicProvider()


def build_chat_request(
    model: str, messages: list[dict[str, Any]], params: InferenceParams, *, rng: random.Random | None = None
) -> dict[str, Any]:
    request = ChatRequest(
        model=model, messages=as_messages(messages), params=params, rng=rng or random.Random()
    )
    return OPENAI.build_chat_request(request)


def build_messages_request(
    model: str, messages: list[dict[str, Any]], params: InferenceParams
) -> dict[str, Any]:
    request = ChatRequest(model=model, messages=as_messages(messages), params=params, rng=random.Random())
    return ANTHROPIC.build_chat_request(request)


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


def test_openai_request_maps_every_inference_param_and_merges_extra_body() -> None:
    params = InferenceParams(
        temperature=0.3, top_p=0.9, max_tokens=64, stop=["\n\n"], seed=7, extra_body={"top_k": 20, "seed": 8}
    )
    assert build_chat_request("m1", MESSAGES, params) == {
        "model": "m1",
        "messages": MESSAGES,
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 8,
        "top_k": 20,
    }


def test_openai_request_omits_unset_params() -> None:
    assert build_chat_request("m1", MESSAGES, InferenceParams()) == {"model": "m1", "messages": MESSAGES}


def test_distributions_are_sampled_per_request_within_bounds() -> None:
    params = InferenceParams(
        temperature=Distribution(distribution="uniform", low=0.5, high=1.0),
        top_p=Distribution(distribution="choice", values=[0.8, 0.95]),
    )
    rng = random.Random(1)
    bodies = [build_chat_request("m", MESSAGES, params, rng=rng) for _ in range(50)]
    temperatures = {b["temperature"] for b in bodies}
    assert len(temperatures) > 1
    assert all(0.5 <= t <= 1.0 for t in temperatures)
    assert {b["top_p"] for b in bodies} == {0.8, 0.95}


def test_gaussian_temperature_is_clamped_to_a_valid_range() -> None:
    params = InferenceParams(temperature=Distribution(distribution="gaussian", mean=0.0, stddev=5.0))
    rng = random.Random(3)
    assert all(0 <= build_chat_request("m", MESSAGES, params, rng=rng)["temperature"] <= 2 for _ in range(50))


def test_anthropic_request_moves_system_to_top_level_and_requires_max_tokens() -> None:
    params = InferenceParams(temperature=0.2, stop=["END"], seed=3, extra_body={"metadata": {"user_id": "u"}})
    assert build_messages_request("claude-x", MESSAGES, params) == {
        "model": "claude-x",
        "max_tokens": 1024,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Name a colour."}],
        "temperature": 0.2,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u"},
    }


def test_embeddings_request_body() -> None:
    assert OPENAI.build_embeddings_request("e", ["a", "b"]) == {"model": "e", "input": ["a", "b"]}


def test_reasoning_content_is_captured_from_openai_replies() -> None:
    body = {
        "choices": [
            {"message": {"content": "42", "reasoning_content": "6 times 7"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
    reply = OPENAI.parse_chat_reply(body)
    assert (reply.text, reply.reasoning, reply.input_tokens, reply.output_tokens) == ("42", "6 times 7", 5, 2)


def test_think_tags_are_moved_into_reasoning() -> None:
    reply = OPENAI.parse_chat_reply({"choices": [{"message": {"content": "<think>hmm</think>\nYes."}}]})
    assert (reply.text, reply.reasoning) == ("Yes.", "hmm")


def test_no_reasoning_gives_none() -> None:
    assert OPENAI.parse_chat_reply({"choices": [{"message": {"content": "plain"}}]}).reasoning is None


def test_anthropic_thinking_blocks_become_reasoning() -> None:
    body = {
        "content": [
            {"type": "thinking", "thinking": "consider red", "signature": "s"},
            {"type": "text", "text": "Red."},
        ],
        "usage": {"input_tokens": 11, "output_tokens": 3},
        "stop_reason": "end_turn",
    }
    reply = ANTHROPIC.parse_chat_reply(body)
    assert (reply.text, reply.reasoning, reply.input_tokens, reply.output_tokens) == (
        "Red.",
        "consider red",
        11,
        3,
    )


async def test_openai_client_sends_exact_json_and_headers(
    endpoint: SimulatedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIM_KEY", "k-123")
    config = ModelConfig(
        alias="writer",
        base_url=endpoint.base_url,
        model="sim-1",
        api_key_env="SIM_KEY",
        headers={"X-Team": "data"},
        inference=InferenceParams(temperature=0.5, max_tokens=32),
    )
    async with ModelPool([config]) as pool:
        result = await pool.client("writer").generate_text(
            MESSAGES, inference=InferenceParams(max_tokens=16, seed=1), tag="colour"
        )
    sent = endpoint.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json_body == {
        "model": "sim-1",
        "messages": MESSAGES,
        "temperature": 0.5,
        "max_tokens": 16,
        "seed": 1,
    }
    assert sent.headers["Authorization"] == "Bearer k-123"
    assert sent.headers["X-Team"] == "data"
    assert result.text == "Simulated reply to: Name a colour."
    assert result.messages == [*MESSAGES, {"role": "assistant", "content": result.text}]
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0


async def test_no_authorization_header_without_a_key(endpoint: SimulatedEndpoint) -> None:
    config = ModelConfig(alias="w", base_url=endpoint.base_url, model="m")
    async with ModelPool([config]) as pool:
        await pool.client("w").generate_text(MESSAGES)
    assert "Authorization" not in endpoint.requests[-1].headers


async def test_anthropic_client_posts_to_messages_with_version_and_key(
    endpoint: SimulatedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANT_KEY", "ant-456")
    endpoint.script(ScriptedResponse(text="Blue.", reasoning="pick one"))
    base = endpoint.base_url.removesuffix("/v1")
    config = ModelConfig(
        alias="c", provider="anthropic", base_url=base, model="claude-x", api_key_env="ANT_KEY"
    )
    async with ModelPool([config]) as pool:
        result = await pool.client("c").generate_text(MESSAGES)
    sent = endpoint.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "ant-456"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json_body["system"] == "You are terse."
    assert sent.json_body["max_tokens"] == 1024
    assert (result.text, result.reasoning) == ("Blue.", "pick one")


async def test_openai_reasoning_is_returned_in_chat_result(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(text="4", reasoning="2+2"))
    config = ModelConfig(alias="w", base_url=endpoint.base_url, model="m")
    async with ModelPool([config]) as pool:
        result = await pool.client("w").generate_text(MESSAGES)
    assert (result.text, result.reasoning) == ("4", "2+2")


async def test_embed_returns_one_vector_per_text_in_order(endpoint: SimulatedEndpoint) -> None:
    config = ModelConfig(alias="e", base_url=endpoint.base_url, model="emb")
    async with ModelPool([config]) as pool:
        result = await pool.client("e").embed(["alpha", "beta", "alpha"], tag="vec")
        summary = pool.usage.summary()
    assert endpoint.requests[-1].json_body == {"model": "emb", "input": ["alpha", "beta", "alpha"]}
    assert len(result.vectors) == 3
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert summary["columns"]["vec"]["requests"] == 1
