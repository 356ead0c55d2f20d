"""The shipped SKILL.md: printed by `synthloom skill`, and every command it names runs as it says
(against the simulated endpoint, in a separate process)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthloom.interface.cli import cli
from synthloom.interface.cli_reference import skill_text
from synthloom.testing import SimulatedEndpointConfig
from synthloom.testing.subprocess_endpoint import subprocess_endpoint

CONFIG = """\
name: my-dataset
models:
  - {{alias: writer, provider: openai, base_url: "{base_url}", model: sim, timeout: 10}}
columns:
  - name: topic
    type: sampler
    sampler: category
    params: {{values: [cooking, travel]}}
  - name: question
    type: llm-text
    model: writer
    prompt: "Ask one question about {{{{ topic }}}}."
  - name: answer
    type: llm-structured
    model: writer
    prompt: "Answer: {{{{ question }}}}"
    schema:
      type: object
      properties: {{text: {{type: string}}}}
      required: [text]
"""


def skill_commands() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", skill_text(), re.DOTALL)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


@pytest.fixture
def base_url() -> Iterator[str]:
    with subprocess_endpoint(SimulatedEndpointConfig()) as url:
        yield url


def test_skill_prints_the_shipped_file() -> None:
    result = CliRunner().invoke(cli, ["skill"])
    assert result.exit_code == 0
    assert result.output == skill_text()
    assert result.output.startswith("---\nname: synthloom\n")
    path = CliRunner().invoke(cli, ["skill", "--path"]).output.strip()
    assert Path(path).read_text(encoding="utf-8") == skill_text()


def test_every_command_the_skill_names_runs(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("config.yaml").write_text(CONFIG.format(base_url=base_url))
    commands = skill_commands()
    verbs = [c[1] for c in commands]
    assert verbs == ["reference", "reference", "validate", "preview", "create", "report"]
    outputs = {}
    for command in commands:
        assert command[0] == "synthloom"
        result = CliRunner().invoke(cli, command[1:])
        assert result.exit_code == 0, (command, result.output)
        outputs[command[1]] = result.stdout
    assert json.loads(outputs["validate"])["valid"] is True
    records = [json.loads(line) for line in outputs["preview"].splitlines()]
    assert len(records) == 2 and all(isinstance(r["answer"]["text"], str) for r in records)
    created = json.loads(outputs["create"])
    assert created["records"] == 20 and Path(created["path"]).resolve() == tmp_path / "output" / "my-dataset"
    report = json.loads(outputs["report"])
    assert report["records"] == 20 and Path(report["report"]).is_file()


def test_the_skill_exit_code_table_matches_the_cli(tmp_path: Path) -> None:
    from synthloom.interface import cli as cli_module

    text = skill_text()
    assert f"| {cli_module.EXIT_USER_ERROR} | the config" in text
    assert f"| {cli_module.EXIT_RUN_FAILED} | the run failed" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [{name: a, type: sampler, sampler: categry}]\n")
    result = CliRunner().invoke(cli, ["validate", str(bad), "--json"])
    assert result.exit_code == cli_module.EXIT_USER_ERROR
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["errors"][0]["fix"]
