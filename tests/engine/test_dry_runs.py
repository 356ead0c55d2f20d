"""Dry runs on the simulated endpoint: `llm-code` columns get a fenced block in the asked language, and a
reply cut by max_tokens is named as such."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig


def _config(base_url: str, columns: list[dict[str, Any]]) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "dry",
            "models": [{"alias": "m", "base_url": base_url, "model": "simulated"}],
            "columns": [
                {
                    "name": "task",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["sum", "max"]},
                },
                *columns,
            ],
            "run": {"buffer_size": 5},
        }
    )


async def test_llm_code_columns_get_a_fenced_block_in_their_language_at_the_first_request() -> None:
    columns = [
        {"name": "py", "type": "llm-code", "model": "m", "language": "python", "prompt": "Write {{ task }}."},
        {"name": "q", "type": "llm-code", "model": "m", "language": "sql", "prompt": "Query {{ task }}."},
    ]
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        result = await synthloom.apreview(_config(endpoint.base_url, columns), 4)
        requests = len(endpoint.requests)
    rows = list(result)
    assert len(rows) == 4 and not result.failures
    assert requests == 8  # one request per cell: no correction turns
    assert all("def simulated():" in r["py"] and "```" not in r["py"] for r in rows)
    assert all(r["q"].strip().endswith("SELECT 42 AS simulated;") for r in rows)
    compile(rows[0]["py"], "<dry run>", "exec")


async def test_a_reply_cut_by_max_tokens_is_reported_as_such(tmp_path: Path) -> None:
    columns = [
        {
            "name": "answer",
            "type": "llm-structured",
            "model": "m",
            "prompt": "{{ task }}",
            "schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            "inference": {"max_tokens": 8},
        }
    ]
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        # Every attempt (3 turns x 2 restarts) is cut off mid-string, as a server does at max_tokens.
        endpoint.script(*[{"text": '{"text": "a long ans', "finish_reason": "length"}] * 6)
        result = await synthloom.apreview(_config(endpoint.base_url, columns), 1)
    assert list(result) == []
    (failure,) = result.failures
    assert failure["error_type"] == "ParseError"
    assert "the reply was cut by max_tokens 8 (finish_reason 'length')" in failure["error"]
    assert "raise inference.max_tokens" in failure["error"]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str, base_url: str) -> DatasetConfig:
    import yaml

    path = EXAMPLES / name / "config.yaml"
    data = yaml.safe_load(path.read_text())
    data["models"] = [
        {"alias": m["alias"], "base_url": base_url, "model": "simulated"} for m in data["models"]
    ]
    config = DatasetConfig.model_validate(data)
    config._base_dir = path.parent
    return config


async def test_tool_use_example_filters_rows_without_a_tool_call(tmp_path: Path) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(tool_turns=0)) as endpoint:
        none = await synthloom.acreate(_example("tool-use", endpoint.base_url), 4, tmp_path / "none")
    assert len(none) == 0
    assert [f["column"] for f in none.filtered] == ["used_a_tool"] * 4
    async with SimulatedEndpoint(SimulatedEndpointConfig(tool_turns=1)) as endpoint:
        # The same model id answering differently now: `refresh` asks it again instead of the response cache.
        used = await synthloom.acreate(
            _example("tool-use", endpoint.base_url), 4, tmp_path / "used", cache_mode="refresh"
        )
    assert len(used) == 4 and not used.filtered
    assert all(any(m["role"] == "tool" for m in row["answer__trajectory"]) for row in used)
