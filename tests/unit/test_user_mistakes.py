"""A user's mistake exits 2 from every command (validate, preview, create, models check), with one
message naming the file, the column and the field; a run-time failure is not a user mistake.

Also: a config imports helper modules that sit next to it, from any working directory, with no
PYTHONPATH."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.interface.cli import cli

HELPERS = """\
from pydantic import BaseModel

NotAModel = 42
not_callable = "hello"


class Answer(BaseModel):
    answer: str


def shout(row):
    return str(row["word"]).upper()


def long_enough(values):
    return {"is_valid": len(values["word"]) > 2, "length": len(values["word"])}
"""

WORD = "  - {name: word, type: sampler, sampler: category, params: {values: [hi, hello]}}\n"
MODELS = "models:\n  - {alias: w, provider: local}\n"

#: (id, config text, the facts the message must state)
PLAN_MISTAKES = [
    (
        "schema-not-a-model",
        MODELS + "columns:\n  - {name: a, type: llm-structured, model: w, prompt: hi, "
        "schema: 'mistake_helpers:NotAModel'}\n",
        ["mistake.yaml:4", "column 'a'", "field 'schema'", "not a Pydantic model class"],
    ),
    (
        "custom-not-callable",
        "columns:\n  - {name: a, type: custom, function: 'mistake_helpers:not_callable'}\n",
        ["mistake.yaml:2", "column 'a'", "field 'function'", "not a callable"],
    ),
    (
        "validator-callable-not-callable",
        "columns:\n" + WORD + "  - {name: v, type: validation, validator: callable, targets: [word], "
        "function: 'mistake_helpers:NotAModel'}\n",
        ["mistake.yaml:3", "column 'v'", "field 'function'", "not a callable"],
    ),
    (
        "unknown-filter",
        "columns:\n" + WORD + "  - {name: b, type: expression, expr: '{{ word | uper }}'}\n",
        ["mistake.yaml:3", "column 'b'", "field 'expr'", "unknown filter 'uper'", "did you mean 'upper'?"],
    ),
    (
        "unknown-test",
        "columns:\n" + WORD + "  - {name: b, type: expression, "
        "expr: '{% if word is frobbed %}1{% endif %}'}\n",
        ["mistake.yaml:3", "column 'b'", "field 'expr'", "unknown test 'frobbed'"],
    ),
]

COMMANDS = {
    "validate": lambda path, out: ["validate", str(path)],
    "preview": lambda path, out: ["preview", str(path), "-n", "2"],
    "create": lambda path, out: ["create", str(path), "-n", "2", "-o", str(out), "--no-progress"],
}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "mistake_helpers", raising=False)
    (tmp_path / "mistake_helpers.py").write_text(HELPERS)
    yield tmp_path
    sys.modules.pop("mistake_helpers", None)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(("text", "facts"), [pytest.param(t, f, id=i) for i, t, f in PLAN_MISTAKES])
def test_plan_mistakes_exit_2_from_every_command(
    folder: Path, command: str, text: str, facts: list[str]
) -> None:
    path = folder / "mistake.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, COMMANDS[command](path, folder / "out"))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error:") and "Traceback" not in result.output
    missing = [fact for fact in facts if fact not in result.stderr]
    assert not missing, result.stderr
    assert not (folder / "out").exists()


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        (
            "columns:\n  - {name: a, type: sampler, sampler: uuid, drop: maybe}\n",
            ["column 'a'", "field 'drop'"],
        ),
        (
            "models:\n  - {alias: w, provider: local, timout: 5}\n"
            "columns: [{name: a, type: sampler, sampler: uuid}]\n",
            ["model 'w'", "field 'timout'", "did you mean 'timeout'?"],
        ),
        ("columns: [\n", ["invalid YAML"]),
    ],
    ids=["column-field", "model-field", "yaml"],
)
def test_models_check_exits_2_for_a_config_error(tmp_path: Path, text: str, facts: list[str]) -> None:
    path = tmp_path / "mistake.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["models", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and "mistake.yaml" in result.stderr
    assert all(fact in result.stderr for fact in facts), result.stderr


def test_models_check_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["models", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "config file not found" in result.stderr


def test_schema_command_needs_no_plugin_import_at_package_import() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    mapping = json.loads(result.stdout)["$defs"]
    assert any(d.get("properties", {}).get("type", {}).get("const") == "custom" for d in mapping.values())


# ---- remote validators fail their cell, they are not model endpoints -------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_remote_validator_fails_its_cells_at_once_with_a_validator_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/check"
    config = (
        synthloom.DatasetBuilder("remote")
        .sampler("word", "category", values=["hi"])
        .column("check", "validation", validator="http", targets=["word"], url=url, timeout=5)
        # A model endpoint outage is waited out up to this deadline; a validator must not be.
        .run(endpoint_deadline=3, cell_retries=0, max_failure_rate=1.0)
        .build()
    )
    result = synthloom.preview(config, num_records=2)
    assert list(result) == []
    assert [f["error_type"] for f in result.failures] == ["ValidatorError", "ValidatorError"]
    assert all("remote validator unreachable" in f["error"] for f in result.failures)
    assert all(f["attempts"] == 1 for f in result.failures)


# ---- helper modules next to the config ------------------------------------------------------------

NEIGHBOUR_CONFIG = """\
name: neighbours
models:
  - {alias: w, provider: local}
columns:
  - {name: word, type: sampler, sampler: category, params: {values: [hi, hello]}}
  - {name: loud, type: custom, function: 'neighbour_helpers:shout', inputs: [word]}
  - name: check
    type: validation
    validator: callable
    targets: [word]
    function: neighbour_helpers:long_enough
  - {name: answer, type: llm-structured, model: w, prompt: "{{ loud }}", schema: 'neighbour_helpers:Answer'}
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # Only synthloom's own source may be on the path, never the config's folder.
    source = Path(synthloom.__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(source)
    return subprocess.run(
        [sys.executable, "-m", "synthloom", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_a_config_imports_helper_modules_next_to_it_from_any_working_directory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "neighbour_helpers.py").write_text(HELPERS)
    config = project / "neighbours.yaml"
    config.write_text(NEIGHBOUR_CONFIG)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    validated = _cli("validate", str(config), cwd=elsewhere)
    assert validated.returncode == 0, validated.stderr
    assert "loud" in validated.stdout and "answer" in validated.stdout

    without_llm = project / "no-llm.yaml"
    without_llm.write_text(NEIGHBOUR_CONFIG.split("  - {name: answer")[0])
    previewed = _cli("preview", str(without_llm), "-n", "4", "--json", cwd=elsewhere)
    assert previewed.returncode == 0, previewed.stderr
    rows = [json.loads(line) for line in previewed.stdout.splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert row["loud"] == row["word"].upper()
        assert row["check"]["is_valid"] == (row["word"] == "hello")


def test_a_missing_helper_module_names_the_config_folder_as_a_place_to_put_it(folder: Path) -> None:
    path = folder / "mistake.yaml"
    path.write_text("columns:\n  - {name: a, type: custom, function: 'not_written_yet:fn'}\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "No module named 'not_written_yet'" in result.stderr
    assert "next to the config file" in result.stderr
