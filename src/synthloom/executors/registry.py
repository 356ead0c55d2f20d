"""The executors, by name: `local` and `ray` side by side, each with its own options model.

An executor type is a name, a pydantic model of its options (what the user nests under its name in
`run.executor`) and a factory `(options, context) -> Executor`. The config only carries the name and
an options mapping; `check()` validates the mapping against the chosen type's model at validate time,
so a typo is a `ConfigError` naming `run.executor.<name>.<field>`, and `create()` builds the executor.
Heavy implementations import their libraries inside the factory: choosing `local` never imports Ray.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from synthloom.config.base import StrictModel
from synthloom.config.dataset import DatasetConfig
from synthloom.engine.executor import Executor
from synthloom.errors import ConfigError

__all__ = [
    "EXECUTORS",
    "ExecutorContext",
    "ExecutorRegistry",
    "ExecutorType",
    "LocalOptions",
    "RayOptions",
]


@dataclass(frozen=True)
class ExecutorContext:
    """What a factory may need beyond its options: the folders a job package must leave out."""

    exclude: Sequence[str | Path] = field(default_factory=tuple)


@dataclass(frozen=True)
class ExecutorType:
    """One executor: its name, its options model, its factory, and the module it needs installed."""

    name: str
    options: type[BaseModel]
    factory: Callable[[Any, ExecutorContext], Executor]
    requires: str | None = None
    install_hint: str = ""
    #: Whether row groups run where a model's `batch:` can collect requests (one process per run);
    #: a config with `batch:` on a model is refused for an executor that cannot.
    batch_apis: bool = True


class LocalOptions(StrictModel):
    """The local executor has no options: `run.max_row_groups_in_flight` sets its width."""


class RayOptions(StrictModel):
    """Options of the `ray` executor."""

    #: The Ray cluster to join (`auto`, `host:6379`, `ray://host:10001`); None starts one here.
    address: str | None = None
    #: Ray worker processes, each running up to `max_row_groups_in_flight` groups; None: one per CPU.
    workers: Annotated[int, Field(gt=0)] | None = None
    #: The driver runs the first row groups itself while the workers start (under the same budgets).
    start_on_driver: bool = True


def _local(options: LocalOptions, context: ExecutorContext) -> Executor:
    from synthloom.executors.local import LocalExecutor

    return LocalExecutor()


def _ray(options: RayOptions, context: ExecutorContext) -> Executor:
    from synthloom.executors.ray.executor import RayExecutor

    return RayExecutor(
        address=options.address,
        workers=options.workers,
        start_on_driver=options.start_on_driver,
        exclude=list(context.exclude),
    )


class ExecutorRegistry:
    """Executor types by name."""

    def __init__(self, types: Sequence[ExecutorType] = ()) -> None:
        self._types = {t.name: t for t in types}

    def register(self, executor_type: ExecutorType) -> None:
        self._types[executor_type.name] = executor_type

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, name: str, *, source: str | None = None) -> ExecutorType:
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ConfigError(
                f"unknown executor {name!r} (known: {known})", source=source, field="run.executor"
            ) from None

    def check(
        self, config: DatasetConfig, *, name: str | None = None, overrides: dict[str, Any] | None = None
    ) -> tuple[str, BaseModel]:
        """The chosen executor's name and validated options: `name` (default: the config's choice),
        the config's options when they are that executor's, and `overrides` (a CLI flag) over them."""
        choice = config.run.executor
        name = name or choice.name
        executor_type = self.get(name, source=config.source)
        written = choice.options if name == choice.name else {}
        options = {**written, **{k: v for k, v in (overrides or {}).items() if v is not None}}
        try:
            parsed = executor_type.options.model_validate(options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                first["msg"].removeprefix("Value error, "),
                source=config.source,
                field=f"run.executor.{name}" + (f".{where}" if where else ""),
            ) from None
        batched = next((m for m in config.models if m.batch is not None), None)
        if batched is not None and not executor_type.batch_apis:
            raise ConfigError(
                f"batch is not applied under the {name} executor (its workers send requests "
                "directly): remove 'batch' from the model or run with the local executor",
                source=config.source,
                model=batched.alias,
                field="batch",
                line=config.line_of_model(batched.alias, "batch"),
            )
        if executor_type.requires and importlib.util.find_spec(executor_type.requires) is None:
            raise ConfigError(
                f"the {name} executor needs {executor_type.requires}: {executor_type.install_hint}",
                source=config.source,
                field="run.executor",
            )
        return name, parsed

    def create(
        self,
        config: DatasetConfig,
        *,
        name: str | None = None,
        overrides: dict[str, Any] | None = None,
        context: ExecutorContext | None = None,
    ) -> Executor:
        """The executor `config` chooses (or `name`), built from its checked options."""
        name, options = self.check(config, name=name, overrides=overrides)
        return self._types[name].factory(options, context or ExecutorContext())


#: The built-in executors.
EXECUTORS = ExecutorRegistry(
    [
        ExecutorType("local", LocalOptions, _local),
        ExecutorType(
            "ray",
            RayOptions,
            _ray,
            requires="ray",
            install_hint="pip install 'synthloom[ray]'",
            batch_apis=False,
        ),
    ]
)
