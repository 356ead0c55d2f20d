"""`synthloom reference`: built from the registries at run time (a plugin appears with no docs change),
every field documented, every built-in example valid; `validate --json` lists every error with a fix."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthloom.config.field_docs import field_meanings
from synthloom.config.registry import ColumnTypeRegistry
from synthloom.interface.cli import cli
from synthloom.interface.reference import REFERENCE_SHAPE_VERSION, build_reference, column_type_entry


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_reference_json_has_the_documented_shape() -> None:
    code, out = _run("reference", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["shape"] == REFERENCE_SHAPE_VERSION
    assert set(data) == {
        "shape",
        "synthloom",
        "column_types",
        "samplers",
        "providers",
        "recipes",
        "executors",
        "export_formats",
        "structured_formats",
    }
    names = [t["name"] for t in data["column_types"]]
    assert {"sampler", "llm-text", "llm-structured", "flow", "dedup"} <= set(names)
    for field in data["column_types"][0]["fields"]:
        assert set(field) == {"name", "type", "required", "default", "meaning"}
    assert {p["name"] for p in data["providers"]} >= {"openai", "anthropic", "local"}
    local = next(p for p in data["providers"] if p["name"] == "local")
    assert local["capabilities"]["embeddings"] is True and local["capabilities"]["tools"] is False
    assert {r["name"] for r in data["recipes"]} >= {"self-refine", "evol-instruct"}
    assert [e["name"] for e in data["executors"]] == ["local", "ray"]
    assert data["structured_formats"] == ["json", "yaml", "xml"]


def test_every_builtin_field_and_sampler_parameter_has_a_meaning() -> None:
    data = build_reference()
    missing = [
        f"{entry['name']}.{field['name']}"
        for section in ("column_types", "samplers")
        for entry in data[section]
        if entry.get("origin", "builtin") == "builtin"
        for field in entry["fields"]
        if not field["meaning"]
    ]
    assert missing == []


def test_every_builtin_example_validates() -> None:
    invalid = [t["name"] for t in build_reference()["column_types"] if not t["example_valid"]]
    assert invalid == []


def test_an_installed_plugin_appears_with_its_documented_fields() -> None:
    if not any(ep.name == "shout" for ep in entry_points(group="synthloom.columns")):
        pytest.skip("examples/plugin-shout is not installed (scripts/setup.sh installs it)")
    code, out = _run("reference", "shout", "--json")
    assert code == 0
    entry = json.loads(out)
    assert entry["section"] == "column_types" and entry["origin"] == "synthloom_shout"
    fields = {f["name"]: f for f in entry["fields"]}
    assert fields["source"]["required"] is True
    assert fields["source"]["meaning"] == "The column to shout."
    assert fields["exclamations"]["default"] == 1 and fields["exclamations"]["type"] == "int"
    assert entry["example"]["type"] == "shout" and entry["example_valid"] is True
    code, out = _run("reference")
    assert "[plugin: synthloom_shout]" in out


def test_a_column_type_registered_at_run_time_is_described_from_its_source() -> None:
    from typing import Literal

    from synthloom.config.base import ColumnConfig
    from synthloom.config.registry import ColumnType

    class EchoColumn(ColumnConfig):
        """Repeats a column."""

        type: Literal["echo"] = "echo"
        #: The column repeated.
        source: str
        times: int = 2
        """How many times."""

    registry = ColumnTypeRegistry(group=None)
    registry.register(ColumnType("echo", EchoColumn, "x:y"))
    entry = column_type_entry(registry.get("echo"))
    fields = {f["name"]: f for f in entry["fields"]}
    assert fields["source"]["meaning"] == "The column repeated."
    assert fields["times"]["meaning"] == "How many times." and fields["times"]["default"] == 2
    assert entry["summary"] == "Repeats a column."
    assert entry["example"] == {"name": "my_echo", "type": "echo", "source": "..."}
    assert field_meanings(EchoColumn)["name"].startswith("The column's name")


def test_reference_of_one_name_and_an_unknown_name() -> None:
    code, out = _run("reference", "category")
    assert code == 0 and "`values`" in out and "**required**" in out
    code, out = _run("reference", "llm-structured", "--markdown")
    assert code == 0 and "| `format` |" in out and "```yaml" in out
    code, out = _run("reference", "llm-strctured")
    assert code == 2 and "did you mean 'llm-structured'?" in out
    code, out = _run("reference", "--all")
    assert code == 0 and "## Column types" in out and "### `dedup`" in out


BAD = """\
models:
  - {alias: m, provider: openai, base_url: "http://127.0.0.1:9/v1", model: x}
columns:
  - name: topic
    type: sampler
    sampler: category
    params: {values: [a, b]}
  - name: answer
    type: llm-text
    model: m
    promt: "hi {{ topic }}"
  - name: grade
    type: expression
    expr: "{{ answer }}"
    dtype: integer
"""


def test_validate_json_lists_every_error_with_position_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    code, out = _run("validate", str(path), "--json")
    assert code == 2
    report = json.loads(out[: out.rindex("}") + 1])
    assert report["valid"] is False and report["exit_code"] == 2
    by_field = {e["field"]: e for e in report["errors"]}
    assert set(by_field) == {"prompt", "promt", "dtype"}
    typo = by_field["promt"]
    assert (typo["file"], typo["line"], typo["col"], typo["column"]) == (str(path), 11, 5, "answer")
    assert typo["fix"] == "rename 'promt' to 'prompt'"
    assert by_field["prompt"]["fix"] == "add 'prompt'"
    assert by_field["dtype"]["line"] == 15 and by_field["dtype"]["col"] == 5
    assert "'int'" in by_field["dtype"]["fix"]
    for entry in report["errors"]:
        assert list(entry) == ["file", "line", "col", "column", "node", "field", "model", "message", "fix"]


def test_validate_json_plan_error_names_the_reference_fix(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(
        BAD.replace("promt", "prompt").replace("integer", "int").replace("{{ answer }}", "{{ answr }}")
    )
    code, out = _run("validate", str(path), "--json")
    assert code == 2
    report = json.loads(out[: out.rindex("}") + 1])
    (only,) = report["errors"]
    assert only["column"] == "grade" and only["field"] == "expr"
    assert only["fix"] == "use 'answer'"
