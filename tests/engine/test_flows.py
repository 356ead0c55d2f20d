"""Flows run by the engine against the simulated endpoint: critique loops, routers, debates with shared
histories, conversations, refinement, usage per node, filtering and failure inside a flow, and
kill-and-resume of a run whose cells are flows."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig, subprocess_endpoint

from .conftest import model

SCORES = [{"name": "correct", "description": "Is it right?", "options": {0: "wrong", 1: "right"}}]


def critique_loop(base_url: str, *, max_steps: int = 30, **flow: Any) -> dict[str, Any]:
    return {
        "name": "critique",
        "models": [model("writer", base_url), model("judge", base_url)],
        "columns": [
            {"name": "problem", "type": "sampler", "sampler": "uuid"},
            {
                "name": "solution",
                "type": "flow",
                "state": {"attempts": 0},
                "max_steps": max_steps,
                "nodes": [
                    {
                        "name": "draft",
                        "type": "llm-text",
                        "model": "writer",
                        "prompt": "Solve: {{ problem }}"
                        "{% if critique %} Fix: {{ critique.correct.reasoning }}{% endif %}",
                    },
                    {
                        "name": "critique",
                        "type": "llm-judge",
                        "model": "judge",
                        "prompt": "Check: {{ draft }}",
                        "scores": SCORES,
                    },
                    {
                        "name": "count",
                        "type": "expression",
                        "expr": "{{ attempts + 1 }}",
                        "dtype": "int",
                        "writes": "attempts",
                    },
                ],
                "edges": [
                    {"from": "START", "to": "draft"},
                    {"from": "draft", "to": "critique"},
                    {
                        "from": "critique",
                        "when": [{"if": "{{ critique.correct.score == 1 }}", "to": "END"}, {"else": "count"}],
                    },
                    {"from": "count", "to": "draft"},
                ],
                "outputs": {"code": "draft", "verdict": "critique", "attempts": "attempts"},
                "trajectory": True,
                **flow,
            },
            {"name": "after", "type": "expression", "expr": "{{ solution.verdict.correct.score }}"},
        ],
        "run": {"buffer_size": 10},
    }


def _llm_steps(trajectory: list[dict[str, Any]]) -> int:
    return sum(1 for step in trajectory if step["node"] in ("draft", "critique"))


async def test_critique_loop_ends_when_the_judge_accepts_and_the_trajectory_records_every_step() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.4)) as endpoint:
        result = await synthloom.apreview(DatasetConfig.model_validate(critique_loop(endpoint.base_url)), 30)
        requests = endpoint.stats()["requests"]
    rows = list(result)
    assert len(rows) == 30
    for row in rows:
        solution, trajectory = row["solution"], row["solution__trajectory"]
        assert solution["verdict"]["correct"]["score"] == 1 and row["after"] == "1"
        assert [s["step"] for s in trajectory] == list(range(1, len(trajectory) + 1))
        nodes = [s["node"] for s in trajectory]
        assert nodes == ["draft", "critique"] + ["count", "draft", "critique"] * solution["attempts"]
        assert [s["next"] for s in trajectory] == [*nodes[1:], "END"]
        assert trajectory[-1]["output"] == solution["verdict"]
        # Each step records the state keys it read, as it read them.
        assert trajectory[0]["inputs"] == {"critique": None}
        for before, after in itertools.pairwise(trajectory):
            if after["node"] == "critique":
                assert after["inputs"] == {"draft": before["output"]}
        if solution["attempts"]:
            assert "Fix: " in solution["code"]
    # Some rows were rejected at least once, and the server saw exactly the LLM steps recorded.
    assert any(row["solution"]["attempts"] > 0 for row in rows)
    assert requests == sum(_llm_steps(r["solution__trajectory"]) for r in rows)


async def test_exhausted_flow_fails_its_row_by_default() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.0)) as endpoint:
        config = DatasetConfig.model_validate(critique_loop(endpoint.base_url, max_steps=5))
        result = await synthloom.apreview(config, 4)
        assert endpoint.stats()["requests"] == 4 * 4  # draft, critique, (count), draft, critique
    assert len(result) == 0
    assert len(result.failures) == 4
    for failure in result.failures:
        assert failure["column"] == "solution"
        assert "max_steps=5" in failure["error"]


async def test_exhausted_flow_with_keep_keeps_the_row_flagged() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.0)) as endpoint:
        config = critique_loop(endpoint.base_url, max_steps=5, on_max_steps="keep")
        rows = list(await synthloom.apreview(DatasetConfig.model_validate(config), 4))
    assert len(rows) == 4
    for row in rows:
        assert row["solution__exhausted"] is True
        assert len(row["solution__trajectory"]) == 5
        assert row["solution"]["verdict"]["correct"]["score"] == 0


async def test_accepted_flows_are_not_flagged_exhausted() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=1.0)) as endpoint:
        config = critique_loop(endpoint.base_url, max_steps=5, on_max_steps="keep")
        rows = list(await synthloom.apreview(DatasetConfig.model_validate(config), 3))
    assert [r["solution__exhausted"] for r in rows] == [False, False, False]
    assert all(len(r["solution__trajectory"]) == 2 for r in rows)


async def test_a_transient_error_in_a_node_is_retried_in_place_not_by_rerunning_the_flow(
    endpoint: SimulatedEndpoint,
) -> None:
    endpoint.update(accept_rate=1.0)
    endpoint.script({"status": 503})
    config = DatasetConfig.model_validate(critique_loop(endpoint.base_url))
    rows = list(await synthloom.apreview(config, 1))
    assert [s["node"] for s in rows[0]["solution__trajectory"]] == ["draft", "critique"]
    assert endpoint.stats()["requests"] == 3  # the draft twice (503, then its retry), the critique once


# ---- model-free flows: routers, filters, failures, reproducibility ----------------------------------


def parity(state: dict[str, Any]) -> str:
    """A router: the path named by the parity of `n`."""
    return "even" if state["n"] % 2 == 0 else "odd"


def model_free(flow: dict[str, Any], **run: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "columns": [
                {
                    "name": "n",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": list(range(10))},
                },
                {"name": "f", "type": "flow", **flow},
            ],
            "run": {"buffer_size": 10, **run},
        }
    )


def test_router_takes_the_path_its_function_names() -> None:
    config = model_free(
        {
            "nodes": [
                {"name": "even", "type": "expression", "expr": "{{ n }} is even"},
                {"name": "odd", "type": "expression", "expr": "{{ n }} is odd"},
            ],
            "edges": [
                {
                    "from": "START",
                    "router": "tests.engine.test_flows:parity",
                    "paths": {"even": "even", "odd": "odd"},
                },
                {"from": "even", "to": "END"},
                {"from": "odd", "to": "END"},
            ],
            "trajectory": True,
        }
    )
    rows = list(synthloom.preview(config, 40))
    assert len(rows) == 40
    for row in rows:
        kind = "even" if row["n"] % 2 == 0 else "odd"
        assert row["f"] == {
            "even": f"{row['n']} is even" if kind == "even" else None,
            "odd": f"{row['n']} is odd" if kind == "odd" else None,
        }
        assert [s["node"] for s in row["f__trajectory"]] == [kind]


def test_a_router_answering_outside_its_paths_fails_the_row() -> None:
    config = model_free(
        {
            "inputs": ["n"],
            "nodes": [{"name": "even", "type": "expression", "expr": "x"}],
            "edges": [
                {"from": "START", "router": "tests.engine.test_flows:parity", "paths": {"even": "even"}},
                {"from": "even", "to": "END"},
            ],
        }
    )
    result = synthloom.preview(config, 30)
    assert 0 < len(result.failures) < 30
    assert all("returned 'odd', not one of its paths (even)" in f["error"] for f in result.failures)


def test_filter_node_filters_the_whole_row() -> None:
    config = model_free(
        {
            "nodes": [
                {"name": "big", "type": "filter", "condition": "{{ n >= 5 }}"},
                {"name": "label", "type": "expression", "expr": "big {{ n }}"},
            ],
            "output": "label",
        }
    )
    result = synthloom.preview(config, 50)
    assert all(row["n"] >= 5 and row["f"] == f"big {row['n']}" for row in result)
    assert len(result) + len(result.filtered) == 50 and result.filtered
    assert all(f["column"] == "f" and "node 'big'" in f["reason"] for f in result.filtered)
    assert not result.failures


def test_node_failure_fails_the_row_naming_the_node() -> None:
    config = model_free(
        {
            "nodes": [
                {"name": "ok", "type": "expression", "expr": "{{ n }}", "dtype": "int"},
                {"name": "bad", "type": "expression", "expr": "{{ 'x' if ok > 4 else ok }}", "dtype": "int"},
            ]
        }
    )
    result = synthloom.preview(config, 40)
    assert all(row["n"] <= 4 and row["f"] == {"ok": row["n"], "bad": row["n"]} for row in result)
    assert result.failures
    for failure in result.failures:
        assert failure["column"] == "f"
        assert failure["error"].startswith("node 'bad' (step 2) failed:")


def test_hostile_edge_condition_is_refused_and_leaks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHLOOM_FLOW_CANARY", "canary-flow-secret")
    config = model_free(
        {
            "nodes": [{"name": "a", "type": "expression", "expr": "1"}],
            "edges": [
                {"from": "START", "to": "a"},
                {"from": "a", "when": [{"if": "{{ cycler.__init__.__globals__.os.environ }}", "to": "END"}]},
            ],
        }
    )
    result = synthloom.preview(config, 5)
    assert len(result) == 0 and len(result.failures) == 5
    for failure in result.failures:
        assert failure["error_type"] == "SecurityError"
        assert "not allowed" in failure["error"]
        assert "canary-flow-secret" not in json.dumps(failure)


def test_a_flow_reruns_reproducibly_and_draws_per_record() -> None:
    config = model_free(
        {
            "state": {"picks": [], "i": 0},
            "max_steps": 20,
            "nodes": [
                {
                    "name": "pick",
                    "type": "expression",
                    "expr": "{{ picks + [['a', 'b', 'c', 'd', 'e'] | random] }}",
                    "dtype": "json",
                    "writes": "picks",
                },
                {"name": "step", "type": "expression", "expr": "{{ i + 1 }}", "dtype": "int", "writes": "i"},
            ],
            "edges": [
                {"from": "START", "to": "pick"},
                {"from": "pick", "to": "step"},
                {"from": "step", "when": [{"if": "{{ i < 5 }}", "to": "pick"}]},
            ],
            "output": "picks",
        }
    )
    first = [row["f"] for row in synthloom.preview(config, 20)]
    again = [row["f"] for row in synthloom.preview(config, 20)]
    assert first == again
    assert all(len(picks) == 5 for picks in first)
    assert len({tuple(p) for p in first}) > 10  # per record and per step, not one draw for all


def test_nested_flow_reads_the_outer_state_and_writes_its_value() -> None:
    config = model_free(
        {
            "state": {"base": 100},
            "nodes": [
                {"name": "start", "type": "expression", "expr": "{{ base + n }}", "dtype": "int"},
                {
                    "name": "inner",
                    "type": "flow",
                    "state": {"k": 2},
                    "nodes": [
                        {"name": "times", "type": "expression", "expr": "{{ start * k }}", "dtype": "int"},
                    ],
                    "output": "times",
                },
                {"name": "done", "type": "expression", "expr": "{{ inner + 1 }}", "dtype": "int"},
            ],
            "output": "done",
        }
    )
    for row in synthloom.preview(config, 10):
        assert row["f"] == (100 + row["n"]) * 2 + 1


# ---- chat histories -------------------------------------------------------------------------------


def debate_config(base_url: str) -> dict[str, Any]:
    final = "{{ 'FINAL ANSWER' in debate.last }}"
    return {
        "models": [model("m", base_url)],
        "columns": [
            {"name": "topic", "type": "sampler", "sampler": "uuid"},
            {
                "name": "debate_log",
                "type": "flow",
                "histories": {
                    "debate": {
                        "window": 3,
                        "inject": [{"at_turn": 4, "role": "system", "content": "Wrap up, {{ topic }}."}],
                    }
                },
                "max_steps": 10,
                "on_max_steps": "keep",
                "nodes": [
                    {
                        "name": "alice",
                        "type": "llm-text",
                        "model": "m",
                        "system_prompt": "You are Alice.",
                        "prompt": "{% if debate.count == 0 %}Open the debate on {{ topic }}.{% endif %}",
                        "history": {"name": "debate", "speaker": "alice"},
                    },
                    {
                        "name": "bob",
                        "type": "llm-text",
                        "model": "m",
                        "system_prompt": "You are Bob.",
                        "history": {"name": "debate", "speaker": "bob"},
                    },
                ],
                "edges": [
                    {"from": "START", "to": "alice"},
                    {"from": "alice", "when": [{"if": final, "to": "END"}, {"else": "bob"}]},
                    {"from": "bob", "when": [{"if": final, "to": "END"}, {"else": "alice"}]},
                ],
                "output": "debate",
                "trajectory": True,
            },
        ],
    }


async def test_two_personas_debate_until_final_answer_with_each_side_labelled() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(final_answer_rate=0.2)) as endpoint:
        result = await synthloom.apreview(DatasetConfig.model_validate(debate_config(endpoint.base_url)), 8)
        sent = [r.json_body["messages"] for r in endpoint.requests]
    rows = list(result)
    assert len(rows) == 8
    assert len(sent) == sum(len(r["debate_log__trajectory"]) for r in rows)
    for row in rows:
        turns = row["debate_log"]["turns"]
        steps = row["debate_log__trajectory"]
        assert [t["speaker"] for t in turns] == [s["node"] for s in steps]
        assert [t["speaker"] for t in turns] == ["alice", "bob"] * (len(turns) // 2) + ["alice"] * (
            len(turns) % 2
        )
        if not row["debate_log__exhausted"]:
            assert turns[-1]["content"].endswith("FINAL ANSWER")
            assert all("FINAL ANSWER" not in t["content"] for t in turns[:-1])
        else:
            assert len(turns) == 10
        # The exact messages each turn was asked with: own turns as assistant, the other's as user,
        # the last 3 turns only, the injected system message before turn 4.
        for k, speaker in enumerate(t["speaker"] for t in turns):
            history: list[dict[str, Any]] = []
            for j, turn in enumerate(turns[:k]):
                if j == 3:
                    history.append({"role": "system", "content": f"Wrap up, {row['topic']}."})
                history.append(
                    {
                        "role": "assistant" if turn["speaker"] == speaker else "user",
                        "content": turn["content"],
                    }
                )
            if k == 3:
                history.append({"role": "system", "content": f"Wrap up, {row['topic']}."})
            spoken = [i for i, m in enumerate(history) if m["role"] != "system"]
            if len(spoken) > 3:
                history = history[spoken[-3] :]
            expected = [{"role": "system", "content": f"You are {speaker.title()}."}, *history]
            if k == 0:
                expected.append({"role": "user", "content": f"Open the debate on {row['topic']}."})
            assert expected in sent, (k, speaker, expected)
    assert any(not r["debate_log__exhausted"] for r in rows)


async def test_conversation_of_four_turns_is_an_alternating_messages_list(
    endpoint: SimulatedEndpoint,
) -> None:
    config = DatasetConfig.model_validate(
        {
            "models": [model("user_sim", endpoint.base_url), model("bot", endpoint.base_url)],
            "columns": [
                {
                    "name": "persona",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["a chef", "a pilot"]},
                },
                {
                    "name": "chat",
                    "type": "conversation",
                    "user": {"model": "user_sim", "persona": "{{ persona }}"},
                    "assistant": {"model": "bot", "system_prompt": "You help {{ persona }}."},
                    "turns": 4,
                },
            ],
        }
    )
    rows = list(await synthloom.apreview(config, 6))
    assert endpoint.stats()["requests"] == 6 * 8
    for row in rows:
        messages = row["chat"]
        assert messages[0] == {"role": "system", "content": f"You help {row['persona']}."}
        assert [m["role"] for m in messages[1:]] == ["user", "assistant"] * 4
        assert all(isinstance(m["content"], str) and m["content"] for m in messages)
    # The simulated user saw the persona, its own turns as assistant and the bot's as user.
    user_requests = [
        r.json_body["messages"]
        for r in endpoint.requests
        if "role-playing" in r.json_body["messages"][0]["content"]
    ]
    assert len(user_requests) == 6 * 4
    last = max(user_requests, key=len)
    assert [m["role"] for m in last] == [
        "system",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]


async def test_conversation_turns_sampled_per_record_reproducibly(endpoint: SimulatedEndpoint) -> None:
    data = {
        "models": [model("m", endpoint.base_url)],
        "columns": [
            {"name": "id", "type": "sampler", "sampler": "uuid"},
            {
                "name": "chat",
                "type": "conversation",
                "user": {"model": "m", "prompt": "Hello {{ id }}"},
                "assistant": {"model": "m"},
                "turns": {"min": 1, "max": 4},
                "judge": {"model": "m", "scores": SCORES},
            },
        ],
    }
    first = list(await synthloom.apreview(DatasetConfig.model_validate(data), 30))
    again = list(await synthloom.apreview(DatasetConfig.model_validate(data), 30))
    lengths = [len(r["chat"]) for r in first]
    assert lengths == [len(r["chat"]) for r in again]
    assert set(lengths) <= {2, 4, 6, 8} and len(set(lengths)) > 1
    for row in first:
        assert len(row["chat__judgements"]) == len(row["chat"]) // 2
        assert all(set(j) == {"correct"} for j in row["chat__judgements"])


async def test_conversation_stops_when_its_condition_holds() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(final_answer_rate=0.3)) as endpoint:
        data = {
            "models": [model("m", endpoint.base_url)],
            "columns": [
                {"name": "id", "type": "sampler", "sampler": "uuid"},
                {
                    "name": "chat",
                    "type": "conversation",
                    "user": {"model": "m", "prompt": "Hi {{ id }}"},
                    "assistant": {"model": "m"},
                    "stop_when": "{{ 'FINAL ANSWER' in assistant_message }}",
                },
            ],
        }
        rows = list(await synthloom.apreview(DatasetConfig.model_validate(data), 20))
    for row in rows:
        replies = [m["content"] for m in row["chat"] if m["role"] == "assistant"]
        assert all("FINAL ANSWER" not in r for r in replies[:-1])
        assert "FINAL ANSWER" in replies[-1] or len(replies) == 10
    assert len({len(r["chat"]) for r in rows}) > 1


async def test_refine_stops_at_the_threshold_or_after_max_iterations() -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.3)) as endpoint:
        data = {
            "models": [model("w", endpoint.base_url), model("j", endpoint.base_url)],
            "columns": [
                {"name": "topic", "type": "sampler", "sampler": "uuid"},
                {
                    "name": "answer",
                    "type": "refine",
                    "generate": {"model": "w", "prompt": "Explain {{ topic }}."},
                    "judge": {
                        "model": "j",
                        "scores": [
                            {
                                "name": "quality",
                                "description": "How good?",
                                "options": {1: "poor", 2: "ok", 3: "good"},
                            }
                        ],
                    },
                    "threshold": {"score": "quality", "min": 3},
                    "max_iterations": 3,
                },
            ],
        }
        rows = list(await synthloom.apreview(DatasetConfig.model_validate(data), 30))
        requests = endpoint.stats()["requests"]
    calls = 0
    for row in rows:
        answer, trajectory = row["answer"], row["answer__trajectory"]
        nodes = [s["node"] for s in trajectory]
        judged = nodes.count("judge")
        assert answer["iterations"] == judged
        assert answer["judgement"] == [s["output"] for s in trajectory if s["node"] == "judge"][-1]
        scores = [s["output"]["quality"]["score"] for s in trajectory if s["node"] == "judge"]
        assert all(score < 3 for score in scores[:-1])
        assert scores[-1] == 3 or judged == 3
        assert answer["final"] == [s["output"] for s in trajectory if s["node"] in ("generate", "revise")][-1]
        if judged > 1:
            revise = next(s for s in trajectory if s["node"] == "revise")
            assert "draft" in revise["inputs"] and "judgement" in revise["inputs"]
        calls += sum(1 for n in nodes if n != "count")
    assert requests == calls  # judged against the calls it actually made
    assert {r["answer"]["iterations"] for r in rows} > {1}


async def test_usage_is_accounted_per_node_and_the_flow_column_counts_its_cells(tmp_path: Path) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig(accept_rate=0.5)) as endpoint:
        config = DatasetConfig.model_validate(critique_loop(endpoint.base_url))
        result = await synthloom.acreate(config, 20, tmp_path)
    usage = json.loads((tmp_path / "critique" / "usage.json").read_text())
    rows = list(result)
    drafts = sum(1 for r in rows for s in r["solution__trajectory"] if s["node"] == "draft")
    critiques = sum(1 for r in rows for s in r["solution__trajectory"] if s["node"] == "critique")
    assert usage["columns"]["solution.draft"]["requests"] == drafts
    assert usage["columns"]["solution.critique"]["requests"] == critiques
    assert usage["columns"]["solution"]["cells_done"] == 20
    assert usage["models"]["writer"]["requests"] == drafts
    # The flow cell's lineage holds every node's exchanges, tagged by node.
    cells = [
        c
        for part in sorted((tmp_path / "critique" / "lineage").glob("part-*.parquet"))
        for c in pq.read_table(part).to_pylist()
        if c["column"] == "solution"
    ]
    assert len(cells) == 20
    tags = [call["tag"] for cell in cells for call in json.loads(cell["calls"])]
    assert sorted(set(tags)) == ["solution.critique", "solution.draft"]
    assert len(tags) == drafts + critiques


# ---- kill and resume --------------------------------------------------------------------------------

RECORDS = 60


def test_sigkill_mid_flow_then_resume_gives_exactly_the_requested_records(tmp_path: Path) -> None:
    with subprocess_endpoint(SimulatedEndpointConfig(latency=0.01, jitter=0.5, accept_rate=0.5)) as base_url:
        data = critique_loop(base_url)
        data["name"] = "killed"
        data["columns"][0] = {"name": "id", "type": "sampler", "sampler": "uuid"}
        draft = data["columns"][1]["nodes"][0]
        draft["prompt"] = draft["prompt"].replace("problem", "id")
        data["run"] = {"buffer_size": 10, "max_row_groups_in_flight": 2}
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(data))
        out = tmp_path / "out"
        run = out / "killed"
        command = [
            sys.executable,
            "-m",
            "synthloom",
            "create",
            str(config),
            "-n",
            str(RECORDS),
            "-o",
            str(out),
            "--no-progress",
        ]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _parts(run) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert len(_parts(run)) < RECORDS // 10
        resumed = subprocess.run(command, capture_output=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    ids: list[str] = []
    for part in _parts(run):
        table = pq.read_table(part)
        ids.extend(table.column("id").to_pylist())
        for solution in table.column("solution").to_pylist():
            assert json.loads(solution)["verdict"]["correct"]["score"] == 1
    assert len(ids) == RECORDS and len(set(ids)) == RECORDS
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "completed" and meta["committed_records"] == RECORDS


def _parts(run: Path) -> list[Path]:
    return sorted((run / "data").glob("part-*.parquet")) if (run / "data").exists() else []


# ---- the examples ---------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLOW_EXAMPLES = ["critique-loop", "debate", "sft-chat", "self-refine"]


@pytest.mark.parametrize("name", FLOW_EXAMPLES)
async def test_flow_example_runs_against_the_simulated_endpoint(name: str, tmp_path: Path) -> None:
    simulated = SimulatedEndpointConfig(accept_rate=0.5, final_answer_rate=0.3)
    async with SimulatedEndpoint(simulated) as endpoint:
        simulate = endpoint._simulated_text

        def with_code(payload: dict[str, Any], messages: list[Any]) -> str:
            # The simulator's plain text holds no code block: fence it for the code-writing node.
            text = simulate(payload, messages)
            return f"```python\n# {text[:60]}\npass\n```" if "programmer" in str(messages[0]) else text

        endpoint._simulated_text = with_code  # type: ignore[method-assign]
        data = yaml.safe_load((EXAMPLES / name / "config.yaml").read_text())
        data["models"] = [model(m["alias"], endpoint.base_url) for m in data["models"]]
        result = await synthloom.acreate(DatasetConfig.model_validate(data), 6, tmp_path, resume="never")
    assert result.metadata["status"] == "completed"
    rows = list(result)
    assert len(rows) == 6 and not result.failures
    flow_column = next(c for c in data["columns"] if c["type"] in ("flow", "conversation", "refine"))["name"]
    assert all(row[flow_column] for row in rows)
    assert any(tag.startswith(f"{flow_column}.") for tag in result.usage["columns"])
