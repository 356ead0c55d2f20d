"""`synthloom recipes list|show`: the recipe library and the recipes installed packages publish."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml

from synthloom.errors import ConfigError
from synthloom.interface.cli import user_errors

__all__ = ["recipes_group"]


@click.group("recipes")
def recipes_group() -> None:
    """Sub-pipelines to include by name (`columns: [{recipe: NAME, params: {...}}]`)."""


def _entry(name: str) -> dict[str, Any]:
    from synthloom.config.recipe_library import recipe_description, recipe_origin, recipe_path

    return {
        "name": name,
        "description": recipe_description(name),
        "origin": recipe_origin(name),
        "path": str(recipe_path(name)),
    }


@recipes_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print [{name, description, origin, path}] as JSON.")
@user_errors
def list_command(as_json: bool) -> None:
    """Every recipe: built in, or published by an installed package (`synthloom.recipes`)."""
    from synthloom.config.recipe_library import recipe_names

    entries = [_entry(name) for name in recipe_names()]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    width = max((len(e["name"]) for e in entries), default=0)
    for e in entries:
        origin = "" if e["origin"] == "builtin" else f" [{e['origin']}]"
        click.echo(f"{e['name']:<{width}}  {e['description']}{origin}")


@recipes_group.command("show")
@click.argument("name")
@click.option(
    "--json", "as_json", is_flag=True, help="Print {name, description, origin, path, params, text}."
)
@user_errors
def show_command(name: str, as_json: bool) -> None:
    """The recipe NAME: its parameters with their defaults, then the file itself."""
    from synthloom.config.recipe_library import recipe_path, unknown_recipe_message

    path = recipe_path(name)
    if path is None:
        raise ConfigError(unknown_recipe_message(name))
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    params = data.get("params") or {}
    if as_json:
        click.echo(json.dumps({**_entry(name), "params": params, "text": text}, indent=2, default=str))
        return
    entry = _entry(name)
    click.echo(f"{name}: {entry['description']}  ({entry['origin']}, {entry['path']})")
    if params:
        click.echo("params:")
        for key, spec in params.items():
            spec = spec if isinstance(spec, dict) else {"default": spec}
            default = f" = {json.dumps(spec['default'])}" if "default" in spec else " (required)"
            about = f": {spec['description']}" if spec.get("description") else ""
            click.echo(f"  {key}{default}{about}")
    click.echo("")
    click.echo(text, nl=False)
