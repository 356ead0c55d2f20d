"""Custom columns: a user's Python function by import path.

`mode: cell` calls `function(row)` (or `function(row, **params)`) once per record; an `async def` is
awaited, so it may call services. A function with a `context` parameter also receives the cell's
`CellContext`: `await context.client("writer").generate_text(...)` calls a model of the run through its
limiter, retries and usage accounting (list the aliases in the column's `models`). Returning
`CellFiltered(reason)` removes the row on purpose.

With `outputs: [a, b]` a cell function returns a dict and each named key becomes a column of its own.

`mode: batch` calls `function(rows)` (or with params) once per row group with a list of row dicts
and must return one value per row.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from synthloom.columns.custom.config import CustomColumn
from synthloom.engine.contexts import CellContext, GeneratorSetup
from synthloom.engine.generator import (
    BatchGenerator,
    CellFiltered,
    CellGenerator,
    CellOutput,
    RowGroupSlice,
)
from synthloom.errors import ConfigError, GenerationError
from synthloom.plan.planner import import_object

__all__ = ["BatchFunctionGenerator", "CellFunctionGenerator", "CustomGenerator"]


def _load(config: CustomColumn, base_dir: Path | None) -> Callable[..., Any]:
    function = import_object(config.function, base_dir=base_dir)
    if not callable(function):  # the planner refuses this first; kept for generators built without a plan
        raise ConfigError(f"'{config.function}' is not callable", column=config.name, field="function")
    return function


class MissingInputError(KeyError):
    """A custom function read a column its row does not hold (it is not in the column's `inputs`)."""

    def __str__(self) -> str:
        return str(self.args[0])


class _Row(dict[str, Any]):
    """The row a custom function receives: reading a column that is not in `inputs` says how to fix
    it instead of failing with a bare `KeyError: 'word'`."""

    __slots__ = ("_column",)

    def __init__(self, values: Mapping[str, Any], column: str) -> None:
        super().__init__(values)
        self._column = column

    def __missing__(self, key: str) -> Any:
        held = ", ".join(sorted(self)) or "nothing"
        raise MissingInputError(
            f"the row has no '{key}': list the columns the function reads in the `inputs` of custom "
            f"column '{self._column}' (the row holds: {held})"
        )


def _accepts(function: Callable[..., Any], name: str) -> bool:
    """Whether `function` takes a keyword argument `name` (a cell function that wants the cell context
    declares `context`; through it it reaches the run's models with limiter, retries and accounting)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters


class CellFunctionGenerator(CellGenerator[CustomColumn]):
    def __init__(self, config: CustomColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.function = _load(config, setup.config.source_dir)
        self._is_async = inspect.iscoroutinefunction(self.function)
        self._wants_context = _accepts(self.function, "context")

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        extra = {"context": ctx} if self._wants_context else {}
        result = self.function(_Row(row, self.config.name), **self.config.params, **extra)
        if self._is_async:
            result = await result
        if isinstance(result, CellFiltered):
            return result
        outputs = self.config.outputs
        if outputs is None:
            return CellOutput(result)
        if not isinstance(result, Mapping):
            raise GenerationError(
                f"column '{self.config.name}': with 'outputs' the function returns a dict with keys "
                f"{', '.join(outputs)}, not {type(result).__name__}"
            )
        missing = [name for name in outputs if name not in result]
        if missing:
            raise GenerationError(
                f"column '{self.config.name}': the function's dict has no "
                f"{', '.join(repr(m) for m in missing)} "
                f"(it has: {', '.join(map(str, result)) or 'nothing'})"
            )
        return CellOutput(dict(result), {name: result[name] for name in outputs})


class BatchFunctionGenerator(BatchGenerator[CustomColumn]):
    #: The function sees the whole row group, so it waits until every input of the group is final.
    needs_whole_group: ClassVar[bool] = True

    def __init__(self, config: CustomColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.function = _load(config, setup.config.source_dir)
        self._keys = list(config.inputs)

    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        keys = [k for k in table if k in self._keys] or list(table)
        rows = [_Row({k: table[k][i] for k in keys}, self.config.name) for i in range(group.size)]
        indices = [i for i in range(group.size) if active is None or active[i]]
        out = self.function([rows[i] for i in indices], **self.config.params)
        out = list(out)
        if len(out) != len(indices):
            raise GenerationError(
                f"column '{self.config.name}': {self.config.function} returned {len(out)} values "
                f"for {len(indices)} rows"
            )
        values: list[Any] = [None] * group.size
        for i, value in zip(indices, out, strict=True):
            values[i] = value
        return values


def CustomGenerator(
    config: CustomColumn, setup: GeneratorSetup
) -> CellFunctionGenerator | BatchFunctionGenerator:
    """The registry's generator for `custom`: the cell or the batch shape, by `mode`."""
    if config.mode == "batch":
        return BatchFunctionGenerator(config, setup)
    return CellFunctionGenerator(config, setup)
