"""Structured output and code: extraction, correction turns, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthloom.config.model_config import ModelConfig, StructuredOutputParams
from synthloom.errors import ParseError
from synthloom.models import ModelPool, extract_code, extract_json
from synthloom.testing import ScriptedResponse, SimulatedEndpoint, value_for_schema

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}
MESSAGES = [{"role": "user", "content": "Invent a person."}]


@pytest.fixture
async def endpoint() -> AsyncIterator[SimulatedEndpoint]:
    async with SimulatedEndpoint() as ep:
        yield ep


def _config(endpoint: SimulatedEndpoint, **structured: object) -> ModelConfig:
    return ModelConfig(
        alias="m",
        base_url=endpoint.base_url,
        model="sim",
        structured_output=StructuredOutputParams.model_validate(structured),
    )


def test_json_is_extracted_from_a_fenced_block() -> None:
    reply = 'Here you go:\n```json\n{"name": "Ada", "age": 36}\n```\nAnything else?'
    assert extract_json(reply, PERSON).value == {"name": "Ada", "age": 36}


def test_json_is_extracted_from_prose_around_it() -> None:
    reply = 'Sure! {"name": "Bo", "age": 3} is a fine person. {"note": 1}'
    assert extract_json(reply, PERSON).value == {"name": "Bo", "age": 3}


def test_extraction_skips_candidates_that_do_not_validate() -> None:
    reply = 'Example: {"x": 1}. Answer: {"name": "Cy", "age": 9}'
    assert extract_json(reply, PERSON).value == {"name": "Cy", "age": 9}


def test_schema_mismatch_is_reported_with_its_location() -> None:
    result = extract_json('{"name": "Di", "age": -1}', PERSON)
    assert not result.ok
    assert "at age" in result.error
    assert "-1" in result.error


def test_no_json_at_all_is_reported() -> None:
    assert extract_json("I cannot do that.", PERSON).error == "no JSON value found in the reply"


def test_code_prefers_a_block_of_the_named_language() -> None:
    reply = "```text\nnot this\n```\nand\n```py\nprint('hi')\n```"
    assert extract_code(reply, "python").code == "print('hi')"


def test_code_falls_back_to_any_fenced_block() -> None:
    assert extract_code("```\nSELECT 1;\n```", "sql").code == "SELECT 1;"


def test_code_accepts_an_unterminated_fence() -> None:
    assert extract_code("```python\nx = 1\ny = 2", "python").code == "x = 1\ny = 2"


def test_code_falls_back_to_the_whole_reply_when_it_looks_like_code() -> None:
    assert extract_code("SELECT name FROM users WHERE id = 1", "sql").code.startswith("SELECT")
    assert extract_code("def f(x):\n    return x", "python").ok


def test_prose_is_not_mistaken_for_code() -> None:
    assert not extract_code("I would write a loop that adds the numbers.", "python").ok
    assert not extract_code("Sorry, I cannot help with that.", "sql").ok


@settings(max_examples=60, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "type": st.just("object"),
            "properties": st.fixed_dictionaries(
                {
                    "s": st.builds(
                        lambda n: {"type": "string", "maxLength": n, "minLength": min(n, 2)},
                        st.integers(0, 30),
                    ),
                    "i": st.builds(
                        lambda a, w: {"type": "integer", "minimum": a, "maximum": a + w},
                        st.integers(-50, 50),
                        st.integers(0, 10),
                    ),
                    "n": st.builds(
                        lambda a: {"type": "number", "minimum": a, "maximum": a + 1.5}, st.floats(-10, 10)
                    ),
                    "e": st.just({"enum": ["x", "y", 3]}),
                    "a": st.builds(
                        lambda lo: {
                            "type": "array",
                            "items": {"type": "boolean"},
                            "minItems": lo,
                            "maxItems": lo + 2,
                        },
                        st.integers(0, 4),
                    ),
                    "o": st.just(
                        {
                            "type": "object",
                            "properties": {"k": {"type": ["string", "null"]}},
                            "required": ["k"],
                        }
                    ),
                }
            ),
            "required": st.just(["s", "i", "n", "e", "a", "o"]),
            "additionalProperties": st.just(False),
        }
    ),
    st.integers(0, 1000),
)
def test_simulated_values_satisfy_their_schema(schema: dict, seed: int) -> None:
    import random

    jsonschema.validate(value_for_schema(schema, random.Random(seed)), schema)


async def test_structured_uses_json_schema_mode_and_validates(endpoint: SimulatedEndpoint) -> None:
    async with ModelPool([_config(endpoint)]) as pool:
        result = await pool.client("m").generate_structured(MESSAGES, PERSON, tag="person")
    jsonschema.validate(result.value, PERSON)
    sent = endpoint.requests[-1].json_body
    assert sent["messages"] == MESSAGES
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": True},
    }
    assert result.attempts == 1


async def test_invalid_reply_gets_a_correction_turn_with_the_error(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(
        ScriptedResponse(text='{"name": "Ed"}'),
        ScriptedResponse(text='Fixed: ```json\n{"name": "Ed", "age": 40}\n```'),
    )
    async with ModelPool([_config(endpoint)]) as pool:
        result = await pool.client("m").generate_structured(MESSAGES, PERSON)
    assert result.value == {"name": "Ed", "age": 40}
    assert result.attempts == 2
    correction = endpoint.requests[-1].json_body["messages"]
    assert correction[:2] == [*MESSAGES, {"role": "assistant", "content": '{"name": "Ed"}'}]
    assert correction[2]["role"] == "user"
    assert "'age' is a required property" in correction[2]["content"]
    assert result.usage.attempts == 2
    assert result.chat.messages[-1]["content"].startswith("Fixed:")


async def test_restart_begins_again_from_the_original_messages(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(text="nope"), ScriptedResponse(text='{"name": "Flo", "age": 1}'))
    async with ModelPool([_config(endpoint, correction_turns=0, restarts=1)]) as pool:
        result = await pool.client("m").generate_structured(MESSAGES, PERSON)
    assert result.value == {"name": "Flo", "age": 1}
    assert endpoint.requests[-1].json_body["messages"] == MESSAGES


async def test_parse_error_after_corrections_and_restarts_counts_attempts(
    endpoint: SimulatedEndpoint,
) -> None:
    endpoint.script(*[ScriptedResponse(text="never json")] * 6)
    async with ModelPool([_config(endpoint, correction_turns=2, restarts=1)]) as pool:
        with pytest.raises(ParseError) as info:
            await pool.client("m").generate_structured(MESSAGES, PERSON, tag="person")
        summary = pool.usage.summary()
    assert info.value.attempts == 6
    assert info.value.reply == "never json"
    assert len(endpoint.requests) == 6
    assert summary["columns"]["person"]["requests"] == 6


async def test_prompt_mode_instructs_in_the_prompt_without_response_format(
    endpoint: SimulatedEndpoint,
) -> None:
    endpoint.script(ScriptedResponse(text='{"name": "Gus", "age": 5}'))
    async with ModelPool([_config(endpoint, mode="prompt")]) as pool:
        result = await pool.client("m").generate_structured(MESSAGES, PERSON)
    sent = endpoint.requests[-1].json_body
    assert "response_format" not in sent
    assert sent["messages"][-1]["content"].startswith("Invent a person.")
    assert '"maxLength": 20' in sent["messages"][-1]["content"]
    assert result.value["name"] == "Gus"


async def test_anthropic_structured_output_uses_the_prompt(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(ScriptedResponse(text='Sure: {"name": "Hal", "age": 2}'))
    base = endpoint.base_url.removesuffix("/v1")
    config = ModelConfig(alias="c", provider="anthropic", base_url=base, model="claude-x")
    async with ModelPool([config]) as pool:
        result = await pool.client("c").generate_structured(MESSAGES, PERSON)
    assert result.value == {"name": "Hal", "age": 2}
    assert "JSON Schema" in endpoint.requests[-1].json_body["messages"][-1]["content"]


async def test_auto_mode_falls_back_to_prompt_when_json_schema_is_rejected(
    endpoint: SimulatedEndpoint,
) -> None:
    endpoint.script(
        ScriptedResponse(status=400, body={"error": "response_format not supported"}),
        ScriptedResponse(text='{"name": "Ivy", "age": 7}'),
        ScriptedResponse(text='{"name": "Jo", "age": 8}'),
    )
    async with ModelPool([_config(endpoint)]) as pool:
        client = pool.client("m")
        result = await client.generate_structured(MESSAGES, PERSON)
        await client.generate_structured(MESSAGES, PERSON)
    assert result.value == {"name": "Ivy", "age": 7}
    assert [("response_format" in r.json_body) for r in endpoint.requests] == [True, False, False]


async def test_code_is_extracted_after_a_correction_turn(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(
        ScriptedResponse(text="You could sum the numbers in a loop."),
        ScriptedResponse(text="```python\ntotal = sum(xs)\n```"),
    )
    async with ModelPool([_config(endpoint)]) as pool:
        result = await pool.client("m").generate_code(MESSAGES, "python", tag="code")
    assert result.code == "total = sum(xs)"
    assert result.attempts == 2
    correction = endpoint.requests[-1].json_body["messages"][-1]["content"]
    assert "no python code block found" in correction
    assert "```python" in correction


async def test_code_that_never_comes_raises_parse_error(endpoint: SimulatedEndpoint) -> None:
    endpoint.script(*[ScriptedResponse(text="No.")] * 2)
    async with ModelPool([_config(endpoint, correction_turns=1, restarts=0)]) as pool:
        with pytest.raises(ParseError) as info:
            await pool.client("m").generate_code(MESSAGES, "sql")
    assert info.value.attempts == 2
