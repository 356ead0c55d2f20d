"""The recipe library: sub-pipelines shipped with synthloom, included by name.

    columns:
      - recipe: evol-instruct
        prefix: evo
        params: {instruction: seed_instruction, model: writer}

Each recipe is a YAML file in the package's `recipes/` folder, written like any included file (see
`synthloom.config.includes`): a `description`, its `params` with their defaults, and `columns`.

Other packages add recipes through the `synthloom.recipes` entry-point group; the entry point's name is
the recipe's name and it resolves to the recipe file (a path, or a callable returning one):

    [project.entry-points."synthloom.recipes"]
    product-qa = "my_package.recipes:PRODUCT_QA"     # PRODUCT_QA = Path(__file__).parent / "product-qa.yaml"

Entry points are read when a recipe is looked up, never on import. A built-in name cannot be taken by
a plugin; a plugin recipe that does not resolve to an existing file is logged and left out.
"""

from __future__ import annotations

import difflib
import logging
from importlib.metadata import entry_points
from pathlib import Path

import yaml

__all__ = [
    "ENTRY_POINT_GROUP",
    "RECIPES_DIR",
    "recipe_description",
    "recipe_names",
    "recipe_origin",
    "recipe_path",
    "unknown_recipe_message",
]

#: The folder of the recipe files (package data next to the `synthloom` modules).
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


ENTRY_POINT_GROUP = "synthloom.recipes"
log = logging.getLogger(__name__)


def _builtin_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(RECIPES_DIR.glob("*.yaml"))}


def _plugin_recipes() -> dict[str, tuple[Path, str]]:
    """Recipe name -> (file, the distribution that publishes it), from the entry-point group."""
    out: dict[str, tuple[Path, str]] = {}
    builtin = _builtin_recipes()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = ep.dist.name if ep.dist is not None else ep.value
        if ep.name in builtin:
            log.warning("recipe plugin %r ignored: '%s' is a built-in recipe", ep.value, ep.name)
            continue
        try:
            target = ep.load()
            path = Path(str(target() if callable(target) else target))
        except Exception as exc:
            log.warning("recipe plugin %r could not be loaded: %s", ep.value, exc)
            continue
        if not path.is_file():
            log.warning("recipe plugin %r: %s is not a file", ep.value, path)
            continue
        out[ep.name] = (path, origin)
    return out


def recipe_names() -> list[str]:
    """The names of every recipe: the library's and the installed packages', sorted."""
    return sorted({*_builtin_recipes(), *_plugin_recipes()})


def recipe_path(name: str) -> Path | None:
    """The file of recipe `name`, or None when there is no such recipe."""
    builtin = _builtin_recipes().get(name)
    if builtin is not None:
        return builtin
    plugin = _plugin_recipes().get(name)
    return plugin[0] if plugin is not None else None


def recipe_origin(name: str) -> str:
    """`builtin`, or the distribution that publishes recipe `name`."""
    if name in _builtin_recipes():
        return "builtin"
    plugin = _plugin_recipes().get(name)
    if plugin is None:
        raise KeyError(name)
    return plugin[1]


def recipe_description(name: str) -> str:
    """The first line of a recipe's `description`."""
    path = recipe_path(name)
    if path is None:
        raise KeyError(name)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    description = str(data.get("description") or "").strip()
    return description.splitlines()[0] if description else ""


def unknown_recipe_message(name: str) -> str:
    """Why `name` is not a recipe, with the closest name and the known ones."""
    known = recipe_names()
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown recipe '{name}'{hint}; the library has: {', '.join(known) or 'no recipes'}"
