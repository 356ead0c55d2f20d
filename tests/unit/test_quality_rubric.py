"""The rubric preset: categories by rules first, the model for the rest, then five 1-5 dimensions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.columns.quality.config import RUBRIC_CATEGORIES, RUBRIC_DIMENSIONS
from synthloom.columns.quality.rubric import category_by_rules
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

ALL = set(RUBRIC_CATEGORIES)


@pytest.mark.parametrize(
    ("instruction", "response", "context", "category"),
    [
        ("Write a Python function that reverses a list.", "", False, "coding"),
        ("Solve 3x + 5 = 20.", "", False, "math"),
        ("Summarize this article in two sentences.", "", False, "summarization"),
        ("Translate 'good morning' to French.", "", False, "rewriting"),
        ("Write a haiku about autumn.", "", False, "creative_writing"),
        ("Brainstorm ideas for a birthday party.", "", False, "brainstorming"),
        ("Classify these reviews as positive or negative.", "", False, "classification"),
        ("When was the treaty signed?", "", True, "closed_qa"),
        ("Tell me about it", "```js\nx()\n```", False, "coding"),
        ("What do you think about the weather?", "", False, None),
    ],
)
def test_rules_decide_the_clear_categories(
    instruction: str, response: str, context: bool, category: str | None
) -> None:
    assert category_by_rules(instruction, response, context, ALL) == category


def test_rules_only_pick_allowed_categories() -> None:
    assert category_by_rules("Write a poem", "", False, {"chat", "open_qa"}) is None


def rubric_config(base_url: str, **rubric: Any) -> dict[str, Any]:
    questions = ["Write a haiku about rain.", "What do you think about cats?"]
    return {
        "name": "rubric",
        "models": [
            {"alias": "judge", "provider": "openai", "base_url": base_url, "model": "sim", "timeout": 5}
        ],
        "columns": [
            {"name": "question", "type": "sampler", "sampler": "category", "params": {"values": questions}},
            {"name": "answer", "type": "expression", "expr": "An answer to: {{ question }}"},
            {
                "name": "grade",
                "type": "quality-rubric",
                "model": "judge",
                "instruction": "question",
                "response": "answer",
                **rubric,
            },
        ],
        "run": {"buffer_size": 10, "seed": 2},
    }


async def test_rubric_scores_five_dimensions_with_explanations(tmp_path: Path) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        config = DatasetConfig.model_validate(rubric_config(endpoint.base_url))
        result = await synthloom.acreate(config, 10, tmp_path)
        sent = [r.json_body for r in endpoint.requests]
    rows = list(result)
    assert len(rows) == 10
    for row in rows:
        grade = row["grade"]
        assert grade["category"] in RUBRIC_CATEGORIES
        for dim in RUBRIC_DIMENSIONS:
            assert grade[dim]["score"] in (1, 2, 3, 4, 5)
            assert isinstance(grade[dim]["explanation"], str)
        assert grade["overall"] == pytest.approx(
            sum(grade[d]["score"] for d in RUBRIC_DIMENSIONS) / 5, abs=0.01
        )
        if row["question"].startswith("Write a haiku"):
            assert (grade["category"], grade["category_source"]) == ("creative_writing", "rules")
        else:
            assert grade["category_source"] in ("model", "default")
    systems = [m["content"] for p in sent for m in p["messages"] if m["role"] == "system"]
    assert any("'creative writing' instructions" in s and "Calibration examples" in s for s in systems)
    assert any("Classify the instruction into exactly one category" in s for s in systems)
    assert all("response_format" in p for p in sent)  # structured output, schema mode


async def test_a_known_category_skips_the_rules_and_the_model(tmp_path: Path) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as endpoint:
        config = rubric_config(endpoint.base_url, category="kind", filter={"min": 6})
        config["columns"].insert(2, {"name": "kind", "type": "expression", "expr": "math"})
        result = await synthloom.acreate(DatasetConfig.model_validate(config), 4, tmp_path)
        sent = [r.json_body for r in endpoint.requests]
    assert len(sent) == 4  # one judge call per row, no classification
    assert len(result.filtered) == 4  # overall can never reach min 6
    assert result.filtered[0]["reason"].startswith("'grade.overall' = ")
