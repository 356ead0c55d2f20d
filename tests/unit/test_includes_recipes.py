"""The recipe library: every recipe loads and validates from its required parameters alone, documents its
parameters, and can be namespaced and overridden like any included file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import synthloom
import synthloom.config as config_package
from synthloom.config.recipe_library import RECIPES_DIR, recipe_description, recipe_names, recipe_path
from synthloom.errors import ConfigError

REQUIRED = {
    "self-refine": {"task": "{{ question }}", "model": "writer"},
    "critique-revise": {"task": "{{ question }}", "model": "writer"},
    "evol-instruct": {"instruction": "question", "model": "writer"},
}
COLUMNS = {
    "self-refine": {"answer": "refine"},
    "critique-revise": {"revised": "flow"},
    "evol-instruct": {"evolved": "flow", "response": "llm-text"},
}


def config_with(tmp_path: Path, entry: dict[str, Any]) -> Path:
    data = {
        "models": [{"alias": "writer", "provider": "local"}, {"alias": "critic", "provider": "local"}],
        "columns": [
            {
                "name": "question",
                "type": "sampler",
                "sampler": "category",
                "params": {"values": ["a?", "b?"]},
            },
            entry,
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_library_ships_its_recipes_inside_the_package() -> None:
    assert set(REQUIRED) <= set(recipe_names())
    assert RECIPES_DIR.parent == Path(config_package.__file__).resolve().parent.parent
    assert recipe_path("no-such-recipe") is None


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_a_recipe_validates_from_its_required_parameters(tmp_path: Path, name: str) -> None:
    path = config_with(tmp_path, {"recipe": name, "params": REQUIRED[name]})
    config = synthloom.load_config(path)
    assert {c.name: c.type for c in config.columns[1:]} == COLUMNS[name]
    plan = synthloom.validate(config)
    first = plan.column(next(iter(COLUMNS[name])))
    assert first.depends_on == {"question"}
    assert plan.model_aliases == {"writer"}  # every model parameter defaults to `model`


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_a_recipe_under_a_prefix_with_its_models_split(tmp_path: Path, name: str) -> None:
    models = {
        "self-refine": {"judge_model": "critic"},
        "critique-revise": {"critic_model": "critic"},
        "evol-instruct": {"judge_model": "critic", "answer_model": "critic"},
    }[name]
    path = config_with(tmp_path, {"recipe": name, "prefix": "r", "params": {**REQUIRED[name], **models}})
    plan = synthloom.validate(path)
    assert {c.name for c in plan.columns} == {"question"} | {f"r_{c}" for c in COLUMNS[name]}
    assert plan.model_aliases == {"writer", "critic"}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_a_recipe_documents_itself_and_every_parameter(name: str) -> None:
    path = recipe_path(name)
    assert path is not None
    text = path.read_text()
    assert text.startswith("#"), "a recipe opens with a comment saying what it does and how to include it"
    data = yaml.safe_load(text)
    assert recipe_description(name)
    for param, spec in data["params"].items():
        assert spec.get("description"), f"{name}: parameter '{param}' has no description"
    required = {p for p, spec in data["params"].items() if "default" not in spec}
    assert required == set(REQUIRED[name])


def test_evol_instruct_overrides_reach_a_node_of_its_flow(tmp_path: Path) -> None:
    entry = {
        "recipe": "evol-instruct",
        "prefix": "evo",
        "params": {**REQUIRED["evol-instruct"], "rounds": 4, "depth_methods": ["deepen"]},
        "overrides": {"rewrite": {"model": "critic", "inference": {"temperature": 1.0}}},
    }
    config = synthloom.load_config(config_with(tmp_path, entry))
    flow = config.column("evo_evolved")
    nodes = {node.name: node for node in flow.nodes}  # type: ignore[attr-defined]
    rewrite = nodes["evo_rewrite"]
    assert rewrite.model == "critic" and rewrite.inference.temperature == 1.0
    assert flow.state["evo_depth_methods"] == ["deepen"]  # type: ignore[attr-defined]
    assert "{{ evo_round >= 4 }}" in [b.condition for e in flow.edges for b in e.when or []]  # type: ignore[attr-defined]
    synthloom.validate(config)


def test_a_recipe_parameter_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    entry = {"recipe": "self-refine", "params": {**REQUIRED["self-refine"], "max_iteration": 2}}
    with pytest.raises(ConfigError) as info:
        synthloom.load_config(config_with(tmp_path, entry))
    message = str(info.value)
    assert "config.yaml:" in message and "field 'params.max_iteration'" in message
    assert (
        "unknown parameter 'max_iteration' of recipe 'self-refine' (did you mean 'max_iterations'?" in message
    )


def test_recipe_text_in_a_user_file_reads_the_same(tmp_path: Path) -> None:
    """A recipe is an ordinary included file: copied next to a config, it includes by path the same."""
    path = recipe_path("critique-revise")
    assert path is not None
    (tmp_path / "mine.yaml").write_text(path.read_text())
    by_name = synthloom.load_config(
        config_with(tmp_path, {"recipe": "critique-revise", "params": REQUIRED["critique-revise"]})
    )
    by_path = synthloom.load_config(
        config_with(tmp_path, {"include": "mine.yaml", "params": REQUIRED["critique-revise"]})
    )
    assert by_name.to_dict() == by_path.to_dict()


def test_an_override_naming_no_node_of_the_recipe_is_refused(tmp_path: Path) -> None:
    entry = {
        "recipe": "evol-instruct",
        "params": REQUIRED["evol-instruct"],
        "overrides": {"rewriter": {"model": "critic"}},
    }
    with pytest.raises(ConfigError) as info:
        synthloom.load_config(config_with(tmp_path, entry))
    message = str(info.value)
    assert "config.yaml:" in message and "node 'rewriter', field 'overrides'" in message
    assert "recipe 'evol-instruct' has no column or node 'rewriter' (did you mean 'rewrite'?)" in message
