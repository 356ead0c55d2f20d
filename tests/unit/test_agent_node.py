"""`agent` node configs: what they plan to, and each mistake refused through `synthloom.validate` and
`synthloom validate` (exit 2) with the file, the column, the node and the field."""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import synthloom
from synthloom.columns.flow.config import AgentNode, FlowColumn
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli

MODELS = [{"alias": "bot", "provider": "local"}, {"alias": "sim", "provider": "local"}]
SCORES = [{"name": "helpful", "description": "Helpful?", "options": {1: "no", 2: "yes"}}]


def support_flow() -> dict[str, Any]:
    """A simulated customer and a support agent sharing a history, then a judge."""
    return {
        "models": copy.deepcopy(MODELS),
        "columns": [
            {"name": "order", "type": "sampler", "sampler": "category", "params": {"values": ["A1", "B2"]}},
            {
                "name": "support",
                "type": "flow",
                "histories": {"chat": {"inject": [{"at_turn": 3, "content": "Order {{ order }}."}]}},
                "max_steps": 5,
                "nodes": [
                    {
                        "name": "customer",
                        "type": "llm-text",
                        "model": "sim",
                        "prompt": "{% if chat.count == 0 %}Ask about order {{ order }}.{% endif %}",
                        "history": {"name": "chat", "speaker": "customer"},
                    },
                    {
                        "name": "agent",
                        "type": "agent",
                        "model": "bot",
                        "system_prompt": "Use the tools.",
                        "tools": [
                            {"function": "agentcfg_tools:order_status", "timeout": 5},
                            {"module": "agentcfg_tools", "exclude": ["order_status"]},
                        ],
                        "history": {"name": "chat", "speaker": "agent"},
                        "max_tool_calls": 3,
                        "max_turns": 4,
                        "tool_mode": "react",
                    },
                    {
                        "name": "grade",
                        "type": "llm-judge",
                        "model": "bot",
                        "prompt": "{{ chat.turns }}",
                        "scores": SCORES,
                    },
                ],
                "edges": [
                    {"from": "START", "to": "customer"},
                    {"from": "customer", "to": "agent"},
                    {
                        "from": "agent",
                        "when": [{"if": "{{ chat.count >= 4 }}", "to": "grade"}, {"else": "customer"}],
                    },
                    {"from": "grade", "to": "END"},
                ],
                "outputs": {"conversation": "agent__trajectory", "verdict": "grade"},
            },
        ],
    }


def agent_of(config: dict[str, Any]) -> dict[str, Any]:
    return config["columns"][1]["nodes"][1]  # type: ignore[no-any-return]


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "agentcfg_tools.py").write_text(
        "__all__ = ['order_status', 'refund_policy']\n\n"
        "def order_status(order_id: str) -> str:\n    'Where an order is.'\n    return 'shipped'\n\n"
        "def refund_policy(kind: str) -> str:\n    'Refund rules.'\n    return '30 days'\n"
    )
    monkeypatch.delitem(sys.modules, "agentcfg_tools", raising=False)
    yield tmp_path


def write(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---- what a valid agent plans to --------------------------------------------------------------------


def test_an_agent_node_plans_with_its_trajectory_as_a_state_key(config_dir: Path) -> None:
    config = synthloom.load_config(write(config_dir, support_flow()))
    plan = synthloom.validate(config)
    assert [c.name for c in plan.columns] == ["order", "support"]
    assert plan.column("support").depends_on == {"order"}
    flow = config.columns[1]
    assert isinstance(flow, FlowColumn)
    agent = flow.node("agent")
    assert isinstance(agent, AgentNode)
    assert agent.side_columns() == ["agent__trajectory"]
    assert "agent__trajectory" in flow.state_keys()
    assert flow.model_aliases() == {
        "nodes.customer.model": "sim",
        "nodes.agent.model": "bot",
        "nodes.grade.model": "bot",
    }
    assert (agent.max_tool_calls, agent.max_turns, agent.tool_mode) == (3, 4, "react")


def test_an_agent_config_reads_back_from_its_own_dump(config_dir: Path) -> None:
    """The run directory keeps `to_dict()`: the node keeps the `type` that selects the agent kind."""
    config = synthloom.load_config(write(config_dir, support_flow()))
    again = synthloom.DatasetConfig.model_validate(config.to_dict())
    assert again.to_dict() == config.to_dict()
    flow = again.columns[1]
    assert isinstance(flow, FlowColumn) and isinstance(flow.node("agent"), AgentNode)


def test_an_agent_speaking_in_a_history_needs_no_prompt_but_one_alone_does(config_dir: Path) -> None:
    config = support_flow()
    assert "prompt" not in agent_of(config)
    synthloom.validate(write(config_dir, config))
    del agent_of(config)["history"]
    with pytest.raises(ConfigError, match="node 'agent', field 'prompt': required unless the agent speaks"):
        synthloom.validate(write(config_dir, config))


# ---- mistakes ---------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]

BAD_AGENTS: list[Any] = [
    pytest.param(
        lambda a: a.pop("model"),
        ("field 'model'", "an agent needs a model"),
        id="no-model",
    ),
    pytest.param(
        lambda a: a.update(model="gpt"),
        ("field 'model'", "unknown model alias 'gpt'"),
        id="unknown-model",
    ),
    pytest.param(
        lambda a: a.pop("tools"),
        ("field 'tools'", "an agent needs 'tools'"),
        id="no-tools",
    ),
    pytest.param(
        lambda a: a["tools"].__setitem__(0, {"function": "agentcfg_tools:order_stats"}),
        ("field 'tools[0].function'", "cannot import 'agentcfg_tools:order_stats'"),
        id="unknown-tool-function",
    ),
    pytest.param(
        lambda a: a["tools"].__setitem__(1, {"module": "agentcfg_nowhere"}),
        ("field 'tools[1].module'", "agentcfg_nowhere"),
        id="unknown-tool-module",
    ),
    pytest.param(
        lambda a: a["tools"].append({"mcp": {"command": ["synthloom-no-such-mcp-server"]}}),
        ("field 'tools[2].mcp.command'", "command 'synthloom-no-such-mcp-server' is not found"),
        id="mcp-command-not-found",
    ),
    pytest.param(
        lambda a: a.update(tool_mode="native"),
        ("field 'tool_mode'", "provider 'local' of model 'bot' has no native tool calls"),
        id="native-tools-on-a-provider-without-them",
    ),
    pytest.param(
        lambda a: a["history"].update(name="talk"),
        ("field 'history.name'", "unknown history 'talk'"),
        id="unknown-history",
    ),
    pytest.param(
        lambda a: a.update(system_prompt="{{ ordr }}"),
        ("field 'system_prompt'", "unknown name 'ordr'"),
        id="unknown-name-in-a-template",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_AGENTS)
def test_validate_names_the_node_and_field_of_a_bad_agent(
    config_dir: Path, mutate: Mutation, expected: tuple[str, ...]
) -> None:
    config = support_flow()
    mutate(agent_of(config))
    path = write(config_dir, config)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert re.search(r"agent\.yaml:\d+, column 'support', node 'agent', ", message), message
    assert [e for e in expected if e not in message] == [], message


@pytest.mark.parametrize(("mutate", "expected"), BAD_AGENTS)
def test_cli_validate_exits_2_on_a_bad_agent(
    config_dir: Path, mutate: Mutation, expected: tuple[str, ...]
) -> None:
    config = support_flow()
    mutate(agent_of(config))
    result = CliRunner().invoke(cli, ["validate", str(write(config_dir, config))])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error:") and "Traceback" not in result.stderr
    assert [e for e in expected if e not in result.stderr] == [], result.stderr


BAD_FIELDS: list[Any] = [
    pytest.param({"max_turns": 0}, "max_turns", id="max-turns-zero"),
    pytest.param({"max_tool_calls": 0}, "max_tool_calls", id="max-tool-calls-zero"),
    pytest.param({"tool_mode": "sometimes"}, "tool_mode", id="unknown-tool-mode"),
    pytest.param({"trajectory": "value"}, "an agent's value is its final answer", id="trajectory-as-value"),
    pytest.param({"max_steps": 3}, "max_steps", id="unknown-field"),
]


@pytest.mark.parametrize(("change", "expected"), BAD_FIELDS)
def test_bad_agent_fields_are_config_errors_naming_the_column(
    config_dir: Path, change: dict[str, Any], expected: str
) -> None:
    config = support_flow()
    agent_of(config).update(change)
    path = write(config_dir, config)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    assert "column 'support'" in str(info.value) and expected in str(info.value), str(info.value)
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 2
