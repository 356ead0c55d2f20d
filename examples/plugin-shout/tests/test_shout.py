"""The `shout` plugin is indistinguishable from a built-in column type once installed.

The CLI checks run `python -m synthloom` in a fresh interpreter, so the plugin is found the way a user's
shell finds it: through the `synthloom.columns` entry point, with no import in the user's code.

    pip install -e examples/plugin-shout
    pytest examples/plugin-shout/tests
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "example.yaml"

try:
    importlib.metadata.distribution("synthloom-shout")
except importlib.metadata.PackageNotFoundError:
    pytest.skip("pip install -e examples/plugin-shout", allow_module_level=True)

import synthloom  # noqa: E402 - after the skip: only meaningful with the plugin installed
from synthloom.config.registry import column_types  # noqa: E402


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthloom", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shout.yaml"
    path.write_text(text)
    return path


CONFIG = """\
name: shout-test
columns:
  - name: greeting
    type: expression
    expr: "hi {{ n }}"
  - name: n
    type: sampler
    sampler: category
    params: {values: [one, two]}
  - name: loud
    type: shout
    source: greeting
    exclamations: 2
"""


def test_the_entry_point_registers_the_type_like_a_builtin() -> None:
    from synthloom_shout import ShoutColumn, ShoutGenerator

    registered = column_types()["shout"]
    assert registered.config is ShoutColumn
    assert registered.generator_class() is ShoutGenerator
    # The same registry holds the built-ins.
    assert {"sampler", "expression", "llm-text", "shout"} <= set(column_types())


def test_cli_validate_plans_the_plugin_column_after_its_source(tmp_path: Path) -> None:
    result = _cli("validate", "--json", str(_write(tmp_path, CONFIG)))
    assert result.returncode == 0, result.stderr
    assert "shout" in result.stdout and "loud" in result.stdout
    human = _cli("validate", str(EXAMPLE))
    assert human.returncode == 0, human.stderr
    assert "loud" in human.stdout and "shout" in human.stdout


def test_cli_create_writes_shouted_values(tmp_path: Path) -> None:
    config = _write(tmp_path, CONFIG)
    result = _cli("create", str(config), "-n", "5", "-o", str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = list(synthloom.open_run(tmp_path / "out" / "shout-test"))
    assert len(rows) == 5
    for row in rows:
        assert row["greeting"] in ("hi one", "hi two")
        assert row["loud"] == row["greeting"].upper() + "!!"


def test_the_planner_reports_an_unknown_source_with_a_suggestion(tmp_path: Path) -> None:
    config = _write(tmp_path, CONFIG.replace("source: greeting", "source: greting"))
    result = _cli("validate", str(config))
    assert result.returncode == 2
    message = result.stderr + result.stdout
    assert "Traceback" not in message
    assert "'loud'" in message and "source" in message
    assert "greting" in message and "did you mean 'greeting'" in message
    # The same through the Python API.
    with pytest.raises(synthloom.PlanError, match="did you mean 'greeting'"):
        synthloom.validate(synthloom.load_config(config))


def test_config_errors_in_plugin_fields_read_like_builtin_ones(tmp_path: Path) -> None:
    config = _write(tmp_path, CONFIG.replace("exclamations: 2", "exclamation: 2"))
    result = _cli("validate", str(config))
    assert result.returncode == 2
    message = result.stderr + result.stdout
    assert "Traceback" not in message and "'loud'" in message and "exclamation" in message


def test_cli_schema_includes_the_plugin_config() -> None:
    result = _cli("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    text = json.dumps(schema)
    assert '"shout"' in text
    shout = next(
        definition
        for definition in schema.get("$defs", {}).values()
        if definition.get("properties", {}).get("type", {}).get("const") == "shout"
    )
    assert {"name", "type", "source", "exclamations", "drop", "when"} <= set(shout["properties"])
    assert "source" in shout["required"]


def test_python_api_and_builder_use_the_plugin(tmp_path: Path) -> None:
    config = (
        synthloom.DatasetBuilder("shout-api")
        .sampler("word", "category", values=["quiet"])
        .column("loud", "shout", source="word", exclamations=0, when="{{ word == 'quiet' }}")
        .build()
    )
    rows = list(synthloom.preview(config, num_records=3))
    assert [r["loud"] for r in rows] == ["QUIET"] * 3
    result = synthloom.create(config, num_records=3, output=tmp_path)
    assert result.metadata["status"] == "completed"
    assert result.to_arrow().column("loud").to_pylist() == ["QUIET"] * 3


def test_when_false_gives_null_like_a_builtin() -> None:
    config = (
        synthloom.DatasetBuilder("shout-when")
        .sampler("word", "category", values=["a", "b"])
        .column("loud", "shout", source="word", when="{{ word == 'a' }}")
        .build()
    )
    rows = list(synthloom.preview(config, num_records=20))
    assert {r["word"] for r in rows} == {"a", "b"}
    for row in rows:
        assert row["loud"] == ("A!" if row["word"] == "a" else None)


def test_the_plugin_column_type_is_a_flow_node_too(tmp_path: Path) -> None:
    """A flow's nodes are any registered column type: the plugin's included, with no code for it."""
    config = tmp_path / "flow.yaml"
    config.write_text(
        "columns:\n"
        "  - {name: who, type: sampler, sampler: category, params: {values: [world]}}\n"
        "  - name: greet\n"
        "    type: flow\n"
        "    nodes:\n"
        "      - {name: hello, type: expression, expr: 'hello {{ who }}'}\n"
        "      - {name: loud, type: shout, source: hello, exclamations: 2}\n"
        "    edges: [{from: START, to: hello}, {from: hello, to: loud}, {from: loud, to: END}]\n"
        "    output: loud\n"
    )
    preview = synthloom.preview(config, num_records=2)
    assert [row["greet"] for row in preview] == ["HELLO WORLD!!", "HELLO WORLD!!"]
    # A mistake in the plugin's fields inside a node is reported like one in a built-in node.
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("exclamations: 2", "exclamations: 99"))
    with pytest.raises(synthloom.ConfigError) as caught:
        synthloom.validate(bad)
    assert caught.value.column == "greet" and "exclamations" in str(caught.value)
