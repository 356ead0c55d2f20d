"""Custom columns: a user's Python function by import path.

`mode: cell` calls `function(row)` (or `function(row, **params)`) once per record; an `async def` is
awaited, so it may call services. A function with a `context` parameter also receives the cell's
`CellContext`: `await context.client("writer").generate_text(...)` calls a model of the run through its
limiter, retries and usage accounting (list the aliases in the column's `models`). Returning
`CellFiltered(reason)` removes the row on purpose.

`mode: batch` calls `function(rows)` (or with params) once per row group with a list of row dicts
and must return one value per row.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from synthloom.config.columns import CustomColumn
from synthloom.engine.contexts import CellContext, GeneratorSetup
from synthloom.engine.generators.base import (
    BatchGenerator,
    CellFiltered,
    CellGenerator,
    CellOutput,
    RowGroupSlice,
)
from synthloom.errors import GenerationError
from synthloom.plan.planner import import_object

__all__ = ["BatchFunctionGenerator", "CellFunctionGenerator", "CustomGenerator"]


def _load(config: CustomColumn) -> Callable[..., Any]:
    function = import_object(config.function)
    if not callable(function):
        raise GenerationError(f"column '{config.name}': '{config.function}' is not callable")
    return function


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
        self.function = _load(config)
        self._is_async = inspect.iscoroutinefunction(self.function)
        self._wants_context = _accepts(self.function, "context")

    async def generate(self, row: Mapping[str, Any], ctx: CellContext) -> CellOutput | CellFiltered:
        extra = {"context": ctx} if self._wants_context else {}
        result = self.function(dict(row), **self.config.params, **extra)
        if self._is_async:
            result = await result
        return result if isinstance(result, CellFiltered) else CellOutput(result)


class BatchFunctionGenerator(BatchGenerator[CustomColumn]):
    #: The function sees the whole row group, so it waits until every input of the group is final.
    needs_whole_group: ClassVar[bool] = True

    def __init__(self, config: CustomColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.function = _load(config)
        self._keys = list(config.inputs)

    def generate(
        self, table: Mapping[str, Sequence[Any]], group: RowGroupSlice, active: Sequence[bool] | None
    ) -> list[Any]:
        keys = [k for k in table if k in self._keys] or list(table)
        rows = [{k: table[k][i] for k in keys} for i in range(group.size)]
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
