"""Every example runs end to end with its models swapped to a simulated endpoint.

Each model entry is replaced by `provider: openai` + the simulated endpoint's `base_url`; everything
else (seed, columns, run options) is the example as shipped. The simulated endpoint answers chat
requests with "Simulated reply to: <prompt>" and structured requests with schema-valid JSON, so these
tests check the plumbing (templates, dependencies, seed fields, `when`, `drop`, validators, judges,
expressions), not the text.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint

from .conftest import model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def swapped(path: Path, base_url: str) -> DatasetConfig:
    """The example at `path` with every model pointing at `base_url`."""
    data = yaml.safe_load(path.read_text())
    data["models"] = [model(m["alias"], base_url) for m in data.get("models", [])]
    if data.get("seed") and not Path(data["seed"]["path"]).is_absolute():
        data["seed"]["path"] = str(path.parent / data["seed"]["path"])
    config = DatasetConfig.model_validate(data)
    config._base_dir = path.parent  # helper modules next to the example import from there
    return config


async def run(config: DatasetConfig, num_records: int, output: Path) -> tuple[list[dict[str, Any]], Any]:
    result = await synthloom.acreate(config, num_records, output, resume="never")
    assert result.metadata["status"] == "completed"
    return list(result), result


def assert_columns(rows: list[dict[str, Any]], expected: set[str], dropped: set[str] = frozenset()) -> None:
    for row in rows:
        assert expected <= set(row), f"missing {expected - set(row)}"
        assert not dropped & set(row), f"dropped columns in the output: {dropped & set(row)}"


def judge_ok(grade: dict[str, Any], scores: dict[str, set[Any]]) -> None:
    assert set(grade) == set(scores)
    for name, options in scores.items():
        assert grade[name]["score"] in options
        assert isinstance(grade[name]["reasoning"], str)


async def test_quickstart(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    config = swapped(EXAMPLES / "quickstart.yaml", endpoint.base_url)
    rows, result = await run(config, 4, tmp_path)
    assert len(rows) == 4 and not result.failures
    assert_columns(rows, {"id", "field", "level", "question", "answer", "grade", "keep"})
    for row in rows:
        assert row["question"] == f"Simulated reply to: Write one {row['level']} {row['field']} question."
        assert isinstance(row["answer"]["answer"], str)
        assert row["answer"]["confidence"] in ("low", "medium", "high")
        judge_ok(row["grade"], {"accuracy": {1, 2, 3}})
        assert row["keep"] is (row["grade"]["accuracy"]["score"] >= 2)
    # question, answer and grade: three requests per record.
    assert endpoint.stats()["requests"] == 12


async def test_grounded_qa(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    path = EXAMPLES / "grounded-qa" / "config.yaml"
    lines = (path.parent / "documents.jsonl").read_text().splitlines()
    documents = {d["title"]: d["text"] for d in map(json.loads, lines)}
    assert 10 <= len(documents) <= 20
    rows, result = await run(swapped(path, endpoint.base_url), 5, tmp_path)
    assert len(rows) == 5 and not result.failures
    assert_columns(rows, {"title", "text", "question", "answer", "grade", "keep"})
    for row in rows:
        assert documents[row["title"]] == row["text"]
        assert row["question"].startswith(f"Simulated reply to: Text about {row['title']}:")
        assert 1 <= len(row["answer"]["answer"]) <= 200
        assert row["answer"]["evidence"] in ("stated", "inferred", "not_in_text")
        judge_ok(row["grade"], {"faithfulness": {1, 2, 3}, "clarity": {1, 2, 3}})
        expected = (
            row["grade"]["faithfulness"]["score"] >= 2
            and row["grade"]["clarity"]["score"] >= 2
            and row["answer"]["evidence"] != "not_in_text"
        )
        assert row["keep"] is expected
    # The judge saw the seed document, the question and the answer of its own row.
    judge_prompts = [
        r.json_body["messages"][-1]["content"]
        for r in endpoint.requests
        if "faithfulness" in str(r.json_body)
    ]
    assert len(judge_prompts) == 5
    by_question = {row["question"]: row for row in rows}
    for prompt in judge_prompts:
        question = prompt.split("Question: ", 1)[1].split("\nAnswer: ", 1)[0]
        row = by_question[question]
        assert f"Document: {row['text']}" in prompt
    # Shuffled seed sampling: 5 records from 16 documents, no document twice within a pass.
    assert len({row["title"] for row in rows}) == 5


GOOD_CODE = "```python\ndef add(a, b):\n    return a + b\n```"
BAD_CODE = "```python\ndef reverse(s)\n    return s[::-1]\n```"  # a SyntaxError: the validator rejects it
#: A real pytest test: it calls the function under test without defining it (F821 when linted alone).
TEST_SOURCE = "def test_add():\n    assert add(1, 2) == 3"
TEST_CODE = f"Here is a test.\n```python\n{TEST_SOURCE}\n```\n"
#: Code for "count the vowels", and a "test" of it that asserts nothing.
VOWELS_CODE = "```python\ndef vowels(s):\n    return sum(c in 'aeiou' for c in s)\n```"
NO_ASSERT = "```python\ndef test_vowels():\n    vowels('abc')\n```"


async def test_code_with_tests(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    # Reply by prompt: broken code for one task, good code for the others; for the tests, one that
    # asserts nothing for "count the vowels", a real test for the others.
    def reply(payload: dict[str, Any], messages: list[Any]) -> str:
        prompt = str(messages[-1]["content"])
        if "pytest" in prompt:
            return NO_ASSERT if "def vowels" in prompt else TEST_CODE
        if "vowels" in prompt:
            return VOWELS_CODE
        return BAD_CODE if "reverse a string" in prompt else GOOD_CODE

    endpoint._simulated_text = reply  # type: ignore[method-assign]
    config = swapped(EXAMPLES / "code-with-tests" / "config.yaml", endpoint.base_url)
    rows, result = await run(config, 6, tmp_path)
    assert len(rows) == 6 and not result.failures
    assert_columns(rows, {"task", "code", "check", "test", "test_check", "status", "error_count"})
    rejected = [r for r in rows if r["task"] == "reverse a string"]
    accepted = [r for r in rows if r["task"] != "reverse a string"]
    # The example's run seed (3) draws "reverse a string" and other tasks among the first 6 records.
    assert rejected and accepted, [r["task"] for r in rows]
    good_tests = [r for r in accepted if "vowels" not in r["task"]]
    for row in accepted:
        assert row["check"]["is_valid"] is True and row["check"]["errors"] == []
    for row in good_tests:
        assert row["code"] == "def add(a, b):\n    return a + b"  # extracted from the fence
    assert good_tests
    for row in good_tests:
        assert row["test"] == TEST_SOURCE  # extracted from the fence, prose left out
        # Linted together with the code: the call to `add` is not an undefined name.
        assert row["test_check"]["is_valid"] is True, row["test_check"]
        assert (row["status"], row["error_count"]) == ("ok", 0)
    no_assert = [r for r in accepted if "vowels" in r["task"]]
    assert no_assert, [r["task"] for r in rows]
    for row in no_assert:
        assert row["test_check"] == {"is_valid": False, "errors": ["the test asserts nothing"]}
        assert row["status"] == "bad test"
    for row in rejected:
        assert row["check"]["is_valid"] is False
        assert any("SyntaxError" in e for e in row["check"]["errors"])
        assert row["test"] is None  # `when` was false: skipped, null, no request
        assert row["test_check"] is None
        assert row["status"] == "rejected" and row["error_count"] >= 1
    # One request per code cell, one per test cell of an accepted row, none for rejected rows.
    assert endpoint.stats()["requests"] == 6 + len(accepted)


async def test_code_with_tests_dry_run_on_the_unscripted_simulator(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    """The simulator answers an llm-code request with a fenced block in the asked language: the
    example runs end to end with one request per code cell, no correction turns."""
    config = swapped(EXAMPLES / "code-with-tests" / "config.yaml", endpoint.base_url)
    rows, result = await run(config, 3, tmp_path)
    assert len(rows) == 3 and not result.failures
    assert all(r["check"]["is_valid"] for r in rows)
    assert all("def simulated():" in r["code"] for r in rows)
    assert endpoint.stats()["requests"] == 6


async def test_product_reviews(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    path = EXAMPLES / "product-reviews" / "config.yaml"
    products = yaml.safe_load(path.read_text())["columns"][2]["params"]["values"]
    rows, result = await run(swapped(path, endpoint.base_url), 5, tmp_path)
    assert len(rows) == 5 and not result.failures
    assert_columns(
        rows,
        {"reviewer", "category", "product", "rating", "review", "sentiment", "consistent"},
        dropped={"tone"},
    )
    assert "tone" not in result.to_arrow().column_names
    for row in rows:
        assert set(row["reviewer"]) == {"first_name", "age", "city", "occupation"}
        assert 18 <= row["reviewer"]["age"] <= 75
        assert row["product"] in products[row["category"]]
        assert row["rating"] in range(1, 6)
        # The dropped helper reached the prompt.
        tone = "disappointed" if row["rating"] <= 2 else ("mixed" if row["rating"] == 3 else "enthusiastic")
        assert row["review"].startswith(f"Simulated reply to: Write a {tone} two-sentence review of the ")
        assert row["sentiment"]["sentiment"] in ("positive", "neutral", "negative")
        assert isinstance(row["sentiment"]["mentions_price"], bool)
        assert isinstance(row["consistent"], bool)
    # The persona went into the system prompt.
    systems = [
        r.json_body["messages"][0]["content"] for r in endpoint.requests if "review of" in str(r.json_body)
    ]
    names = {row["reviewer"]["first_name"] for row in rows}
    assert all(any(f"You are {name}," in s for s in systems) for name in names)


async def test_plugin_example(tmp_path: Path) -> None:
    try:
        importlib.metadata.distribution("synthloom-shout")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pip install -e examples/plugin-shout")
    config = synthloom.load_config(EXAMPLES / "plugin-shout" / "example.yaml")
    assert not config.models  # model-free: nothing to swap
    rows, _ = await run(config, 4, tmp_path)
    assert len(rows) == 4
    for row in rows:
        assert row["loud"] == row["greeting"].upper() + "!!!"
        assert row["loud_length"] == len(row["loud"])


def _python_api_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthloom_python_api_example", EXAMPLES / "python-api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_python_api_example(
    endpoint: SimulatedEndpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = _python_api_example()
    writer = model("writer", endpoint.base_url)
    del writer["alias"]
    # The example calls the synchronous API (its own event loop): run it in a worker thread while
    # this loop serves the simulated endpoint.
    result = await asyncio.to_thread(module.main, 4, tmp_path, **writer)
    assert len(result) == 4 and result.metadata["status"] == "completed"
    frame = result.to_pandas()
    assert list(frame.columns) == ["product", "stars", "review", "sentiment", "short"]
    assert (tmp_path / "python-api-reviews.jsonl").read_text().count("\n") == 4
    out = capsys.readouterr().out
    assert out.count("preview:") == 2 and "status completed" in out
    # 2 preview records + 4 created records, two requests each.
    # The created run's first two records are the previewed ones, answered by the response cache both use.
    assert endpoint.stats()["requests"] == 8
