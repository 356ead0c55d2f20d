"""End to end against the embedded llama.cpp model (SmolLM2-135M). Run serially: it needs both cores."""

from __future__ import annotations

from collections.abc import AsyncIterator

import jsonschema
import pytest
import pytest_asyncio

from synthloom.config.model_config import InferenceParams, ModelConfig
from synthloom.models import ModelPool

pytestmark = [pytest.mark.llama, pytest.mark.asyncio(loop_scope="module")]

pytest.importorskip("xllamacpp")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool() -> AsyncIterator[ModelPool]:
    config = ModelConfig(
        alias="local",
        provider="local",
        n_ctx=1024,
        max_parallel_requests=2,
        inference=InferenceParams(temperature=0.0, seed=1, max_tokens=24),
    )
    async with ModelPool([config]) as started:
        yield started


async def test_embedded_model_writes_real_text(pool: ModelPool) -> None:
    result = await pool.client("local").generate_text(
        [{"role": "user", "content": "Name one colour of the sky."}], tag="text"
    )
    assert result.text.strip()
    assert result.usage.input_tokens > 0
    assert 0 < result.usage.output_tokens <= 24


async def test_embedded_model_returns_schema_valid_json(pool: ModelPool) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "pet": {"enum": ["cat", "dog", "none"]},
        },
        "required": ["name", "age", "pet"],
        "additionalProperties": False,
    }
    result = await pool.client("local").generate_structured(
        [{"role": "user", "content": "Invent a person as JSON."}],
        schema,
        inference=InferenceParams(max_tokens=80),
        tag="person",
    )
    jsonschema.validate(result.value, schema)
    assert pool.usage.summary()["columns"]["person"]["requests"] >= 1


async def test_embedded_model_embeds_texts(pool: ModelPool) -> None:
    result = await pool.client("local").embed(["a cat", "a dog"])
    assert len(result.vectors) == 2
    assert len(result.vectors[0]) == len(result.vectors[1]) > 0
