"""`llm-structured` with `format: yaml | xml` and the `yaml` / `xml` validators, end to end through the
simulated endpoint (which answers in the format the prompt asks for)."""

from __future__ import annotations

from typing import Any

import synthloom
from synthloom.config.dataset import DatasetConfig
from synthloom.testing import SimulatedEndpoint

from .conftest import model

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 30},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "draft": {"type": "boolean"},
    },
    "required": ["title", "year", "tags", "draft"],
}


def _config(endpoint: SimulatedEndpoint, fmt: str) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {
                    "name": "doc",
                    "type": "llm-structured",
                    "model": "m",
                    "prompt": "A paper",
                    "schema": SCHEMA,
                    "format": fmt,
                },
                {"name": "raw", "type": "llm-text", "model": "m", "prompt": "Anything"},
                {
                    "name": "doc_ok",
                    "type": "validation",
                    "validator": fmt,
                    "targets": ["doc"],
                    "json_schema": SCHEMA,
                },
            ],
        }
    )


async def test_yaml_and_xml_replies_become_the_schema_value(endpoint: SimulatedEndpoint) -> None:
    for fmt in ("yaml", "xml"):
        endpoint.requests.clear()
        rows = list(await synthloom.apreview(_config(endpoint, fmt), num_records=4))
        assert len(rows) == 4
        for row in rows:
            doc = row["doc"]
            assert isinstance(doc["year"], int) and isinstance(doc["draft"], bool), doc
            assert isinstance(doc["tags"], list) and doc["tags"]
            assert row["doc_ok"]["is_valid"] is True
        asked = next(r for r in endpoint.requests if "A paper" in str(r.json_body["messages"]))
        assert "response_format" not in asked.json_body  # yaml/xml are asked for in the prompt
        prompt = asked.json_body["messages"][-1]["content"]
        assert ("YAML document" if fmt == "yaml" else "XML document") in prompt


async def _structured_after(endpoint: SimulatedEndpoint, fmt: str, *replies: str) -> list[dict[str, Any]]:
    endpoint.script(*({"text": text} for text in replies))
    config = DatasetConfig.model_validate(
        {
            "models": [
                model("m", endpoint.base_url, structured_output={"correction_turns": 1, "restarts": 0})
            ],
            "columns": [
                {
                    "name": "doc",
                    "type": "llm-structured",
                    "model": "m",
                    "prompt": "A paper",
                    "schema": SCHEMA,
                    "format": fmt,
                }
            ],
        }
    )
    result = await synthloom.apreview(config, num_records=1)
    return [list(result), result.failures]


BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
)


async def test_a_yaml_bomb_gets_a_correction_turn_and_then_a_good_reply_is_used(
    endpoint: SimulatedEndpoint,
) -> None:
    good = "```yaml\ntitle: Fine\nyear: 2001\ntags: [a]\ndraft: false\n```"
    rows, failures = await _structured_after(endpoint, "yaml", BOMB, good)
    assert failures == []
    assert rows[0]["doc"] == {"title": "Fine", "year": 2001, "tags": ["a"], "draft": False}
    correction = endpoint.requests[1].json_body["messages"][-1]["content"]
    assert "anchors and aliases are not accepted" in correction


async def test_tags_and_entities_fail_the_cell_not_the_run(endpoint: SimulatedEndpoint) -> None:
    rows, failures = await _structured_after(
        endpoint, "yaml", "!!python/object/apply:os.system ['true']", "title: !!binary aGk=\nyear: 1"
    )
    assert rows == [] and len(failures) == 1
    assert "YAML tags are not accepted" in failures[0]["error"]
    entity = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "lol">]><root><title>&x;</title></root>'
    rows, failures = await _structured_after(endpoint, "xml", entity, entity)
    assert rows == [] and len(failures) == 1
    assert "document type declarations" in failures[0]["error"]


async def test_xml_reply_in_the_wrong_shape_is_corrected(endpoint: SimulatedEndpoint) -> None:
    wrong = (
        "<root><title>T</title><year>nineteen</year><tags><item>a</item></tags><draft>false</draft></root>"
    )
    right = (
        "```xml\n<root><title>T</title><year>1999</year><tags><item>a</item></tags>"
        "<draft>true</draft></root>\n```"
    )
    rows, failures = await _structured_after(endpoint, "xml", wrong, right)
    assert failures == []
    assert rows[0]["doc"] == {"title": "T", "year": 1999, "tags": ["a"], "draft": True}
    assert "<year> should be a number" in endpoint.requests[1].json_body["messages"][-1]["content"]
