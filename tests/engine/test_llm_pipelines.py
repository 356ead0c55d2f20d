"""The engine driving LLM columns against the simulated endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import synthloom
from synthloom import DatasetConfig
from synthloom.errors import EarlyShutdownError
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model


def diamond(base_url: str, **run: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "diamond",
            "models": [model("m", base_url)],
            "columns": [
                {
                    "name": "topic",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["cats", "dogs"]},
                },
                {"name": "summary", "type": "llm-text", "model": "m", "prompt": "Summarise {{ topic }}."},
                {"name": "trivia", "type": "llm-text", "model": "m", "prompt": "Trivia about {{ topic }}."},
                {"name": "analysis", "type": "llm-text", "model": "m", "prompt": "Analyse: {{ summary }}"},
            ],
            "run": {"buffer_size": 10, **run},
        }
    )


async def test_diamond_renders_each_prompt_from_its_own_row(endpoint: SimulatedEndpoint) -> None:
    result = await synthloom.apreview(diamond(endpoint.base_url), num_records=25)
    rows = list(result)
    assert len(rows) == 25
    for row in rows:
        assert row["summary"] == f"Simulated reply to: Summarise {row['topic']}."
        assert row["trivia"] == f"Simulated reply to: Trivia about {row['topic']}."
        # The downstream cell saw this row's summary, not another row's.
        assert row["analysis"].startswith(
            f"Simulated reply to: Analyse: Simulated reply to: Summarise {row['topic']}"
        )
    assert endpoint.stats()["requests"] == 75


async def test_create_writes_usage_per_model_and_column(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    result = await synthloom.acreate(diamond(endpoint.base_url), 20, tmp_path)
    assert len(result) == 20
    usage = result.usage
    assert usage["models"]["m"]["requests"] == 60
    assert set(usage["columns"]) >= {"summary", "trivia", "analysis"}
    assert usage["columns"]["summary"]["requests"] == 20
    assert usage["models"]["m"]["input_tokens"] > 0
    assert result.metadata["status"] == "completed"
    assert result.metadata["committed_records"] == 20


async def test_second_model_starts_before_the_first_finishes(tmp_path: Path) -> None:
    """Cell-level scheduling: row 0's judge call does not wait for the writer to finish every row."""
    writer = SimulatedEndpoint(SimulatedEndpointConfig(latency=0.02))
    judge = SimulatedEndpoint(SimulatedEndpointConfig())
    writer_requests_when_judge_started: list[int] = []
    original = judge._chat

    async def spy(request: Any) -> Any:
        writer_requests_when_judge_started.append(writer.stats()["requests"])
        return await original(request)

    judge._chat = spy  # type: ignore[method-assign]  # before start: the route binds it
    async with writer, judge:
        config = DatasetConfig.model_validate(
            {
                "models": [
                    model("writer", writer.base_url, max_parallel_requests=2),
                    model("judge", judge.base_url),
                ],
                "columns": [
                    {"name": "n", "type": "sampler", "sampler": "uniform", "params": {"low": 0, "high": 1}},
                    {"name": "text", "type": "llm-text", "model": "writer", "prompt": "Write {{ n }}"},
                    {"name": "review", "type": "llm-text", "model": "judge", "prompt": "Review {{ text }}"},
                ],
                "run": {"buffer_size": 40},
            }
        )
        result = await synthloom.apreview(config, num_records=40)
    assert len(result) == 40
    # The first judge request arrived while the writer still had most of its 40 requests to do.
    assert writer_requests_when_judge_started[0] < 20


async def test_when_false_skips_the_cell_and_sends_nothing(endpoint: SimulatedEndpoint) -> None:
    config = DatasetConfig.model_validate(
        {
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {"name": "i", "type": "sampler", "sampler": "category", "params": {"values": [1, 2]}},
                {
                    "name": "text",
                    "type": "llm-text",
                    "model": "m",
                    "prompt": "hi {{ i }}",
                    "when": "{{ i == 2 }}",
                },
                {"name": "after", "type": "expression", "expr": "[{{ text }}]"},
            ],
        }
    )
    rows = list(await synthloom.apreview(config, num_records=30))
    twos = [r for r in rows if r["i"] == 2]
    ones = [r for r in rows if r["i"] == 1]
    assert twos and ones
    assert all(r["text"] is None and r["after"] == "[]" for r in ones)
    assert all(r["text"] == "Simulated reply to: hi 2" for r in twos)
    assert endpoint.stats()["requests"] == len(twos)


async def test_structured_and_judge_values_reach_downstream_templates(endpoint: SimulatedEndpoint) -> None:
    config = DatasetConfig.model_validate(
        {
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {"name": "q", "type": "llm-text", "model": "m", "prompt": "Ask something"},
                {
                    "name": "answer",
                    "type": "llm-structured",
                    "model": "m",
                    "prompt": "Answer {{ q }}",
                    "schema": {
                        "type": "object",
                        "properties": {
                            "answer": {"type": "string", "maxLength": 20},
                            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                        "required": ["answer", "confidence"],
                    },
                },
                {
                    "name": "grade",
                    "type": "llm-judge",
                    "model": "m",
                    "prompt": "Grade {{ answer.answer }}",
                    "scores": [
                        {"name": "accuracy", "description": "correct?", "options": {1: "no", 2: "yes"}},
                        {"name": "style", "description": "clear?", "options": {"bad": "b", "good": "g"}},
                    ],
                },
                {"name": "conf", "type": "expression", "expr": "{{ answer.confidence }}", "dtype": "float"},
                {"name": "acc", "type": "expression", "expr": "{{ grade.accuracy.score }}", "dtype": "int"},
            ],
        }
    )
    rows = list(await synthloom.apreview(config, num_records=8))
    assert len(rows) == 8
    for row in rows:
        assert isinstance(row["answer"]["answer"], str) and len(row["answer"]["answer"]) <= 20
        assert 0 <= row["conf"] <= 1 and row["conf"] == row["answer"]["confidence"]
        assert row["grade"]["accuracy"]["score"] in (1, 2) and row["acc"] == row["grade"]["accuracy"]["score"]
        assert row["grade"]["style"]["score"] in ("bad", "good")
        assert isinstance(row["grade"]["style"]["reasoning"], str)
    judge_request = next(r for r in endpoint.requests if "Grade" in str(r.json_body["messages"]))
    prompt = judge_request.json_body["messages"][-1]["content"]
    assert "accuracy: correct?" in prompt and "1 = no" in prompt


async def test_trace_and_reasoning_side_columns(endpoint: SimulatedEndpoint) -> None:
    endpoint.script({"text": "final words", "reasoning": "thinking hard"})
    config = DatasetConfig.model_validate(
        {
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {
                    "name": "t",
                    "type": "llm-text",
                    "model": "m",
                    "prompt": "Go",
                    "system_prompt": "Be brief",
                    "with_trace": True,
                    "with_reasoning": True,
                }
            ],
        }
    )
    rows = list(await synthloom.apreview(config, num_records=1))
    assert rows[0]["t"] == "final words"
    assert rows[0]["t__reasoning"] == "thinking hard"
    assert [m["role"] for m in rows[0]["t__trace"]] == ["system", "user", "assistant"]


async def test_embedding_column_holds_vectors(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    config = DatasetConfig.model_validate(
        {
            "models": [model("e", endpoint.base_url)],
            "columns": [
                {"name": "w", "type": "sampler", "sampler": "category", "params": {"values": ["a", "b"]}},
                {"name": "vec", "type": "embedding", "model": "e", "source": "w"},
            ],
        }
    )
    result = await synthloom.acreate(config, 6, tmp_path)
    table = result.to_arrow()
    assert pa.types.is_list(table.schema.field("vec").type)
    assert table.schema.field("vec").type.value_type == pa.float32()
    assert all(len(r["vec"]) == 16 for r in result)


async def test_rejected_cells_are_removed_and_recorded(endpoint: SimulatedEndpoint, tmp_path: Path) -> None:
    endpoint.script(*[{"status": 400, "body": {"error": {"message": "bad prompt"}}}] * 3)
    config = diamond(endpoint.base_url, max_row_groups_in_flight=1, buffer_size=20, max_failure_rate=0.9)
    result = await synthloom.acreate(config, 20, tmp_path)
    failures = result.failures
    assert 1 <= len(failures) <= 3
    assert len(result) == 20 - len(failures)
    for f in failures:
        assert f["error_type"] == "RequestRejectedError"
        assert f["column"] in ("summary", "trivia", "analysis")
        assert f["attempts"] >= 1 and "400" in f["error"]
    assert result.metadata["failed_records"] == len(failures)


async def test_flaky_server_completes_every_record_and_usage_shows_retries(tmp_path: Path) -> None:
    flaky = SimulatedEndpointConfig(error_rate=0.2, malformed_rate=0.1, drop_rate=0.05, seed=3)
    async with SimulatedEndpoint(flaky) as ep:
        config = diamond(ep.base_url)
        config.models[0] = config.models[0].model_copy(update={"max_retries": 8})
        result = await synthloom.acreate(config, 30, tmp_path)
    assert len(result) + len(result.failures) == 30
    assert len(result) >= 27
    assert result.usage["models"]["m"]["retries"] > 0


async def test_failure_rate_over_threshold_stops_early_and_keeps_committed_groups(tmp_path: Path) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as ep:
        config = diamond(
            ep.base_url, buffer_size=5, max_row_groups_in_flight=1, failure_window=10, max_failure_rate=0.5
        )
        first = await synthloom.acreate(config, 10, tmp_path)
        assert len(first) == 10
        ep.script(*[{"status": 400, "body": "no"}] * 500)
        with pytest.raises(EarlyShutdownError, match="stopping early"):
            await synthloom.acreate(config, 40, tmp_path, resume="always")
    kept = synthloom.open_run(tmp_path / "diamond")
    assert len(kept) == 10  # the committed groups survive
    assert kept.metadata["status"] == "failed"
    sessions = kept.metadata["sessions"]
    assert [s["status"] for s in sessions] == ["completed", "failed"]
    assert sessions[0]["records_committed"] == 10 and sessions[1]["records_committed"] == 0
    assert sessions[0]["usage"]["m"]["requests"] == 30


async def test_anthropic_pipeline_gets_structured_values_by_prompting(
    endpoint: SimulatedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Messages API has no JSON-schema mode: the schema goes in the prompt, the reply is extracted."""
    monkeypatch.setenv("SIM_ANTHROPIC_KEY", "sk-ant-test")
    config = DatasetConfig.model_validate(
        {
            "models": [
                {
                    "alias": "c",
                    "provider": "anthropic",
                    "base_url": endpoint.base_url.removesuffix("/v1"),
                    "model": "claude-test",
                    "api_key_env": "SIM_ANTHROPIC_KEY",
                }
            ],
            "columns": [
                {
                    "name": "t",
                    "type": "llm-text",
                    "model": "c",
                    "prompt": "hello",
                    "system_prompt": "be brief",
                },
                {
                    "name": "s",
                    "type": "llm-structured",
                    "model": "c",
                    "prompt": "Give JSON about {{ t }}",
                    "schema": {
                        "type": "object",
                        "properties": {"a": {"type": "string", "maxLength": 5}},
                        "required": ["a"],
                    },
                },
            ],
        }
    )
    rows = list(await synthloom.apreview(config, num_records=3))
    assert len(rows) == 3
    assert all(isinstance(r["s"]["a"], str) and len(r["s"]["a"]) <= 5 for r in rows)
    first = endpoint.requests[0]
    assert first.path == "/v1/messages"
    assert first.headers.get("x-api-key") == "sk-ant-test"
    assert first.json_body["system"] == "be brief"
    structured = next(r for r in endpoint.requests if "Give JSON" in str(r.json_body["messages"]))
    assert "response_format" not in structured.json_body
    assert "JSON Schema" in structured.json_body["messages"][-1]["content"]


async def test_embedding_cells_share_requests_up_to_the_batch_size(endpoint: SimulatedEndpoint) -> None:
    config = DatasetConfig.model_validate(
        {
            "models": [model("e", endpoint.base_url)],
            "columns": [
                {
                    "name": "w",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["a", "b", "c"]},
                },
                {"name": "vec", "type": "embedding", "model": "e", "source": "w", "batch_size": 8},
            ],
        }
    )
    rows = list(await synthloom.apreview(config, num_records=40))
    batches = [r.json_body["input"] for r in endpoint.requests if r.path.endswith("/embeddings")]
    assert all(len(batch) <= 8 for batch in batches)
    assert sum(len(batch) for batch in batches) == 40
    assert len(batches) < 40  # cells waiting together went out together
    by_word: dict[str, list[float]] = {}
    for row in rows:  # each row got the vector of its own text (the simulator's vectors are per text)
        assert by_word.setdefault(row["w"], row["vec"]) == row["vec"]
    assert len({tuple(v) for v in by_word.values()}) == 3
