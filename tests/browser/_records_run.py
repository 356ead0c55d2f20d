"""A run with every kind of value a person reads: a person (a structured sampler value), a structured
reply, a conversation between two speakers, a tool-using answer with its trajectory, an image, judge
scores and a filter on them. Built against the simulated endpoint: no network, no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

HERE = "tests.browser._records_run"
RICH = "{{ rich }}"


def lookup(topic: str) -> str:
    """Look up a short fact about a topic."""
    return f"{topic}: a well-known subject with a long history."


def records_config(base_url: str, *, buffer_size: int = 100, rich_share: float = 1.0) -> dict[str, Any]:
    """`rich_share`: the share of records that get the model-made columns (the others keep only their
    sampled values), so a 10,000-record run is quick to make and still has every kind of value."""

    def model(alias: str) -> dict[str, Any]:
        return {
            "alias": alias,
            "provider": "openai",
            "base_url": base_url,
            "model": "sim",
            "max_parallel_requests": 64,
            "timeout": 10,
        }

    return {
        "name": "records-demo",
        "models": [model("writer"), model("painter")],
        "columns": [
            {
                "name": "topic",
                "type": "sampler",
                "sampler": "category",
                "params": {"values": ["tides", "volcanoes", "bread", "comets"]},
            },
            {"name": "reviewer", "type": "sampler", "sampler": "person"},
            {
                "name": "level",
                "type": "sampler",
                "sampler": "uniform",
                "params": {"low": 1, "high": 10, "dtype": "int"},
            },
            {"name": "rich", "type": "sampler", "sampler": "bernoulli", "params": {"p": rich_share}},
            {
                "name": "card",
                "when": RICH,
                "type": "llm-structured",
                "model": "writer",
                "prompt": "A fact card about {{ topic }}.",
                "schema": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "difficulty": {"type": "string", "enum": ["easy", "medium", "hard"]},
                        "words": {"type": "integer"},
                    },
                    "required": ["title", "difficulty", "words"],
                },
            },
            {
                "name": "answer",
                "when": RICH,
                "type": "llm-text",
                "model": "writer",
                "system_prompt": "Use the lookup tool before answering.",
                "prompt": "Tell {{ reviewer.first_name }} about {{ topic }}.",
                "tools": [{"function": f"{HERE}:lookup"}],
            },
            {
                "name": "chat",
                "when": RICH,
                "type": "conversation",
                "user": {
                    "model": "writer",
                    "persona": "{{ reviewer.first_name }}, curious about {{ topic }}",
                },
                "assistant": {"model": "writer", "system_prompt": "Answer in two sentences."},
                "turns": 2,
                "trajectory": True,
            },
            {
                "name": "picture",
                "when": RICH,
                "type": "image",
                "model": "painter",
                "prompt": "A sketch of {{ topic }}",
            },
            {
                "name": "grade",
                "when": RICH,
                "type": "llm-judge",
                "model": "writer",
                "prompt": "Q: {{ topic }}\nA: {{ answer }}",
                "scores": [
                    {
                        "name": "clarity",
                        "description": "Is it clear?",
                        "options": {1: "no", 2: "so so", 3: "yes"},
                    }
                ],
            },
            {
                "name": "clear_enough",
                "when": RICH,
                "type": "filter",
                "condition": "{{ grade.clarity.score >= 2 }}",
            },
        ],
        "run": {"buffer_size": buffer_size, "seed": 5},
    }


async def make_records_run(
    output: Path, records: int = 40, *, buffer_size: int = 100, rich_share: float = 1.0
) -> Path:
    """Generate the run under `output`; returns its run directory."""
    async with SimulatedEndpoint(SimulatedEndpointConfig(error_rate=0.0, tool_turns=1)) as endpoint:
        config = DatasetConfig.model_validate(
            records_config(endpoint.base_url, buffer_size=buffer_size, rich_share=rich_share)
        )
        result = await synthloom.acreate(config, records, output, progress=False)
    assert result.path is not None
    return Path(result.path)
