"""The registry of column types: one object, built-ins and plugins registered the same way.

A package publishes column types under the `synthloom.columns` entry-point group:

    [project.entry-points."synthloom.columns"]
    my-type = "my_package.columns:column_type"

The entry point may resolve to a `ColumnType`, a list of them, or a callable taking the registry
(`def register(registry): registry.register(...)`). A `ColumnType` names its config model (a
`ColumnConfig` subclass whose `type` is `Literal["my-type"]`) and its generator class. synthloom's own
column types are published the same way, by `synthloom.columns.builtin`.

Nothing is loaded on import. The registry loads its entry points the first time it is asked for its
types: when a config is validated (`load_config`, `DatasetConfig(...)`, the builder, the JSON Schema
export) or when the engine looks up a generator.

Built-ins without metadata: an install whose entry-point metadata predates the `builtin` entry point
(an editable install not reinstalled since, or a source tree on `PYTHONPATH`) would know no column
type at all. So a registry may carry *fallbacks*: a source registered under an entry-point name, used
only when no entry point of that name is installed. The config layer never names the engine: the
package root (`synthloom/__init__.py`, which already joins every layer into the public API) hands the
default registry its built-in fallback.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from synthloom.config.base import ColumnConfig
from synthloom.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ColumnType",
    "ColumnTypeRegistry",
    "column_types",
    "default_registry",
    "get_column_type",
    "load_plugins",
    "register_column_type",
]

ENTRY_POINT_GROUP = "synthloom.columns"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnType:
    """A column type: its config model and the generator that fills it.

    `generator` is the generator class (or a factory `(config, setup) -> generator`). An import path
    `"module:Class"` is still accepted from plugins written against older releases."""

    name: str
    config: type[ColumnConfig]
    generator: type[Any] | Callable[..., Any] | str

    def generator_class(self) -> Any:
        """The generator class (or factory), importing it when it was given by path."""
        if isinstance(self.generator, str):
            module, _, attr = self.generator.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return obj
        return self.generator


#: What an entry point (or a fallback) may resolve to.
ColumnTypeSource = ColumnType | Iterable[ColumnType] | Callable[["ColumnTypeRegistry"], object]


class ColumnTypeRegistry:
    """Column types by name. Entry points load on first need (`types()`, `get()`, `load()`)."""

    def __init__(self, *, group: str | None = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._types: dict[str, ColumnType] = {}
        self._listeners: list[Callable[[], None]] = []
        self._fallbacks: dict[str, ColumnTypeSource] = {}
        self._loaded = False
        self._loading = False
        self._changed_while_loading = False

    # ---- registering ------------------------------------------------------------------------------
    def register(self, column_type: ColumnType, *, replace: bool = False) -> None:
        """Add a column type. Its config's `type` field must be `Literal[column_type.name]`.
        Registering an equal `ColumnType` again is a no-op; another one under a taken name is refused
        unless `replace`."""
        if not isinstance(column_type, ColumnType):
            raise ConfigError(f"not a synthloom ColumnType: {column_type!r}")
        config = column_type.config
        if not (isinstance(config, type) and issubclass(config, ColumnConfig)):
            raise ConfigError(f"column type '{column_type.name}': its config must be a ColumnConfig subclass")
        field = config.model_fields.get("type")
        if field is None or field.default != column_type.name:
            raise ConfigError(
                f"column type '{column_type.name}': its config model must declare "
                f"`type: Literal['{column_type.name}'] = '{column_type.name}'`"
            )
        existing = self._types.get(column_type.name)
        if existing is not None and not replace:
            if existing == column_type:
                return
            raise ConfigError(f"column type '{column_type.name}' is already registered")
        self._types[column_type.name] = column_type
        self._changed()

    def unregister(self, name: str) -> ColumnType | None:
        """Remove a column type (tests, interactive sessions); returns what was registered."""
        removed = self._types.pop(name, None)
        if removed is not None:
            self._changed()
        return removed

    def add_fallback(self, entry_point_name: str, source: ColumnTypeSource) -> None:
        """Use `source` when loading finds no entry point named `entry_point_name` in the group."""
        self._fallbacks[entry_point_name] = source
        if self._loaded and entry_point_name not in self._entry_point_names():
            self._publish(source, origin=f"fallback {entry_point_name!r}", strict=True)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever the set of column types changes (the dataset model rebuilds)."""
        self._listeners.append(listener)

    # ---- loading ----------------------------------------------------------------------------------
    def load(self) -> None:
        """Register everything published under the entry-point group, once. A plugin that fails to
        load is logged and skipped: it must not break every other config."""
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            points = list(entry_points(group=self.group)) if self.group else []
            found = {ep.name for ep in points}
            # Built-ins first, so they lead the column-type union (and its error messages).
            for name, source in self._fallbacks.items():
                if name in found:
                    for ep in [p for p in points if p.name == name]:
                        self._load_entry_point(ep, strict=True)
                else:
                    self._publish(source, origin=f"fallback {name!r}", strict=True)
            for ep in points:
                if ep.name not in self._fallbacks:
                    self._load_entry_point(ep, strict=False)
            self._loaded = True
        finally:
            self._loading = False
            if self._changed_while_loading:
                self._changed_while_loading = False
                self._notify()

    def _entry_point_names(self) -> set[str]:
        return {ep.name for ep in entry_points(group=self.group)} if self.group else set()

    def _load_entry_point(self, ep: Any, *, strict: bool) -> None:
        try:
            source = ep.load()
        except Exception as exc:
            if strict:
                raise
            log.warning("could not load column plugin %r: %s", ep.value, exc)
            return
        self._publish(source, origin=ep.value, strict=strict)

    def _publish(self, source: object, *, origin: str, strict: bool) -> None:
        try:
            if isinstance(source, ColumnType):
                self.register(source)
            elif isinstance(source, list | tuple):
                for item in source:
                    self.register(item)
            elif callable(source) and not isinstance(source, type):
                source(self)
            else:
                raise ConfigError(
                    "expected a ColumnType, a list of them, or a callable taking the registry, "
                    f"not {type(source).__name__}"
                )
        except Exception as exc:
            if strict:
                raise
            log.warning("column plugin %r is not usable; ignored: %s", origin, exc)

    # ---- reading ----------------------------------------------------------------------------------
    def types(self) -> dict[str, ColumnType]:
        """Every registered column type by name (loading the entry points first)."""
        self.load()
        return dict(self._types)

    def get(self, name: str) -> ColumnType:
        """The column type called `name`; a `ConfigError` when there is none."""
        self.load()
        try:
            return self._types[name]
        except KeyError:
            raise ConfigError(f"unknown column type '{name}'") from None

    def __contains__(self, name: object) -> bool:
        return name in self.types()

    # ---- change notification ----------------------------------------------------------------------
    def _changed(self) -> None:
        if self._loading:
            self._changed_while_loading = True  # one notification when loading ends
        else:
            self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()


#: The registry configs are validated against.
default_registry = ColumnTypeRegistry()


def register_column_type(column_type: ColumnType, *, replace: bool = False) -> None:
    """Add a column type to the default registry (see `ColumnTypeRegistry.register`)."""
    default_registry.register(column_type, replace=replace)


def column_types() -> dict[str, ColumnType]:
    """Every column type of the default registry, plugins included."""
    return default_registry.types()


def get_column_type(name: str) -> ColumnType:
    """A column type of the default registry by name."""
    return default_registry.get(name)


def load_plugins() -> None:
    """Load the default registry's entry points now (normally done on first need)."""
    default_registry.load()


def on_change(listener: Callable[[], None]) -> None:
    """Compatibility alias of `default_registry.on_change`."""
    default_registry.on_change(listener)
