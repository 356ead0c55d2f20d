"""Every recipe of the library runs end to end against the simulated endpoint, and so does the example
that uses one; evol-instruct draws its methods per record and round, reproducibly from the run seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import synthloom
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUESTIONS = ["What is a tide?", "Why is ice slippery?", "How do bees talk?"]
DEPTH = {"add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input"}


def write(tmp_path: Path, base_url: str, entry: dict[str, Any], *, seed: int = 0) -> Path:
    data = {
        "models": [model("writer", base_url), model("critic", base_url)],
        "columns": [
            {"name": "question", "type": "sampler", "sampler": "category", "params": {"values": QUESTIONS}},
            {"name": "id", "type": "sampler", "sampler": "uuid", "drop": True},
            entry,
        ],
        "run": {"buffer_size": 10, "seed": seed},
    }
    path = tmp_path / f"config-{seed}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def llm_steps(trajectory: list[dict[str, Any]], nodes: set[str]) -> int:
    return sum(1 for step in trajectory if step["node"] in nodes)


async def test_self_refine_revises_until_the_judge_scores_high_enough(tmp_path: Path) -> None:
    entry = {
        "recipe": "self-refine",
        "prefix": "sr",
        "params": {
            "task": "{{ question }} ({{ id }})",
            "model": "writer",
            "judge_model": "critic",
            "max_iterations": 4,
        },
    }
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.4)) as endpoint:
        result = await synthloom.apreview(
            synthloom.load_config(write(tmp_path, endpoint.base_url, entry)), 20
        )
        requests = endpoint.stats()["requests"]
    rows = list(result)
    assert len(rows) == 20 and not result.failures
    for row in rows:
        answer = row["sr_answer"]
        assert set(answer) == {"final", "judgement", "iterations"}
        assert answer["judgement"]["quality"]["score"] >= 4 or answer["iterations"] == 4
        assert answer["final"].startswith("Simulated reply to: ")
    assert any(row["sr_answer"]["iterations"] > 1 for row in rows)
    steps = {"generate", "judge", "revise"}
    assert requests == sum(llm_steps(row["sr_answer__trajectory"], steps) for row in rows)
    assert "sr_answer.judge" in result.usage["columns"]


async def test_critique_revise_revises_until_the_critic_accepts(tmp_path: Path) -> None:
    entry = {
        "recipe": "critique-revise",
        "params": {
            "task": "Answer: {{ question }} ({{ id }})",
            "model": "writer",
            "critic_model": "critic",
            "max_revisions": 3,
        },
        "overrides": {"critique": {"inference": {"temperature": 0.0}}},
    }
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.4)) as endpoint:
        result = await synthloom.apreview(
            synthloom.load_config(write(tmp_path, endpoint.base_url, entry)), 20
        )
        critic_bodies = [r.json_body for r in endpoint.requests if "verdict" in str(r.json_body)]
    rows = list(result)
    assert len(rows) == 20 and not result.failures
    for row in rows:
        revised = row["revised"]
        assert set(revised) == {"response", "critique", "revisions"}
        assert revised["critique"]["verdict"] == "accept" or revised["revisions"] == 3
        nodes = [step["node"] for step in row["revised__trajectory"]]
        assert nodes == ["response", "critique"] + ["count", "revise", "critique"] * revised["revisions"]
        if revised["revisions"]:
            assert "Your previous response:" in revised["response"]
    assert any(row["revised"]["revisions"] for row in rows)
    assert critic_bodies and all(body["temperature"] == 0.0 for body in critic_bodies)  # the override


async def evolve(tmp_path: Path, base_url: str, seed: int, **params: Any) -> list[dict[str, Any]]:
    entry = {
        "recipe": "evol-instruct",
        "prefix": "evo",
        "params": {
            "instruction": "question",
            "model": "writer",
            "rounds": 3,
            "breadth_percent": 40,
            **params,
        },
    }
    config = synthloom.load_config(write(tmp_path, base_url, entry, seed=seed))
    result = await synthloom.apreview(config, 24)
    assert not result.failures, result.failures
    return list(result)


async def test_evol_instruct_evolves_each_record_and_answers_the_result(tmp_path: Path) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.5)) as endpoint:
        rows = await evolve(tmp_path, endpoint.base_url, seed=0)
    methods_seen = set()
    for row in rows:
        evolved = row["evo_evolved"]
        assert evolved["rounds"] == 3
        assert [m["round"] for m in evolved["methods"]] == [1, 2, 3]
        methods_seen.update(m["method"] for m in evolved["methods"])
        if not any(m["kept"] for m in evolved["methods"]):
            assert evolved["instruction"] == row["question"]  # every evolution dropped: the seed stays
        else:
            assert evolved["instruction"].startswith("Simulated reply to: ")
        assert row["evo_response"] == f"Simulated reply to: {evolved['instruction'][:200]}"
    assert "breadth" in methods_seen and methods_seen - {"breadth"} <= DEPTH and len(methods_seen) >= 4


async def test_evol_instruct_draws_methods_per_record_reproducibly(tmp_path: Path) -> None:
    def methods(rows: list[dict[str, Any]]) -> list[list[str]]:
        return [[m["method"] for m in row["evo_evolved"]["methods"]] for row in rows]

    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.5)) as endpoint:
        first = methods(await evolve(tmp_path, endpoint.base_url, seed=7))
        again = methods(await evolve(tmp_path, endpoint.base_url, seed=7))
        other = methods(await evolve(tmp_path, endpoint.base_url, seed=8))
        only_depth = methods(await evolve(tmp_path, endpoint.base_url, seed=7, breadth_percent=0))
    assert first == again
    assert first != other
    assert len({tuple(m) for m in first}) > 1  # records differ from one another
    assert all(m != "breadth" for record in only_depth for m in record)


async def test_the_evol_instruct_example_runs(tmp_path: Path) -> None:
    source = EXAMPLES / "evol-instruct" / "config.yaml"
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.5)) as endpoint:
        data = yaml.safe_load(source.read_text())
        data["models"] = [model(m["alias"], endpoint.base_url) for m in data["models"]]
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        result = await synthloom.acreate(synthloom.load_config(path), 4, tmp_path / "out", resume="never")
        rewrites = [
            r.json_body
            for r in endpoint.requests
            if r.json_body["messages"][-1]["content"].startswith("I want you to act as a prompt")
        ]
    records = list(result)
    assert len(records) == 4 and result.metadata["status"] == "completed"
    for record in records:
        assert set(record) >= {"instruction", "input", "output", "seed_instruction", "evo_evolved"}
        assert record["instruction"] == record["evo_evolved"]["instruction"]
        assert record["output"] == f"Simulated reply to: {record['instruction'][:200]}"
    assert rewrites and all(
        body["temperature"] == 1.0 for body in rewrites
    )  # the example's override of `rewrite`
    assert "evo_evolved.evo_rewrite" in result.usage["columns"]
