"""`llm-structured` with `format: yaml | xml` and the `yaml` / `xml` validators, end to end through the
simulated endpoint (which answers in the format the prompt asks for)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

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


async def test_the_structured_formats_example_validates_rejects_and_judges(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    """examples/structured-formats: documents in the sampled format; a broken one (every kettle) is
    rejected by its format's validator and filtered with the reason; the rest are judged."""
    from synthloom.models.structured_formats import to_xml, to_yaml
    from tests.engine.test_examples_plumbing import EXAMPLES, run

    default_text = endpoint._simulated_text

    def reply(payload: dict[str, Any], messages: list[Any]) -> str:
        prompt = str(messages[-1]["content"])
        if "was asked for" in prompt:  # the judge: the endpoint's schema-shaped JSON reply
            return default_text(payload, messages)
        fmt = next(f for f in ("JSON", "YAML", "XML") if f"Write a {f} document" in prompt)
        value: dict[str, Any] = {"name": "Thing", "price": 9.5}
        if "dimensions" in prompt:
            value["dimensions"] = {"width": 3, "height": 4}
        if "kettle" in prompt:
            value["price"] = "cheap"  # not a number: the validator rejects it
        text = {"JSON": json.dumps(value), "YAML": to_yaml(value), "XML": to_xml(value)}[fmt]
        return f"```{fmt.lower()}\n{text}\n```"

    endpoint._simulated_text = reply  # type: ignore[method-assign]
    data = yaml.safe_load((EXAMPLES / "structured-formats" / "config.yaml").read_text())
    data = {k: v for k, v in data.items() if not k.startswith("x-")}  # the anchors' home, as the loader does
    data["models"] = [model("writer", endpoint.base_url)]
    config = DatasetConfig.model_validate(data)
    rows, result = await run(config, 24, tmp_path)
    assert not result.failures
    assert rows and all(r["valid"] is True and r["product"] != "kettle" for r in rows)
    assert {r["output_format"] for r in rows} == {"json", "yaml", "xml"}
    assert {r["complexity"] for r in rows} == {"flat", "nested"}
    assert all(r["grade"]["faithful"]["score"] in (1, 2, 3) for r in rows)
    filtered = [json.loads(line) for line in (Path(result.path) / "filtered.jsonl").read_text().splitlines()]
    assert filtered and len(rows) + len(filtered) == 24
    assert all(f["column"] == "only_valid" and f["reason"].startswith("invalid ") for f in filtered)
    assert any("price" in f["reason"] for f in filtered)
