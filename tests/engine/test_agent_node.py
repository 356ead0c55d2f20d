"""`agent` nodes in flows, run by the engine against the simulated endpoint: Python tools then a judge,
a two-turn conversation with a simulated user over a shared history (the exact requests), a stdio MCP
server, the `max_turns` bound, and the example."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

import synthloom
from synthloom import DatasetConfig
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model
from .test_tool_use import check_openai_messages, tool_results

HERE = "tests.engine.test_agent_node"
SERVER = Path(__file__).with_name("mcp_tool_server.py")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agent-flow"
SCORES = [{"name": "grounded", "description": "Is it grounded?", "options": {1: "no", 2: "yes"}}]


def lookup(term: str) -> str:
    """Look a term up in the encyclopedia.

    Args:
        term: What to look up.
    """
    return f"{term}: a thing worth knowing"


def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


def order_status(order_id: str) -> str:
    """Where an order is."""
    return f"order {order_id}: shipped"


def arrival(order_id: str) -> str:
    """When an order arrives."""
    return f"order {order_id}: tomorrow"


def agent(tools: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "researcher",
        "type": "agent",
        "model": "bot",
        "system_prompt": "Use the tools.",
        "prompt": "Tell me about {{ topic }}.",
        "tools": tools,
        **extra,
    }


def dataset(base_url: str, flow: dict[str, Any], **run: Any) -> DatasetConfig:
    return DatasetConfig.model_validate(
        {
            "name": "agents",
            "models": [model("bot", base_url), model("grader", base_url)],
            "columns": [
                {
                    "name": "topic",
                    "type": "sampler",
                    "sampler": "category",
                    "params": {"values": ["tides", "moss"]},
                },
                {"name": "study", "type": "flow", **flow},
            ],
            "run": {"buffer_size": 10, **run},
        }
    )


def calls_reply(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """A scripted completion that calls tools: (id, name, arguments) each."""
    tool_calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, n, a in calls
    ]
    message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    return {"body": {"choices": [{"message": message, "finish_reason": "tool_calls"}], "usage": {}}}


def assistant_calls(*calls: tuple[str, str, str]) -> dict[str, Any]:
    """The assistant turn of those calls, as the loop sends it back (arguments re-serialised)."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ],
    }


async def test_an_agent_calls_python_tools_then_a_judge_scores_its_answer(tmp_path: Path) -> None:
    flow = {
        "nodes": [
            agent([{"function": f"{HERE}:lookup"}, {"function": f"{HERE}:multiply", "timeout": 5}]),
            {
                "name": "judge",
                "type": "llm-judge",
                "model": "grader",
                "prompt": "Answer: {{ researcher }}",
                "scores": SCORES,
            },
        ],
        "outputs": {"answer": "researcher", "conversation": "researcher__trajectory", "verdict": "judge"},
        "trajectory": True,
    }
    simulated = SimulatedEndpointConfig(tool_turns=2, tool_calls_per_turn=2)
    async with SimulatedEndpoint(simulated) as endpoint:
        result = await synthloom.acreate(dataset(endpoint.base_url, flow), 12, tmp_path)
        judged = [r.json_body["messages"] for r in endpoint.requests if "tools" not in r.json_body]
    rows = list(result)
    assert len(rows) == 12 and not result.failures
    for row in rows:
        study = row["study"]
        conversation = study["conversation"]
        check_openai_messages(conversation)
        assert conversation[:2] == [
            {"role": "system", "content": "Use the tools."},
            {"role": "user", "content": f"Tell me about {row['topic']}."},
        ]
        assert len(tool_results(conversation)) == 4  # 2 turns of 2 calls
        assert study["answer"] == conversation[-1]["content"]
        assert study["answer"].startswith("Simulated reply to: Tell me about")
        assert study["verdict"]["grounded"]["score"] in (1, 2)
        # The flow's trajectory: the agent's step with the messages it added, then the judge's.
        steps = row["study__trajectory"]
        assert [s["node"] for s in steps] == ["researcher", "judge"]
        assert steps[0]["messages"] == conversation[2:]
        assert steps[0]["output"] == study["answer"] and "messages" not in steps[1]
    # The judge read the agent's answer, not its tool calls.
    answers = {row["study"]["answer"] for row in rows}
    assert len(judged) == 12
    assert all(
        any(a in m["content"] for a in answers for m in msgs if m["role"] == "user") for msgs in judged
    )
    # Usage per node; the flow cell's lineage holds every exchange, tagged by node.
    usage = result.usage["columns"]
    assert usage["study.researcher"]["requests"] == 12 * 3
    assert usage["study.judge"]["requests"] == 12
    cells = [
        cell
        for part in sorted((tmp_path / "agents" / "lineage").glob("part-*.parquet"))
        for cell in pq.read_table(part).to_pylist()
        if cell["column"] == "study"
    ]
    calls = [call for cell in cells for call in json.loads(cell["calls"])]
    tags = [call["tag"] for call in calls if "model" in call]  # the model exchanges
    assert sorted(tags) == ["study.judge"] * 12 + ["study.researcher"] * 36
    # ... and, per agent step, which tools ran.
    tools = [call for call in calls if "tool_mode" in call]
    assert len(tools) == 12 and all(t["tag"] == "study.researcher" and t["tool_calls"] for t in tools)


async def test_an_agent_and_a_simulated_user_share_a_history_for_two_turns() -> None:
    flow = {
        "histories": {
            "chat": {"inject": [{"at_turn": 3, "role": "system", "content": "Order {{ topic }}."}]}
        },
        "max_steps": 4,
        "nodes": [
            {
                "name": "customer",
                "type": "llm-text",
                "model": "grader",
                "system_prompt": "You are a customer.",
                "prompt": "{% if chat.count == 0 %}Ask about your order.{% endif %}",
                "history": {"name": "chat", "speaker": "customer"},
            },
            {
                "name": "support",
                "type": "agent",
                "model": "bot",
                "system_prompt": "You are support.",
                "tools": [{"function": f"{HERE}:order_status"}, {"function": f"{HERE}:arrival"}],
                "history": {"name": "chat", "speaker": "support"},
            },
        ],
        "edges": [
            {"from": "START", "to": "customer"},
            {"from": "customer", "to": "support"},
            {"from": "support", "when": [{"if": "{{ chat.count >= 4 }}", "to": "END"}, {"else": "customer"}]},
        ],
        "outputs": {"chat": "chat", "conversation": "support__trajectory"},
    }
    async with SimulatedEndpoint() as endpoint:
        endpoint.script(
            {"text": "Where is order 42?"},
            calls_reply(("c1", "order_status", {"order_id": "42"})),
            {"text": "Order 42 has shipped."},
            {"text": "When will it arrive?"},
            calls_reply(("c2", "arrival", {"order_id": "42"})),
            {"text": "It arrives tomorrow."},
        )
        result = await synthloom.apreview(dataset(endpoint.base_url, flow), num_records=1)
        sent = [r.json_body for r in endpoint.requests]
    [row] = list(result)
    topic = row["topic"]
    customer_system = {"role": "system", "content": "You are a customer."}
    support_system = {"role": "system", "content": "You are support."}
    injected = {"role": "system", "content": f"Order {topic}."}
    first_call = assistant_calls(("c1", "order_status", '{"order_id":"42"}'))
    first_result = {"role": "tool", "content": "order 42: shipped", "tool_call_id": "c1"}
    second_call = assistant_calls(("c2", "arrival", '{"order_id":"42"}'))
    second_result = {"role": "tool", "content": "order 42: tomorrow", "tool_call_id": "c2"}
    turn_one = [
        support_system,
        {"role": "user", "content": "Where is order 42?"},
        first_call,
        first_result,
        {"role": "assistant", "content": "Order 42 has shipped."},
    ]
    assert [body["messages"] for body in sent] == [
        # The customer opens.
        [customer_system, {"role": "user", "content": "Ask about your order."}],
        # The agent's first turn: the customer as user, then its tool call and the result.
        turn_one[:2],
        turn_one[:4],
        # The customer sees only the agent's answer (as user), then the injected message.
        [
            customer_system,
            {"role": "assistant", "content": "Where is order 42?"},
            {"role": "user", "content": "Order 42 has shipped."},
            injected,
        ],
        # The agent's second turn: its own first turn again, tool calls and results included.
        [*turn_one, injected, {"role": "user", "content": "When will it arrive?"}],
        [
            *turn_one,
            injected,
            {"role": "user", "content": "When will it arrive?"},
            second_call,
            second_result,
        ],
    ]
    agent_requests = [1, 2, 4, 5]
    assert [("tools" in body) for body in sent] == [i in agent_requests for i in range(6)]
    assert {t["function"]["name"] for t in sent[1]["tools"]} == {"order_status", "arrival"}
    assert all("tool_choice" not in body for body in sent)
    # The agent's trajectory is the whole conversation from its side: multi-turn tool-use data.
    conversation = row["study"]["conversation"]
    check_openai_messages(conversation)
    assert conversation == [
        *sent[5]["messages"],
        {"role": "assistant", "content": "It arrives tomorrow."},
    ]
    # The history itself holds the spoken turns, text only, by speaker.
    assert [(t["speaker"], t["content"]) for t in row["study"]["chat"]["turns"]] == [
        ("customer", "Where is order 42?"),
        ("support", "Order 42 has shipped."),
        ("customer", "When will it arrive?"),
        ("support", "It arrives tomorrow."),
    ]


async def test_an_agent_uses_a_stdio_mcp_server_started_once_per_run(tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    tools = [{"mcp": {"command": [sys.executable, str(SERVER)]}, "include": ["add", "server_pid"]}]
    flow = {"nodes": [agent(tools, max_tool_calls=4)], "output": "researcher__trajectory"}
    simulated = SimulatedEndpointConfig(tool_turns=2, tool_calls_per_turn=2)
    async with SimulatedEndpoint(simulated) as endpoint:
        result = await synthloom.acreate(dataset(endpoint.base_url, flow), 10, tmp_path)
    rows = list(result)
    assert len(rows) == 10 and not result.failures
    results = [text for row in rows for text in tool_results(row["study"])]
    assert len(results) == 10 * 4 and all(text.lstrip("-").isdigit() for text in results)
    names = {c["function"]["name"] for row in rows for m in row["study"] for c in m.get("tool_calls") or []}
    assert names == {"add", "server_pid"}
    for row in rows:
        check_openai_messages(row["study"])
    server_pids = {
        text
        for row in rows
        for call_turn, following in _calls_and_results(row["study"])
        for name, text in zip(call_turn, following, strict=True)
        if name == "server_pid"
    }
    assert len(server_pids) == 1  # one server process for the whole run
    assert result.usage["columns"]["study.researcher"]["requests"] == 10 * 3


def _calls_and_results(messages: list[dict[str, Any]]) -> list[tuple[list[str], list[str]]]:
    """Per tool-calling turn: the names called, and the results, in order."""
    out = []
    for index, message in enumerate(messages):
        calls = message.get("tool_calls") or []
        if calls:
            results = [m["content"] for m in messages[index + 1 : index + 1 + len(calls)]]
            out.append(([c["function"]["name"] for c in calls], results))
    return out


async def test_max_turns_makes_the_last_request_answer_without_tools() -> None:
    flow = {
        "nodes": [agent([{"function": f"{HERE}:lookup"}], max_turns=2)],
        "output": "researcher__trajectory",
    }
    simulated = SimulatedEndpointConfig(tool_turns=5, tool_calls_per_turn=1)
    async with SimulatedEndpoint(simulated) as endpoint:
        result = await synthloom.apreview(dataset(endpoint.base_url, flow), num_records=4)
        sent = [r.json_body for r in endpoint.requests]
    rows = list(result)
    assert len(rows) == 4 and not result.failures
    assert len(sent) == 4 * 2
    assert [body.get("tool_choice") for body in sent].count("none") == 4
    for row in rows:
        check_openai_messages(row["study"])
        assert [m["role"] for m in row["study"]] == ["system", "user", "assistant", "tool", "assistant"]


async def test_a_react_agent_still_acting_after_max_turns_fails_its_row_naming_the_node() -> None:
    flow = {
        "nodes": [agent([{"function": f"{HERE}:lookup"}], max_turns=2, tool_mode="react")],
        "output": "researcher",
    }
    simulated = SimulatedEndpointConfig(tool_turns=5)
    async with SimulatedEndpoint(simulated) as endpoint:
        result = await synthloom.apreview(
            dataset(endpoint.base_url, flow, max_failure_rate=1.0), num_records=2
        )
        observed = [
            r.json_body["messages"][-1]["content"]
            for r in endpoint.requests
            if r.json_body["messages"][-1]["content"].startswith("Observation:")
        ]
    assert len(result) == 0 and len(result.failures) == 2
    failure = result.failures[0]
    assert failure["column"] == "study"
    assert "node 'researcher'" in failure["error"]
    assert "still calling tools after max_turns=2" in failure["error"]
    # Told, with the observation before its last turn, that it must answer now.
    assert len(observed) == 2
    assert all(
        o.endswith("That was your last tool call: reply with your Final Answer now.") for o in observed
    )


async def test_the_agent_flow_example_runs_against_the_simulated_endpoint(tmp_path: Path) -> None:
    folder = tmp_path / "agent-flow"
    shutil.copytree(EXAMPLE, folder)
    data = yaml.safe_load((folder / "config.yaml").read_text())
    simulated = SimulatedEndpointConfig(tool_turns=1, tool_calls_per_turn=2)
    async with SimulatedEndpoint(simulated) as endpoint:
        data["models"] = [model(m["alias"], endpoint.base_url) for m in data["models"]]
        (folder / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        config = synthloom.load_config(folder / "config.yaml")
        result = await synthloom.acreate(config, 4, tmp_path / "out", resume="never")
    rows = list(result)
    assert len(rows) == 4 and not result.failures
    for row in rows:
        conversation = row["support"]["conversation"]
        check_openai_messages(conversation)
        assert tool_results(conversation)
        assert [m["role"] for m in conversation].count("user") == 2
        assert row["turns"] == len(conversation)
        assert row["support"]["verdict"]["helpful"]["score"] in (1, 2, 3)
    assert {"support.agent", "support.customer", "support.grade"} <= set(result.usage["columns"])
