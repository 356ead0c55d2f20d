"""A small finished run with everything a report and a viewer show: model columns (with lineage),
a judge, quality tags, an embedding, dedup, a filter, and failed rows. Built against the simulated
endpoint, so it needs no network and no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

TOPICS = ["tides", "volcanoes", "photosynthesis", "black holes", "tides"]
HERE = "tests.browser._quality_run"


def checked_level(row: dict[str, Any]) -> int:
    """A custom column failing some rows, so that a run has failures to show."""
    if int(row["level"]) == 2:
        raise ValueError(f"level {row['level']} is not supported")
    return int(row["level"])


def quality_config(base_url: str) -> dict[str, Any]:
    return {
        "name": "quality-demo",
        "models": [
            {
                "alias": "writer",
                "provider": "openai",
                "base_url": base_url,
                "model": "sim",
                "max_parallel_requests": 16,
                "timeout": 5,
                "pricing": {"input_per_million": 0.5, "output_per_million": 1.5},
            }
        ],
        "columns": [
            {"name": "topic", "type": "sampler", "sampler": "category", "params": {"values": TOPICS}},
            {
                "name": "level",
                "type": "sampler",
                "sampler": "uniform",
                "params": {"low": 1, "high": 10, "dtype": "int"},
            },
            {"name": "checked", "type": "custom", "function": f"{HERE}:checked_level", "inputs": ["level"]},
            {
                "name": "question",
                "type": "expression",
                "expr": "Explain {{ topic }} to a child of {{ checked }}.",
            },
            {
                "name": "answer",
                "type": "llm-text",
                "model": "writer",
                "system_prompt": "You are a patient teacher.",
                "prompt": "{{ question }} (level {{ level }})",
            },
            {
                "name": "grade",
                "type": "llm-judge",
                "model": "writer",
                "prompt": "Q: {{ question }}\nA: {{ answer }}",
                "scores": [
                    {
                        "name": "clarity",
                        "description": "Is it clear?",
                        "options": {1: "no", 2: "so so", 3: "yes"},
                    }
                ],
            },
            {"name": "tags", "type": "quality-tags", "source": "answer"},
            {"name": "vector", "type": "embedding", "model": "writer", "source": "question"},
            {"name": "unique", "type": "dedup", "source": ["question"]},
            {"name": "not_too_high", "type": "filter", "condition": "{{ level < 9 }}"},
        ],
        "run": {"buffer_size": 10, "seed": 3},
    }


async def make_quality_run(output: Path, records: int = 30) -> Path:
    """Generate the run under `output`; returns its run directory."""
    async with SimulatedEndpoint(SimulatedEndpointConfig(error_rate=0.0)) as endpoint:
        config = DatasetConfig.model_validate(quality_config(endpoint.base_url))
        result = await synthloom.acreate(config, records, output, progress=False)
    assert result.path is not None
    return Path(result.path)
