"""Pre and post hooks on LLM columns and flow nodes: the pre hook sees (and may change) the row's inputs
before anything is rendered, the post hook sees the parsed value and returns the cell's; a hook that is
not a callable is a config error naming the column (and node) and field."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.errors import ConfigError
from synthloom.interface.cli import cli
from synthloom.testing import SimulatedEndpoint

HOOKS = """
SEEN = []


def shout_topic(row):
    SEEN.append(("pre", dict(row)))
    return {**row, "topic": row["topic"].upper()}


def in_place(row):
    row["topic"] = "in place " + row["topic"]


def keep_score(value):
    SEEN.append(("post", value))
    return value["ok"]["score"]


def word_count(value):
    SEEN.append(("post", value))
    return len(value.split())


def not_a_dict(row):
    return ["nope"]


def broken(value):
    raise ValueError("no good")


NOT_CALLABLE = 3
"""


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "hooks_for_tests.py").write_text(HOOKS)
    monkeypatch.delitem(sys.modules, "hooks_for_tests", raising=False)
    yield tmp_path


def write(directory: Path, base_url: str, columns: str) -> Path:
    path = directory / "config.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        models:
          - {{alias: writer, provider: openai, base_url: "{base_url}", model: sim, max_parallel_requests: 4}}
        columns:
          - {{name: topic, type: sampler, sampler: category, params: {{values: [tides]}}}}
        """)
        + textwrap.indent(textwrap.dedent(columns), "  ")
    )
    return path


def seen() -> list[tuple[str, object]]:
    return sys.modules["hooks_for_tests"].SEEN  # type: ignore[no-any-return]


async def test_pre_hook_sees_and_changes_the_inputs_before_rendering(config_dir: Path) -> None:
    async with SimulatedEndpoint() as endpoint:
        columns = """\
        - name: question
          type: llm-text
          model: writer
          system_prompt: "Topic {{ topic }}"
          prompt: "Ask about {{ topic }}"
          pre_hook: hooks_for_tests:shout_topic
        - name: other
          type: llm-text
          model: writer
          prompt: "More on {{ topic }}"
          pre_hook: hooks_for_tests:in_place
        """
        result = await synthloom.apreview(
            synthloom.load_config(write(config_dir, endpoint.base_url, columns)), 1
        )
        sent = [r.json_body["messages"] for r in endpoint.requests]
    row = next(iter(result))
    assert row["topic"] == "tides"  # the hook changed what the prompt read, not the column
    assert ("pre", {"topic": "tides"}) in seen()
    assert [
        {"role": "system", "content": "Topic TIDES"},
        {"role": "user", "content": "Ask about TIDES"},
    ] in sent
    assert [{"role": "user", "content": "More on in place tides"}] in sent
    assert row["question"] == "Simulated reply to: Ask about TIDES"


async def test_post_hook_sees_the_parsed_value_and_returns_the_cells_value(config_dir: Path) -> None:
    async with SimulatedEndpoint() as endpoint:
        columns = """\
        - name: grade
          type: llm-judge
          model: writer
          prompt: "Grade {{ topic }}"
          scores: [{name: ok, description: "Good?", options: {0: "no", 1: "yes"}}]
          post_hook: hooks_for_tests:keep_score
        - name: words
          type: llm-text
          model: writer
          prompt: "Say {{ topic }}"
          post_hook: hooks_for_tests:word_count
        """
        result = await synthloom.apreview(
            synthloom.load_config(write(config_dir, endpoint.base_url, columns)), 1
        )
    row = next(iter(result))
    assert row["grade"] in (0, 1) and row["words"] == 5  # "Simulated reply to: Say tides"
    posts = [value for kind, value in seen() if kind == "post"]
    assert "Simulated reply to: Say tides" in posts  # the text, already parsed (stripped)
    judged = next(v for v in posts if isinstance(v, dict))
    assert set(judged) == {"ok"} and set(judged["ok"]) == {"score", "reasoning"}


async def test_hooks_apply_to_flow_nodes(config_dir: Path) -> None:
    async with SimulatedEndpoint() as endpoint:
        columns = """\
        - name: talk
          type: flow
          nodes:
            - name: draft
              type: llm-text
              model: writer
              prompt: "Write on {{ topic }}"
              pre_hook: hooks_for_tests:shout_topic
              post_hook: hooks_for_tests:word_count
          output: draft
        """
        result = await synthloom.apreview(
            synthloom.load_config(write(config_dir, endpoint.base_url, columns)), 1
        )
        prompts = [r.json_body["messages"][-1]["content"] for r in endpoint.requests]
    assert prompts == ["Write on TIDES"]
    assert next(iter(result))["talk"] == 6  # "Simulated reply to: Write on TIDES"


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        ("post_hook: hooks_for_tests:broken", "post_hook hooks_for_tests:broken failed: ValueError: no good"),
        ("pre_hook: hooks_for_tests:not_a_dict", "pre_hook hooks_for_tests:not_a_dict returned list"),
    ],
)
async def test_a_failing_hook_fails_its_row_naming_the_hook(
    config_dir: Path, hook: str, expected: str
) -> None:
    async with SimulatedEndpoint() as endpoint:
        columns = f"""\
        - name: a
          type: llm-text
          model: writer
          prompt: "{{{{ topic }}}}"
          {hook}
        """
        result = await synthloom.apreview(
            synthloom.load_config(write(config_dir, endpoint.base_url, columns)), 2
        )
    assert len(result) == 0 and len(result.failures) == 2
    assert all(expected in f["error"] and f["column"] == "a" for f in result.failures), result.failures


@pytest.mark.parametrize(
    ("hook", "expected"),
    [
        ("hooks_for_tests:NOT_CALLABLE", "'hooks_for_tests:NOT_CALLABLE' is an int, not a callable"),
        ("hooks_for_tests:missing", "cannot import 'hooks_for_tests:missing'"),
        ("no_such_module:f", "No module named 'no_such_module'"),
        ("not a path", "is not an import path"),
    ],
)
@pytest.mark.parametrize("field", ["pre_hook", "post_hook"])
def test_a_hook_that_is_not_a_callable_is_a_config_error(
    config_dir: Path, hook: str, expected: str, field: str
) -> None:
    columns = f"""\
    - {{name: question, type: llm-text, model: writer, prompt: "{{{{ topic }}}}", {field}: "{hook}"}}
    - name: talk
      type: flow
      nodes:
        - {{name: draft, type: llm-text, model: writer, prompt: "{{{{ topic }}}}"}}
    """
    path = write(config_dir, "http://127.0.0.1:9/v1", columns)
    with pytest.raises(ConfigError) as info:
        synthloom.validate(path)
    message = str(info.value)
    assert "config.yaml:" in message and "column 'question'" in message and f"field '{field}'" in message, (
        message
    )
    assert expected in message
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and expected in result.stderr


def test_a_bad_hook_on_a_flow_node_names_the_node(config_dir: Path) -> None:
    columns = """\
    - name: talk
      type: flow
      nodes:
        - name: draft
          type: llm-text
          model: writer
          prompt: "{{ topic }}"
          post_hook: hooks_for_tests:NOT_CALLABLE
    """
    with pytest.raises(ConfigError) as info:
        synthloom.validate(write(config_dir, "http://127.0.0.1:9/v1", columns))
    assert "column 'talk', node 'draft', field 'post_hook'" in str(info.value)
