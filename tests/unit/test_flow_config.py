"""Flow, conversation and refine configs: what they plan to, and every mistake refused with the file,
the column, the node and the field, through `synthloom.validate` and `synthloom validate` (exit 2)."""

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
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli

MODELS = [{"alias": "writer", "provider": "local"}, {"alias": "judge", "provider": "local"}]
SCORES = [{"name": "correct", "description": "Is it right?", "options": {0: "wrong", 1: "right"}}]


def critique_loop() -> dict[str, Any]:
    return {
        "models": copy.deepcopy(MODELS),
        "columns": [
            {"name": "problem", "type": "sampler", "sampler": "category", "params": {"values": ["a", "b"]}},
            {
                "name": "solution",
                "type": "flow",
                "state": {"attempts": 0},
                "max_steps": 8,
                "nodes": [
                    {
                        "name": "draft",
                        "type": "llm-code",
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
                "outputs": {"code": "draft", "verdict": "critique"},
                "trajectory": True,
            },
            {"name": "after", "type": "expression", "expr": "{{ solution.code }}"},
        ],
    }


def flow_of(config: dict[str, Any]) -> dict[str, Any]:
    return config["columns"][1]  # type: ignore[no-any-return]


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "flowcfg_helpers.py").write_text("def route(state):\n    return 'ok'\n\nNOT_CALLABLE = 3\n")
    monkeypatch.delitem(sys.modules, "flowcfg_helpers", raising=False)
    yield tmp_path


def write(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / "flow.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---- what a valid flow plans to ---------------------------------------------------------------------


def test_flow_depends_on_the_columns_its_nodes_read_not_on_its_state(config_dir: Path) -> None:
    plan = synthloom.validate(write(config_dir, critique_loop()))
    solution = plan.column("solution")
    assert solution.depends_on == {"problem"}  # draft, critique, attempts are state keys
    assert plan.column("after").depends_on == {"solution"}
    assert plan.model_aliases == {"writer", "judge"}
    assert plan.output_columns == ["problem", "solution", "solution__trajectory", "after"]


def test_flow_without_edges_runs_its_nodes_in_order(config_dir: Path) -> None:
    config = critique_loop()
    flow = flow_of(config)
    del flow["edges"], flow["max_steps"]
    assert synthloom.validate(write(config_dir, config)).column("solution").depends_on == {"problem"}


def test_on_max_steps_keep_adds_the_exhausted_side_column(config_dir: Path) -> None:
    config = critique_loop()
    flow_of(config)["on_max_steps"] = "keep"
    plan = synthloom.validate(write(config_dir, config))
    assert "solution__exhausted" in plan.output_columns


def test_presets_plan_to_the_columns_they_read(config_dir: Path) -> None:
    config = {
        "models": copy.deepcopy(MODELS),
        "columns": [
            {"name": "persona", "type": "sampler", "sampler": "category", "params": {"values": ["a"]}},
            {"name": "topic", "type": "sampler", "sampler": "category", "params": {"values": ["b"]}},
            {
                "name": "dialog",
                "type": "conversation",
                "user": {"model": "writer", "persona": "{{ persona }}", "prompt": "Ask about {{ topic }}"},
                "assistant": {"model": "judge", "system_prompt": "Be helpful."},
                "turns": {"min": 2, "max": 3},
                "stop_when": "{{ 'bye' in user_message }}",
                "judge": {"model": "judge", "scores": SCORES},
            },
            {
                "name": "answer",
                "type": "refine",
                "generate": {"model": "writer", "prompt": "Explain {{ topic }}"},
                "judge": {"model": "judge", "scores": SCORES},
                "threshold": {"score": "correct", "min": 1},
            },
        ],
    }
    plan = synthloom.validate(write(config_dir, config))
    assert plan.column("dialog").depends_on == {"persona", "topic"}
    assert plan.column("answer").depends_on == {"topic"}
    assert plan.output_columns[-3:] == ["dialog", "dialog__judgements", "answer", "answer__trajectory"][-3:]


# ---- mistakes ---------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _edges(flow: dict[str, Any]) -> list[dict[str, Any]]:
    return flow["edges"]  # type: ignore[no-any-return]


def _add_node(flow: dict[str, Any], node: dict[str, Any]) -> None:
    flow["nodes"].append(node)


def _route(flow: dict[str, Any], paths: dict[str, str], router: str = "flowcfg_helpers:route") -> None:
    _edges(flow)[2] = {"from": "critique", "router": router, "paths": paths}


def _insert_nested_flow(flow: dict[str, Any], node: dict[str, Any]) -> None:
    _add_node(flow, {"name": "inner", "type": "flow", "nodes": [node]})
    _edges(flow)[3] = {"from": "count", "to": "inner"}
    _edges(flow).append({"from": "inner", "to": "draft"})


BAD_FLOWS: list[Any] = [
    pytest.param(
        lambda f: _edges(f)[1].update(to="critque"),
        ("field 'edges.1.to'", "unknown node 'critque'", "did you mean 'critique'?"),
        id="unknown-node-in-edge",
    ),
    pytest.param(
        lambda f: _edges(f)[0].update({"from": "begin"}),
        ("field 'edges.0.from'", "unknown node 'begin'"),
        id="unknown-node-as-edge-source",
    ),
    pytest.param(
        lambda f: _add_node(f, {"name": "lonely", "type": "expression", "expr": "1"}),
        ("node 'lonely'", "field 'edges'", "no edge reaches this node"),
        id="node-no-edge-reaches",
    ),
    pytest.param(
        lambda f: (
            _add_node(f, {"name": "polish", "type": "expression", "expr": "1"}),
            _edges(f)[2]["when"].__setitem__(0, {"if": "{{ critique.correct.score == 1 }}", "to": "polish"}),
        ),
        ("node 'polish'", "field 'edges'", "no outgoing edge"),
        id="node-with-no-way-out",
    ),
    pytest.param(
        lambda f: _route(f, {"ok": "END", "again": "cont"}),
        ("field 'edges.2.paths.again'", "unknown node 'cont'", "did you mean 'count'?"),
        id="path-map-names-missing-node",
    ),
    pytest.param(
        lambda f: _edges(f).__setitem__(2, {"from": "critique", "router": "flowcfg_helpers:route"}),
        ("field 'edges.2'", "'router' and 'paths' go together"),
        id="router-without-paths",
    ),
    pytest.param(
        lambda f: _route(f, {"ok": "END", "again": "count"}, "flowcfg_helpers:NOT_CALLABLE"),
        ("field 'edges.2.router'", "not a callable"),
        id="router-not-callable",
    ),
    pytest.param(
        lambda f: _route(f, {"ok": "END", "again": "count"}, "flowcfg_nowhere:route"),
        ("field 'edges.2.router'", "cannot import 'flowcfg_nowhere:route'"),
        id="router-not-importable",
    ),
    pytest.param(
        lambda f: f.update(inputs=["problme"]),
        ("field 'inputs'", "unknown name 'problme'", "did you mean 'problem'?"),
        id="unknown-flow-input",
    ),
    pytest.param(
        lambda f: _edges(f).__setitem__(2, {"from": "critique", "to": "count"}),
        ("node 'draft'", "field 'edges'", "the cycle draft -> critique -> count -> draft has no way out"),
        id="cycle-without-conditional-exit",
    ),
    pytest.param(
        lambda f: f.pop("max_steps"),
        ("field 'max_steps'", "the flow has a cycle (draft -> critique -> count -> draft)"),
        id="cycle-without-max-steps",
    ),
    pytest.param(
        lambda f: f["nodes"][0].update(prompt="Solve {{ problm }}"),
        ("node 'draft'", "field 'prompt'", "unknown name 'problm'", "did you mean 'problem'?"),
        id="unknown-name-in-node-template",
    ),
    pytest.param(
        lambda f: _edges(f)[2]["when"][0].update({"if": "{{ critic.correct.score == 1 }}"}),
        ("field 'edges.2.when.0.if'", "unknown name 'critic'", "did you mean 'critique'?"),
        id="unknown-name-in-edge-condition",
    ),
    pytest.param(
        lambda f: _edges(f)[2]["when"][0].update({"if": "{{ config }}"}),
        ("field 'edges.2.when.0.if'", "unknown name 'config'"),
        id="hostile-condition-reaching-for-config",
    ),
    pytest.param(
        lambda f: _edges(f)[2]["when"][0].update({"if": "{{ critique.correct.score == 1 "}),
        ("field 'edges.2.when.0.if'", "template syntax error"),
        id="condition-syntax-error",
    ),
    pytest.param(
        lambda f: f["nodes"][1].update(model="critic"),
        ("node 'critique'", "field 'model'", "unknown model alias 'critic'"),
        id="unknown-model-in-node",
    ),
    pytest.param(
        lambda f: f["outputs"].update(code="drat"),
        ("field 'outputs.code'", "unknown state key 'drat'", "did you mean 'draft'?"),
        id="output-names-unknown-state-key",
    ),
    pytest.param(
        lambda f: _edges(f).append({"from": "draft", "to": "END"}),
        ("field 'edges.4.from'", "a second edge from 'draft'"),
        id="two-edges-from-one-node",
    ),
    pytest.param(
        lambda f: _edges(f)[2].update(when=[{"else": "count"}, {"if": "{{ true }}", "to": "END"}]),
        ("field 'edges.2'", "'else' must be the last branch"),
        id="else-not-last",
    ),
    pytest.param(
        lambda f: _edges(f).pop(0),
        ("field 'edges'", "no edge from START"),
        id="no-edge-from-start",
    ),
    pytest.param(
        lambda f: f["nodes"][2].update(name="draft"),
        ("node 'draft'", "field 'name'", "two nodes have this name"),
        id="duplicate-node-name",
    ),
    pytest.param(
        lambda f: f["nodes"][0].update(history={"name": "chat", "speaker": "a"}),
        ("node 'draft'", "field 'history.name'", "unknown history 'chat'"),
        id="undeclared-history",
    ),
    pytest.param(
        lambda f: f["nodes"][0].pop("prompt"),
        ("node 'draft'", "field 'prompt'", "required unless the node speaks in a history"),
        id="llm-node-without-prompt",
    ),
    pytest.param(
        lambda f: f["nodes"][2].update(writes="problem"),
        ("node 'draft'", "field 'prompt'", "'problem' is both a state key of the flow and a column"),
        id="state-key-shadows-a-column",
    ),
    pytest.param(
        lambda f: _insert_nested_flow(f, {"name": "deep", "type": "expression", "expr": "{{ nothere }}"}),
        ("node 'inner.deep'", "field 'expr'", "unknown name 'nothere'"),
        id="nested-flow-names-the-node-path",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_FLOWS)
def test_validate_names_the_node_and_field_of_a_bad_flow(
    config_dir: Path, mutate: Mutation, expected: tuple[str, ...]
) -> None:
    config = critique_loop()
    mutate(flow_of(config))
    path = write(config_dir, config)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert re.search(r"flow\.yaml:\d+, column 'solution'", message), message
    assert [e for e in expected if e not in message] == [], message


@pytest.mark.parametrize(("mutate", "expected"), BAD_FLOWS)
def test_cli_validate_exits_2_on_a_bad_flow(
    config_dir: Path, mutate: Mutation, expected: tuple[str, ...]
) -> None:
    config = critique_loop()
    mutate(flow_of(config))
    result = CliRunner().invoke(cli, ["validate", str(write(config_dir, config))])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error:")
    assert "Traceback" not in result.stderr
    assert [e for e in expected if e not in result.stderr] == [], result.stderr


def test_node_error_lines_point_into_the_flow(config_dir: Path) -> None:
    config = critique_loop()
    flow_of(config)["nodes"][0]["prompt"] = "{{ problm }}"
    path = write(config_dir, config)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    line = info.value.line
    assert line is not None
    assert "nodes:" in path.read_text().splitlines()[line - 1]


BAD_PRESETS: list[Any] = [
    pytest.param(
        {"name": "d", "type": "conversation", "user": {"model": "writer"}, "assistant": {"model": "judge"}},
        ("column 'd'", "give 'turns', 'stop_when' or both"),
        id="conversation-without-turns-or-stop",
    ),
    pytest.param(
        {
            "name": "d",
            "type": "conversation",
            "user": {"model": "writer"},
            "assistant": {"model": "judge"},
            "turns": {"min": 4, "max": 2},
        },
        ("column 'd'", "field 'turns", "min is larger than max"),
        id="conversation-turn-range-reversed",
    ),
    pytest.param(
        {
            "name": "d",
            "type": "conversation",
            "user": {"model": "writer", "persona": "{{ nobody }}"},
            "assistant": {"model": "judge"},
            "turns": 2,
        },
        ("column 'd'", "node 'user'", "unknown name 'nobody'"),
        id="conversation-persona-unknown-name",
    ),
    pytest.param(
        {
            "name": "d",
            "type": "conversation",
            "user": {"model": "writer"},
            "assistant": {"model": "bot"},
            "turns": 2,
        },
        ("column 'd'", "node 'assistant'", "field 'model'", "unknown model alias 'bot'"),
        id="conversation-unknown-model",
    ),
    pytest.param(
        {
            "name": "r",
            "type": "refine",
            "generate": {"model": "writer", "prompt": "x"},
            "judge": {"model": "judge", "scores": SCORES},
            "threshold": {"score": "clarity", "min": 4},
        },
        ("column 'r'", "threshold.score 'clarity' is not one of the judge's scores (correct)"),
        id="refine-threshold-unknown-score",
    ),
    pytest.param(
        {
            "name": "r",
            "type": "refine",
            "generate": {"model": "writer", "prompt": "x"},
            "judge": {"model": "judge", "scores": SCORES},
        },
        ("column 'r'", "give one of 'until'"),
        id="refine-without-stop",
    ),
    pytest.param(
        {
            "name": "r",
            "type": "refine",
            "generate": {"model": "writer", "prompt": "x"},
            "judge": {"model": "judge", "scores": SCORES},
            "until": "{{ judgment.correct.score == 1 }}",
        },
        ("column 'r'", "field 'until'", "unknown name 'judgment'", "did you mean 'judgement'?"),
        id="refine-until-unknown-name",
    ),
]


@pytest.mark.parametrize(("column", "expected"), BAD_PRESETS)
def test_bad_presets_are_refused_with_the_column_and_field(
    config_dir: Path, column: dict[str, Any], expected: tuple[str, ...]
) -> None:
    path = write(config_dir, {"models": copy.deepcopy(MODELS), "columns": [column]})
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    assert [e for e in expected if e not in str(info.value)] == [], str(info.value)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize("example", ["critique-loop", "debate", "sft-chat", "self-refine"])
def test_flow_configs_read_back_from_their_own_dump(example: str) -> None:
    """The run directory keeps `to_dict()`: nested nodes keep the `type` that selects their kind."""
    path = Path(__file__).resolve().parents[2] / "examples" / example / "config.yaml"
    config = synthloom.load_config(path)
    again = synthloom.DatasetConfig.model_validate(config.to_dict())
    assert again.to_dict() == config.to_dict()
