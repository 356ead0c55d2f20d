"""Bytes anywhere in a value (inside a list or an object) are stored as bytes and exported as base64,
never as their Python repr."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import synthloom
from synthloom import DatasetConfig
from synthloom.store.table_codec import decode_rows, dumps_json, loads_json, to_arrow_table

PNG = b"\x89PNG\r\n\x1a\n\x00\x00fake"
HERE = "tests.unit.test_bytes_in_values"


def mixed(row: dict[str, Any]) -> Any:
    return {"caption": f"image {row['i']}", "image": PNG, "parts": [PNG, "text", {"thumb": PNG[:4]}]}


def test_bytes_nested_in_json_values_survive_a_round_trip() -> None:
    value = {"a": [PNG, {"b": PNG}], "c": "plain"}
    text = dumps_json(value)
    assert "b'" not in text and "\\x89" not in text
    assert loads_json(text) == value
    table = to_arrow_table({"v": [value, None, ["x", PNG]]}, ["v"])
    assert [row["v"] for row in decode_rows(table)] == [value, None, ["x", PNG]]


def test_a_value_holding_bytes_is_stored_as_bytes_and_exported_as_base64(tmp_path: Path) -> None:
    config = DatasetConfig.model_validate(
        {
            "name": "media",
            "columns": [
                {"name": "i", "type": "sampler", "sampler": "category", "params": {"values": [1, 2]}},
                {"name": "card", "type": "custom", "function": f"{HERE}:mixed", "inputs": ["i"]},
            ],
        }
    )
    result = synthloom.create(config, 3, tmp_path, progress=False)
    rows = list(result)
    assert rows[0]["card"]["image"] == PNG
    assert rows[0]["card"]["parts"][0] == PNG and rows[0]["card"]["parts"][2]["thumb"] == PNG[:4]
    exported = result.to_jsonl(tmp_path / "out.jsonl").read_text()
    assert "b'\\x89PNG" not in exported and "\\\\x89" not in exported
    first = json.loads(exported.splitlines()[0])
    assert base64.b64decode(first["card"]["image"]) == PNG
    assert base64.b64decode(first["card"]["parts"][0]) == PNG
