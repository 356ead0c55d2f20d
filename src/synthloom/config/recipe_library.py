"""The recipe library: sub-pipelines shipped with synthloom, included by name.

    columns:
      - recipe: evol-instruct
        prefix: evo
        params: {instruction: seed_instruction, model: writer}

Each recipe is a YAML file in the package's `recipes/` folder, written like any included file (see
`synthloom.config.includes`): a `description`, its `params` with their defaults, and `columns`.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

__all__ = ["RECIPES_DIR", "recipe_description", "recipe_names", "recipe_path", "unknown_recipe_message"]

#: The folder of the recipe files (package data next to the `synthloom` modules).
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def recipe_names() -> list[str]:
    """The names of every recipe in the library, sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name: str) -> Path | None:
    """The file of recipe `name`, or None when the library has no such recipe."""
    if name not in recipe_names():
        return None
    return RECIPES_DIR / f"{name}.yaml"


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
