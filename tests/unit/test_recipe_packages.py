"""Recipes published by another package through the `synthloom.recipes` entry point: listed and shown by
`synthloom recipes`, in the reference, and included with `{recipe: NAME}` like the built-in ones."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import synthloom
from synthloom.interface.cli import cli

RECIPE = """\
description: |
  Shouted greetings: a greeting about a topic, upper-cased.
params:
  topic:
    description: the column naming the topic
  model:
    description: the model alias that writes
columns:
  - {name: greeting, type: llm-text, model: "${model}", prompt: "Greet someone who likes {{ ${topic} }}."}
  - {name: loud, type: expression, expr: "{{ greeting | upper }}"}
"""


@pytest.fixture
def installed_recipe_package(tmp_path: Path) -> Iterator[Path]:
    """A real installed distribution (a dist-info folder on sys.path) publishing one recipe."""
    package = tmp_path / "site"
    (package / "greeting_recipes").mkdir(parents=True)
    (package / "greeting_recipes" / "shouted.yaml").write_text(RECIPE)
    (package / "greeting_recipes" / "__init__.py").write_text(
        "from pathlib import Path\nSHOUTED = Path(__file__).parent / 'shouted.yaml'\n"
        "MISSING = Path(__file__).parent / 'nope.yaml'\n"
    )
    info = package / "greeting_recipes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: greeting-recipes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[synthloom.recipes]\nshouted-greeting = greeting_recipes:SHOUTED\n"
        "broken = greeting_recipes:MISSING\nself-refine = greeting_recipes:SHOUTED\n"
    )
    sys.path.insert(0, str(package))
    try:
        yield package
    finally:
        sys.path.remove(str(package))
        sys.modules.pop("greeting_recipes", None)


def test_an_installed_recipe_is_listed_shown_and_included(
    installed_recipe_package: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, ["recipes", "list", "--json"])
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert entries["shouted-greeting"]["origin"] == "greeting-recipes"
    assert entries["shouted-greeting"]["description"].startswith("Shouted greetings")
    assert entries["self-refine"]["origin"] == "builtin"  # a plugin cannot take a built-in name
    assert "broken" not in entries  # its file does not exist: left out, logged

    shown = CliRunner().invoke(cli, ["recipes", "show", "shouted-greeting"])
    assert shown.exit_code == 0 and "topic (required): the column naming the topic" in shown.output
    reference = CliRunner().invoke(cli, ["reference", "--json"])
    assert "shouted-greeting" in {r["name"] for r in json.loads(reference.stdout)["recipes"]}

    config = tmp_path / "config.yaml"
    config.write_text(
        "models: [{alias: w, provider: openai, base_url: 'http://127.0.0.1:9/v1', model: x}]\n"
        "columns:\n"
        "  - {name: hobby, type: sampler, sampler: category, params: {values: [chess]}}\n"
        "  - {recipe: shouted-greeting, params: {topic: hobby, model: w}}\n"
    )
    plan = synthloom.validate(config)
    assert [c.name for c in plan.columns] == ["hobby", "greeting", "loud"]


def test_an_unknown_recipe_names_the_closest(installed_recipe_package: Path) -> None:
    result = CliRunner().invoke(cli, ["recipes", "show", "shouted-greting"])
    assert result.exit_code == 2 and "did you mean 'shouted-greeting'?" in result.output
