"""The one registry of column types. Built-ins and plugins register the same way.

A plugin package exposes, in its `pyproject.toml`:

    [project.entry-points."synthloom.columns"]
    my-type = "my_package.columns:column_type"

where `column_type` is a `ColumnType` naming its config model (a `ColumnConfig` subclass whose `type`
is `Literal["my-type"]`) and its generator (a class or an import path `"module:Class"`).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from synthloom.config.base import ColumnConfig
from synthloom.errors import ConfigError

__all__ = ["ColumnType", "column_types", "get_column_type", "load_plugins", "register_column_type"]

ENTRY_POINT_GROUP = "synthloom.columns"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnType:
    """A column type: its config model and the generator class that fills it."""

    name: str
    config: type[ColumnConfig]
    generator: str | type[Any]

    def generator_class(self) -> type[Any]:
        if isinstance(self.generator, str):
            module, _, attr = self.generator.partition(":")
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return self.generator


_REGISTRY: dict[str, ColumnType] = {}
_listeners: list[Callable[[], None]] = []
_plugins_loaded = False


def register_column_type(column_type: ColumnType, *, replace: bool = False) -> None:
    """Add a column type. Its config's `type` field must be `Literal[column_type.name]`."""
    field = column_type.config.model_fields.get("type")
    if field is None or field.default != column_type.name:
        raise ConfigError(
            f"column type '{column_type.name}': its config model must declare "
            f"`type: Literal['{column_type.name}'] = '{column_type.name}'`"
        )
    if column_type.name in _REGISTRY and not replace:
        if _REGISTRY[column_type.name] == column_type:
            return
        raise ConfigError(f"column type '{column_type.name}' is already registered")
    _REGISTRY[column_type.name] = column_type
    for listener in _listeners:
        listener()


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener` whenever the set of column types changes (the dataset model rebuilds)."""
    _listeners.append(listener)


def load_plugins() -> None:
    """Register every column type published under the `synthloom.columns` entry-point group."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            column_type = ep.load()
        except Exception as exc:  # a broken plugin must not break every other config
            log.warning("could not load column plugin %r: %s", ep.value, exc)
            continue
        if not isinstance(column_type, ColumnType):
            log.warning("column plugin %r is not a synthloom ColumnType; ignored", ep.value)
            continue
        register_column_type(column_type)


def column_types() -> dict[str, ColumnType]:
    return dict(_REGISTRY)


def get_column_type(name: str) -> ColumnType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown column type '{name}'") from None
